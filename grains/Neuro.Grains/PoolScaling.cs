using Neuro.Abstractions;
using Neuro.Autoscaling;
using Neuro.Autoscaling.Scalers;

namespace Neuro.Grains;

/// <summary>Bound from <c>Neuro:Autoscaling</c>: how pools with a scaler run it.</summary>
public sealed class AutoscalingSettings
{
    public const string Section = "Neuro:Autoscaling";

    /// <summary>Control interval of a pool's scaler timer.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Trailing window the live signals (arrival rate, waits, work) are averaged over.</summary>
    public double WindowSeconds { get; set; } = 60;

    /// <summary>Wait from arrival to start the pool should keep within (the TTFT budget of the guard).</summary>
    public double QueueDelayBudgetSeconds { get; set; } = 5;

    /// <summary>Time a new agent replica needs before it serves (a browser start), and from the warm pool.</summary>
    public double ColdStartSeconds { get; set; } = 3;

    public double WarmStartSeconds { get; set; } = 1;

    public double ScaleDownWindowSeconds { get; set; } = 120;
}

/// <summary>Which library scaler a pool runs, built from its spec. Agent tasks carry no tokens: a task's work is
/// counted as one output token per second it ran, so one "output token" per second is a replica's decode rate.</summary>
public static class PoolScaling
{
    public static IScaler? Create(AgentPoolSpec spec, AutoscalingSettings settings)
    {
        var bounds = new ReplicaBounds(spec.MinReplicas, spec.MaxReplicas);
        return spec.Scaler switch
        {
            "ours" => new TokenAwareScaler(new TokenAwareOptions
            {
                Capacity = new ReplicaCapacity(
                    PrefillTokensPerSecond: spec.TokensPerSecondBudget > 0 ? spec.TokensPerSecondBudget : 1e12,
                    MaxSequences: spec.MaxConcurrencyPerReplica,
                    KvCacheTokens: long.MaxValue / 4,
                    SecondsPerOutputToken: 1.0),
                Bounds = bounds,
                QueueDelayBudgetSeconds = settings.QueueDelayBudgetSeconds,
                ColdStartSeconds = settings.ColdStartSeconds,
                WarmStartSeconds = settings.WarmStartSeconds,
                DemandWindowSeconds = settings.WindowSeconds,
                ScaleDownWindowSeconds = settings.ScaleDownWindowSeconds,
                PrewarmPercent = spec.PrewarmPercent,
                // Agent tasks have no prefill phase (capacity above is effectively unbounded) and the pool's busy share
                // counts occupied agent slots, not prefill compute: size on the decode/agent-time side and the guard,
                // as before the queueing view of prefill was added.
                SloMissTarget = 0,
                UseMeasuredPrefillLoad = false,
                TargetPrefillUtilization = 0.65,
                ScaleDownHeadroomSigma = 0,
            }),
            "seed-queue" => new QueueBasedScaler(bounds),
            _ => null,
        };
    }
}
