using System.Diagnostics.Metrics;

namespace Neuro.Core.Telemetry;

/// <summary>The "Neuro" meter: every metric of ours, exported to Prometheus by the front door
/// as <c>neuro_{instrument}</c>, e.g. instrument <c>session.turns</c> is the metric <c>neuro_session_turns</c>.</summary>
public static class NeuroMeters
{
    public const string MeterName = "Neuro";

    private static readonly Meter Meter = new(MeterName, "1.0");

    public static readonly Counter<long> SessionsOpened = Meter.CreateCounter<long>("session.opened", description: "Sessions opened.");
    public static readonly Counter<long> SessionsExpired = Meter.CreateCounter<long>("session.expired", description: "Sessions cleared after their idle TTL.");
    public static readonly Counter<long> SessionTurns = Meter.CreateCounter<long>("session.turns", description: "Turns appended and acknowledged.");
    public static readonly Counter<long> SessionTokens = Meter.CreateCounter<long>("session.tokens", description: "Tokens recorded on acknowledged turns, by kind (prompt|completion).");
    public static readonly Counter<long> SessionActivations = Meter.CreateCounter<long>("session.activations", description: "Session grain activations (a handoff shows up as a reactivation).");
    public static readonly Counter<long> PoolEnqueued = Meter.CreateCounter<long>("pool.enqueued", description: "Work items queued on agent pools.");
    public static readonly Counter<long> RequestsRefused = Meter.CreateCounter<long>("requests.refused", description: "Requests refused with a 4xx, by kind.");
}
