namespace Neuro.Autoscaling;

/// <summary>
/// What a scaler sees at one control tick. Plain values only (no Orleans types), so an agent-pool grain can fill it
/// from live metrics on a timer and the simulator can fill it from its state. Rates are over the last control interval.
/// Unknown values are 0 (or null where "no data" must be distinguishable from zero).
/// </summary>
public sealed record ScalingSnapshot
{
    /// <summary>Seconds since an arbitrary epoch (monotonic); used for stabilisation windows.</summary>
    public double NowSeconds { get; init; }
    /// <summary>Replicas serving traffic.</summary>
    public int ReadyReplicas { get; init; }
    /// <summary>Replicas starting (cold or warm start in progress) — will become ready.</summary>
    public int StartingReplicas { get; init; }
    /// <summary>Warm stand-by replicas (weights staged, no GPU held) that can become ready after a warm start.</summary>
    public int WarmReplicas { get; init; }
    /// <summary>Requests waiting for admission (not yet prefilling).</summary>
    public int QueueDepth { get; init; }
    /// <summary>Age of the oldest waiting request, seconds.</summary>
    public double OldestQueuedAgeSeconds { get; init; }
    /// <summary>Prompt (prefill) tokens of the waiting requests.</summary>
    public long TokensInQueue { get; init; }
    /// <summary>Requests admitted and not finished (prefilling or decoding).</summary>
    public int InFlightRequests { get; init; }
    /// <summary>TTFT p95 of the requests whose first token came in the last interval; null when none did.</summary>
    public double? TtftP95Seconds { get; init; }
    /// <summary>p95 of queueing delay (arrival → prefill start) of requests admitted in the last interval; null when none.</summary>
    public double? QueueWaitP95Seconds { get; init; }
    /// <summary>Requests whose first token came in the last interval (<see cref="TtftSloMisses"/> of them later than their
    /// TTFT SLO); 0 when the pool does not know the SLO.</summary>
    public int TtftSloScored { get; init; }
    public int TtftSloMisses { get; init; }
    /// <summary>Arrivals in the last interval, requests/s.</summary>
    public double ArrivalRatePerSecond { get; init; }
    /// <summary>Prompt tokens arrived in the last interval, tokens/s (prefill demand).</summary>
    public double PrefillTokensPerSecond { get; init; }
    /// <summary>Mean context (prompt) length of recent arrivals; 0 when none.</summary>
    public double MeanContextTokens { get; init; }
    /// <summary>Squared coefficient of variation of the gaps between consecutive arrivals in the last interval (1 for
    /// Poisson arrivals; above 1 when requests come in clumps); null when fewer than three arrived.</summary>
    public double? ArrivalGapCv2 { get; init; }
    /// <summary>Squared coefficient of variation of the prefill work of the requests that arrived in the last interval
    /// (from their prompt lengths); null when fewer than two arrived.</summary>
    public double? PrefillWorkCv2 { get; init; }
    /// <summary>Mean output length of recently finished requests; 0 when none.</summary>
    public double MeanOutputTokens { get; init; }
    /// <summary>Output tokens/s produced per ready replica over the last interval.</summary>
    public double OutputTokensPerSecondPerReplica { get; init; }
    /// <summary>Saturation-style utilisation of ready replicas, time-averaged, 0..1: per replica the most loaded of its
    /// prefill engine (busy or not), batch slots (sequences / max) and KV memory (tokens / capacity).</summary>
    public double Utilization { get; init; }
    /// <summary>GPU duty cycle (nvidia-smi / DCGM_FI_DEV_GPU_UTIL semantics): time-average fraction of ready replicas
    /// with any sequence resident (prefilling or decoding), 0..1.</summary>
    public double GpuDutyCycle { get; init; }
    /// <summary>Time-average fraction of prefill compute busy over ready replicas, 0..1.</summary>
    public double PrefillBusyFraction { get; init; }
    /// <summary>Forecast arrival rate (requests/s) at NowSeconds + ForecastHorizonSeconds; null when no forecaster.</summary>
    public double? ForecastRatePerSecond { get; init; }
    public double ForecastHorizonSeconds { get; init; }

    public int ProvisionedReplicas => ReadyReplicas + StartingReplicas;
}

/// <summary>A scaler's answer: replicas that should hold a GPU (ready + starting), warm stand-bys to keep, and why.</summary>
public sealed record ScalingDecision(int DesiredReplicas, string Reason, int WarmPoolReplicas = 0)
{
    public override string ToString() => $"desired={DesiredReplicas} warm={WarmPoolReplicas} ({Reason})";
}

/// <summary>
/// A scaler. Call <see cref="Decide"/> once per control tick with a snapshot; implementations may keep state
/// (stabilisation windows), so use one instance per pool. Not thread-safe (a grain is single-threaded).
/// </summary>
public interface IScaler
{
    string Name { get; }
    ScalingDecision Decide(ScalingSnapshot snapshot);
    /// <summary>True when the scaler wants to be asked again as soon as a request arrives at an empty pool (scale-from-zero).</summary>
    bool ActivatesOnArrival => false;
}

public sealed record ReplicaBounds(int Min, int Max)
{
    public int Clamp(int n) => Math.Clamp(n, Min, Max);
}
