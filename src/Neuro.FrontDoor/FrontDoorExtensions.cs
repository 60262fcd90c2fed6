using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;

namespace Neuro.FrontDoor;

public static class FrontDoorExtensions
{
    /// <summary>The gRPC front door with REST through JSON transcoding. Needs an <see cref="IGrainFactory"/>:
    /// a silo's own, or an Orleans client's when the front door runs alone.</summary>
    public static IServiceCollection AddNeuroFrontDoor(this IServiceCollection services)
    {
        // prometheus-net's bridge from System.Diagnostics.Metrics starts lazily on the first scrape and misses what was
        // recorded before it; start it now so Orleans' meters and ours count from process start.
        MeterAdapter.StartListening();
        services.AddGrpc(o =>
        {
            o.Interceptors.Add<NeuroErrorInterceptor>();
            o.MaxReceiveMessageSize = 1024 * 1024;
        }).AddJsonTranscoding();
        return services;
    }

    public static IEndpointRouteBuilder MapNeuroFrontDoor(this WebApplication app)
    {
        app.UseMiddleware<ProblemDetailsMiddleware>();
        app.MapGrpcService<SessionsService>();
        app.MapGrpcService<HealthService>();
        // Every System.Diagnostics.Metrics meter is published: Orleans' ("microsoft_orleans_*") and ours ("neuro_*").
        app.MapMetrics("/api/v1/metrics");
        return app;
    }
}
