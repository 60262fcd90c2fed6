using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Neuro.Client;

public static class NeuroClientExtensions
{
    /// <summary>Adds an Orleans client connected to a Neuro cluster and the typed <see cref="INeuroClient"/> façade.
    /// The client connects when the host starts.</summary>
    public static IServiceCollection AddNeuroClient(this IServiceCollection services, Action<NeuroClientOptions>? configure = null)
    {
        var options = new NeuroClientOptions();
        configure?.Invoke(options);
        services.AddSingleton(options);
        services.AddOrleansClient(client => client.UseNeuroCluster(options));
        services.AddSingleton<INeuroClient, NeuroClient>();
        return services;
    }

    /// <summary>Points an Orleans client at a Neuro cluster. Shared by the SDK and by a front door that runs without a silo.</summary>
    public static IClientBuilder UseNeuroCluster(this IClientBuilder client, NeuroClientOptions options)
    {
        var (clusterId, serviceId) = options.Cluster == NeuroClusterKind.Kubernetes
            ? (Environment.GetEnvironmentVariable("ORLEANS_CLUSTER_ID") ?? options.ClusterId, Environment.GetEnvironmentVariable("ORLEANS_SERVICE_ID") ?? options.ServiceId)
            : (options.ClusterId, options.ServiceId);
        client.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = clusterId;
            o.ServiceId = serviceId;
        });
        client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = options.CallTimeout);
        switch (options.Cluster)
        {
            case NeuroClusterKind.Localhost:
                client.UseLocalhostClustering(options.GatewayPort, serviceId, clusterId);
                break;
            case NeuroClusterKind.Redis or NeuroClusterKind.Kubernetes:
                var redis = options.Redis ?? throw new InvalidOperationException($"{NeuroClientOptions.Section}:Redis must be set for the {options.Cluster} cluster kind");
                client.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
                break;
            case NeuroClusterKind.StaticGateways:
                if (options.Gateways.Count == 0)
                {
                    throw new InvalidOperationException($"{NeuroClientOptions.Section}:Gateways must list at least one host:port");
                }
                client.UseStaticClustering(options.Gateways.Select(NeuroClientOptions.ParseGateway).ToArray());
                break;
        }
        return client;
    }
}
