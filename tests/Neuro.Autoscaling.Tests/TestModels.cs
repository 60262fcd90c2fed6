using Neuro.Autoscaling.Simulation;

namespace Neuro.Autoscaling.Tests;

/// <summary>Service models the simulator and oracle tests share.</summary>
internal static class TestModels
{
    /// <summary>Prefill = 0.1 s + 1 ms/token; decode 10 ms/token; 1 GPU per replica; SLO max(1 s, 1 × prefill).</summary>
    public static readonly ServiceModel Small = new()
    {
        GpusPerReplica = 1, PrefillFixedSeconds = 0.1, PrefillSecondsPerToken = 0.001, DecodeSecondsPerToken = 0.01,
        MaxSequences = 8, KvCacheTokens = 100_000, ColdStartSeconds = 30, WarmStartSeconds = 5, GpuHourPrice = 2,
        WarmReplicaHourPrice = 0, TtftSloSeconds = 1, TtftSloScale = 1,
    };
}
