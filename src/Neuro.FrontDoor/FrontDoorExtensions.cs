using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;

namespace Neuro.FrontDoor;

public static class FrontDoorExtensions
{
    /// <summary>The gRPC front door with REST through JSON transcoding. Needs an <see cref="IGrainFactory"/>:
    /// a silo's own, or an Orleans client's when the front door runs alone.</summary>
    public static IServiceCollection AddNeuroFrontDoor(this IServiceCollection services, IConfiguration configuration, bool exportOrleansMeters = true)
    {
        services.AddNeuroSecurity(configuration);
        // prometheus-net's own bridge from System.Diagnostics.Metrics starts lazily on the first scrape and misses what was
        // recorded before it; replace it with one started now, so Orleans' meters and ours count from process start.
        Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions { SuppressMeters = true });
        MeterAdapter.StartListening(new MeterAdapterOptions
        {
            InstrumentFilterPredicate = i => exportOrleansMeters || !i.Meter.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal),
        });
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
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.MapGrpcService<SessionsService>().RequireAuthorization(NeuroRoles.CanView).RequireRateLimiting(SecurityExtensions.RateLimitPolicy);
        app.MapGrpcService<HealthService>();
        app.MapGrpcService<TasksService>().RequireAuthorization(NeuroRoles.CanView).RequireRateLimiting(SecurityExtensions.RateLimitPolicy);
        app.MapGrpcService<ModelPoolsService>().RequireAuthorization(NeuroRoles.CanView).RequireRateLimiting(SecurityExtensions.RateLimitPolicy);
        app.MapTurnStreaming();
        var openApi = OpenApiDocument.Build(
            [V1.Sessions.Descriptor, V1.Health.Descriptor, V1.Tasks.Descriptor, V1.ModelPools.Descriptor],
            typeof(FrontDoorExtensions).Assembly.GetName().Version?.ToString() ?? "1.0").ToJsonString();
        app.MapGet("/api/v1/openapi.json", () => Microsoft.AspNetCore.Http.Results.Text(openApi, "application/json"));
        // Every System.Diagnostics.Metrics meter is published: Orleans' ("microsoft_orleans_*") and ours ("neuro_*").
        app.MapMetrics("/api/v1/metrics");
        return app;
    }
}
