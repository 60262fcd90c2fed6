using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Neuro.Silo;

using Neuro.Testing;

namespace Neuro.Cluster.Tests.Infrastructure;

/// <summary>The real silo host (the same <see cref="NeuroHost.Build"/> the executable runs) on loopback ports:
/// a single-node dev cluster with the front door on HTTP.</summary>
public sealed class NeuroHostFixture : IAsyncLifetime
{
    public WebApplication App { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    public int GatewayPort { get; private set; }

    public string ClusterId { get; } = $"neuro-test-{Guid.NewGuid():N}";

    public HttpClient Http { get; private set; } = null!;

    public Uri GrpcAddress { get; private set; } = null!;

    /// <summary>Builds a host with REST and gRPC on fresh loopback ports (read them back with <see cref="RestAddress"/>/<see cref="GrpcAddressOf"/>).</summary>
    public static WebApplication Build(IDictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null) => NeuroHost.Build([], builder =>
    {
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Rest:Url"] = $"http://127.0.0.1:{FreePort.Next()}",
            ["Kestrel:Endpoints:Grpc:Url"] = $"http://127.0.0.1:{FreePort.Next()}",
            ["Neuro:Auth:Mode"] = "off", // explicit, as ./run.sh does; AuthTests turn it on
            ["Logging:LogLevel:Default"] = "Warning",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        configure?.Invoke(builder);
    });

    /// <summary>A host with its own cluster: fresh silo and gateway ports and cluster id, plus <paramref name="settings"/>.</summary>
    public static WebApplication BuildCluster(IDictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null) =>
        Build(new Dictionary<string, string?>(settings)
        {
            ["Neuro:SiloPort"] = FreePort.Next().ToString(),
            ["Neuro:GatewayPort"] = FreePort.Next().ToString(),
            ["Neuro:ClusterId"] = $"neuro-test-{Guid.NewGuid():N}",
        }, configure);

    public static Uri RestAddress(WebApplication app) => new(app.Configuration["Kestrel:Endpoints:Rest:Url"]!);

    public static Uri GrpcAddressOf(WebApplication app) => new(app.Configuration["Kestrel:Endpoints:Grpc:Url"]!);

    public async Task InitializeAsync()
    {
        GatewayPort = FreePort.Next();
        App = Build(new Dictionary<string, string?>
        {
            ["Neuro:SiloPort"] = FreePort.Next().ToString(),
            ["Neuro:GatewayPort"] = GatewayPort.ToString(),
            ["Neuro:ClusterId"] = ClusterId,
        });
        await App.StartAsync();
        BaseAddress = RestAddress(App);
        GrpcAddress = GrpcAddressOf(App);
        Http = new HttpClient { BaseAddress = BaseAddress };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
