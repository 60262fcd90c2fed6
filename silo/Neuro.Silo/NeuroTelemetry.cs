using Microsoft.Extensions.Logging.Console;
using Neuro.Agents;
using OpenTelemetry.Trace;

namespace Neuro.Silo;

/// <summary>Bound from <c>Neuro:Telemetry</c>.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Neuro:Telemetry";

    /// <summary><c>json</c> (one JSON object per line, what log shippers parse; the default) or <c>text</c>.</summary>
    public string LogFormat { get; set; } = "json";

    /// <summary>OTLP endpoint (e.g. http://otel-collector:4317) traces are exported to. Setting it turns tracing on.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Trace without exporting (a host that adds its own exporter, e.g. tests). Off by default: with no
    /// exporter, spans would cost time on every request and go nowhere.</summary>
    public bool Tracing { get; set; }

    /// <summary>Share of new traces kept; a span whose parent was sampled is always kept.</summary>
    public double SampleRatio { get; set; } = 1.0;

    public bool TracingOn => Tracing || OtlpEndpoint is { Length: > 0 };

    /// <summary>Activity sources of one request's path: the front door (ASP.NET Core, by its instrumentation), Orleans grain
    /// calls, and the agent runtime's task and step spans.</summary>
    public static readonly string[] Sources = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", AgentTracing.SourceName];
}

public static class NeuroTelemetry
{
    /// <summary>Structured JSON logs and OpenTelemetry traces spanning REST/gRPC → grain calls → agent steps.</summary>
    public static TelemetryOptions AddNeuroTelemetry(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        if (string.Equals(options.LogFormat, "json", StringComparison.OrdinalIgnoreCase))
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddJsonConsole(json =>
            {
                json.IncludeScopes = true;
                json.UseUtcTimestamp = true;
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }
        else if (!string.Equals(options.LogFormat, "text", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"Neuro:Telemetry:LogFormat must be json or text, not '{options.LogFormat}'");
        }
        if (options.TracingOn)
        {
            builder.Services.AddOpenTelemetry().WithTracing(tracing =>
            {
                tracing.AddSource(TelemetryOptions.Sources).AddAspNetCoreInstrumentation()
                    .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(Math.Clamp(options.SampleRatio, 0, 1))));
                if (options.OtlpEndpoint is { Length: > 0 } endpoint)
                {
                    tracing.AddOtlpExporter(o => o.Endpoint = new Uri(endpoint));
                }
            });
        }
        return options;
    }
}
