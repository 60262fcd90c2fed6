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
        // prometheus-net also publishes every System.Diagnostics.Metrics meter (Orleans' "Microsoft.Orleans" and our "Neuro").
        app.MapMetrics("/api/v1/metrics");
        return app;
    }
}
