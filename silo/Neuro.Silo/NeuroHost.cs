using System.Net;
using Neuro.Client;
using Neuro.FrontDoor;
using Microsoft.Extensions.Options;
using Neuro.Core.Pools;
using Neuro.Core.Sessions;
using Neuro.Core.Tasks;
using Neuro.Grains;
using Neuro.Silo.Gpu;
using Neuro.Storage;
using Orleans.Configuration;
using Orleans.Dashboard;
using Orleans.Storage;
using StackExchange.Redis;

namespace Neuro.Silo;

/// <summary>Builds the silo host: Orleans silo (or client, for a front-door-only node) plus the front door,
/// from configuration alone. Tests and benchmarks build it the same way the executable does.</summary>
public static class NeuroHost
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // appsettings.json sits beside the binary, so the host reads it whatever directory it is started from.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        var options = builder.Configuration.GetSection(NeuroSiloOptions.Section).Get<NeuroSiloOptions>() ?? new NeuroSiloOptions();
        options.Validate();
        var telemetry = builder.AddNeuroTelemetry();

        // Endpoints come from Kestrel:Endpoints (appsettings.json): REST on an HTTP/1.1 port and gRPC on an HTTP/2 port,
        // because cleartext HTTP/2 needs prior knowledge, which Kestrel only accepts on an HTTP/2-only endpoint.
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 1024 * 1024);
        builder.Services.AddNeuroFrontDoor(builder.Configuration, options.ExportOrleansMeters);

        if (options.IsFrontDoorOnly)
        {
            builder.UseOrleansClient(client =>
            {
                client.UseNeuroCluster(ClientOptionsFor(options));
                if (telemetry.TracingOn)
                {
                    client.AddActivityPropagation();
                }
            });
        }
        else
        {
            builder.UseOrleans(silo =>
            {
                ConfigureSilo(silo, options, builder.Configuration);
                if (telemetry.TracingOn)
                {
                    silo.AddActivityPropagation(); // grain calls carry the caller's trace context
                }
            });
            // Registered after the silo, so it starts once the silo is up.
            builder.Services.Configure<GpuInventoryOptions>(builder.Configuration.GetSection(GpuInventoryOptions.Section));
            builder.Services.AddHostedService<GpuInventoryService>();
            builder.Services.Configure<AgentOptions>(builder.Configuration.GetSection(AgentOptions.Section));
            builder.Services.AddHostedService<AgentPoolsBootstrap>();
        }

        var app = builder.Build();
        app.MapNeuroFrontDoor();
        if (!options.IsFrontDoorOnly && (options.Dashboard ?? !options.IsRedis))
        {
            app.MapOrleansDashboard("/dashboard");
        }
        app.MapGet("/", () => Results.Redirect("/api/v1/health"));
        return app;
    }

    private static void ConfigureSilo(ISiloBuilder silo, NeuroSiloOptions options, IConfiguration configuration)
    {
        var podName = Environment.GetEnvironmentVariable("POD_NAME");
        var siloName = options.SiloName ?? podName;
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        if (siloName is not null)
        {
            silo.Configure<SiloOptions>(o => o.SiloName = siloName);
        }

        if (options.IsRedis)
        {
            var advertised = options.AdvertisedAddress ?? Environment.GetEnvironmentVariable("POD_IP");
            silo.ConfigureEndpoints(
                advertised is null ? IPAddress.Loopback : IPAddress.Parse(advertised), options.SiloPort, options.GatewayPort,
                listenOnAnyHostAddress: advertised is not null);
        }
        else
        {
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, null, options.ServiceId, options.ClusterId);
        }
        silo.AddNeuroStorage(options);

        if (options.FastFailover)
        {
            silo.UseFastFailover();
        }

        if (options.Kubernetes ?? podName is not null)
        {
            silo.UseKubernetesHosting();
        }

        // Pools mapped to a workload scale it too (Neuro:Autoscaling:Targets:<pool>:Kind|Name|Namespace).
        var targets = configuration.GetSection("Neuro:Autoscaling:Targets").Get<Dictionary<string, Neuro.Kubernetes.ScaleTarget>>() ?? [];
        // Model pools scale the GPU silos serving a model (Neuro:Autoscaling:Models:Targets:<model>:Kind|Name|Namespace).
        foreach (var (model, target) in configuration.GetSection($"{Neuro.Autoscaling.Live.ModelPoolOptions.Section}:Targets")
                     .Get<Dictionary<string, Neuro.Kubernetes.ScaleTarget>>() ?? [])
        {
            targets[Neuro.Grains.ModelPoolGrain.ActuatorPool(model)] = target;
        }
        if (targets is { Count: > 0 })
        {
            silo.Services.AddSingleton<Neuro.Autoscaling.Live.IReplicaActuator>(_ => new Neuro.Kubernetes.KubernetesReplicaActuator(
                new k8s.Kubernetes(k8s.KubernetesClientConfiguration.IsInCluster()
                    ? k8s.KubernetesClientConfiguration.InClusterConfig()
                    : k8s.KubernetesClientConfiguration.BuildConfigFromConfigFile()),
                targets));
        }
        silo.AddNeuroGrains(configuration);
        if (options.Dashboard ?? !options.IsRedis)
        {
            silo.AddDashboard();
        }
    }

    /// <summary>Membership (Redis only; the dev cluster's comes with its endpoints), grain storage and reminders for the
    /// chosen cluster kind. Public so test clusters, which set their own endpoints, get exactly what the host gets.</summary>
    public static ISiloBuilder AddNeuroStorage(this ISiloBuilder silo, NeuroSiloOptions options)
    {
        if (options.IsRedis)
        {
            var redis = ConfigurationOptions.Parse(options.Redis!);
            silo.UseRedisClustering(o => o.ConfigurationOptions = redis.Clone());
            silo.AddRedisGrainStorage(NeuroStorage.Name, o =>
            {
                o.ConfigurationOptions = redis.Clone();
                // A cleared session (closed or idled out) must leave nothing behind, not an empty record.
                o.DeleteStateOnClear = true;
            });
            silo.UseRedisReminderService(o => o.ConfigurationOptions = redis.Clone());
            var connecting = new Lazy<Task<IConnectionMultiplexer>>(() => ConnectAsync(redis.Clone()));
            silo.Services.AddSingleton<ISessionStore>(sp => new RedisSessionStore(connecting.Value, sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId));
            silo.Services.AddSingleton<IArtifactStore>(sp => new RedisArtifactStore(connecting.Value, sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId));
            silo.Services.AddSingleton<ITaskIndexStore>(sp => new RedisTaskIndexStore(connecting.Value, sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId));
            silo.Services.AddSingleton<IWorkQueueStore>(sp => new RedisWorkQueueStore(connecting.Value, sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId));
        }
        else
        {
            silo.AddMemoryGrainStorage(NeuroStorage.Name);
            silo.UseInMemoryReminderService();
            silo.Services.AddSingleton<ISessionStore, InMemorySessionStore>();
            silo.Services.AddSingleton<IArtifactStore, InMemoryArtifactStore>();
            silo.Services.AddSingleton<ITaskIndexStore, InMemoryTaskIndexStore>();
            silo.Services.AddSingleton<IWorkQueueStore, InMemoryWorkQueueStore>();
        }
        // Readable JSON in storage, with no CLR type names: moving or renaming a state class does not orphan data.
        silo.Services.AddSingleton<IGrainStorageSerializer, SystemTextJsonGrainStorageSerializer>();
        return silo;
    }

    private static async Task<IConnectionMultiplexer> ConnectAsync(ConfigurationOptions options) => await ConnectionMultiplexer.ConnectAsync(options);

    /// <summary>Declares a silo dead after ~2 s of missed probes instead of Orleans' default ~15 s, so its sessions hand
    /// off quickly. One vote suffices, which suits small clusters and tests; large clusters should keep the defaults.</summary>
    public static ISiloBuilder UseFastFailover(this ISiloBuilder silo) => silo.Configure<ClusterMembershipOptions>(o =>
    {
        o.ProbeTimeout = TimeSpan.FromSeconds(1);
        o.NumMissedProbesLimit = 2;
        o.NumVotesForDeathDeclaration = 1;
        o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
        o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
    });

    private static NeuroClientOptions ClientOptionsFor(NeuroSiloOptions options) => new()
    {
        Cluster = options.IsRedis ? NeuroClusterKind.Redis : NeuroClusterKind.Localhost,
        Redis = options.Redis,
        ClusterId = options.ClusterId,
        ServiceId = options.ServiceId,
        GatewayPort = options.GatewayPort,
    };
}
