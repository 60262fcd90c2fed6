using System.Text.Json;
using System.Text.Json.Serialization;

namespace Neuro.Autoscaling.Simulation;

/// <summary>
/// Per-replica service model of the simulator. A replica is one model server (vLLM-like continuous batching) on
/// <see cref="GpusPerReplica"/> GPUs. Prefill is compute-bound and serialised per replica:
/// time = PrefillFixed + PrefillPerToken·n + PrefillPerTokenSquared·n² (n = prompt tokens; the n² term is causal
/// attention). Decode is memory-bandwidth-bound: each output token after the first takes DecodeSecondsPerToken,
/// independent of batch size up to MaxSequences resident sequences and KvCacheTokens of KV memory (prompt + output
/// tokens are reserved at admission). Values and sources are in the JSON file (docs/autoscaling.md).
/// </summary>
public sealed record ServiceModel
{
    public string Name { get; init; } = "";
    public int GpusPerReplica { get; init; } = 1;
    public double PrefillFixedSeconds { get; init; }
    public double PrefillSecondsPerToken { get; init; }
    public double PrefillSecondsPerTokenSquared { get; init; }
    public double DecodeSecondsPerToken { get; init; }
    public int MaxSequences { get; init; } = 256;
    public long KvCacheTokens { get; init; }
    public double ColdStartSeconds { get; init; }
    public double WarmStartSeconds { get; init; }
    /// <summary>Relative uniform jitter applied to start times (seeded), e.g. 0.1 = ±10%.</summary>
    public double StartJitter { get; init; }
    public double GpuHourPrice { get; init; }
    /// <summary>Price per hour of one warm stand-by replica (weights staged in host memory, no GPU held).</summary>
    public double WarmReplicaHourPrice { get; init; }
    /// <summary>TTFT SLO: a request meets it when TTFT ≤ max(TtftSloSeconds, TtftSloScale × its unloaded prefill time).</summary>
    public double TtftSloSeconds { get; init; } = 2;
    public double TtftSloScale { get; init; } = 2;
    public Dictionary<string, string> Sources { get; init; } = new();

    public double PrefillSeconds(int n) => PrefillFixedSeconds + PrefillSecondsPerToken * n + PrefillSecondsPerTokenSquared * (double)n * n;
    public double SloFor(int contextTokens) => Math.Max(TtftSloSeconds, TtftSloScale * PrefillSeconds(contextTokens));
    /// <summary>Sustained prefill throughput (tokens/s) at a typical prompt length.</summary>
    public double PrefillTokensPerSecond(double typicalContext) =>
        typicalContext / PrefillSeconds((int)Math.Max(1, typicalContext));

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase, ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true, NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    public static ServiceModel Load(string path) =>
        JsonSerializer.Deserialize<ServiceModel>(File.ReadAllText(path), Json) ?? throw new InvalidDataException(path);
}
