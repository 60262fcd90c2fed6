namespace Neuro.Autoscaling.Scalers;

/// <summary>What one replica can do; a grain fills it from the model's profile, the simulator from its service model.</summary>
public sealed record ReplicaCapacity(
    double PrefillTokensPerSecond,
    int MaxSequences,
    long KvCacheTokens,
    double SecondsPerOutputToken);

public sealed record TokenAwareOptions
{
    public required ReplicaCapacity Capacity { get; init; }
    /// <summary>Min 0 enables scale-from-zero.</summary>
    public ReplicaBounds Bounds { get; init; } = new(0, 64);
    /// <summary>Part of the TTFT SLO allowed for queueing before prefill starts (seconds); the guard protects it.
    /// (TTFT = queueing + own prefill time; the prefill part is not something replicas can shorten.)</summary>
    public double QueueDelayBudgetSeconds { get; init; } = 1.0;
    /// <summary>Planned prefill utilisation (headroom for Poisson bursts).</summary>
    public double TargetPrefillUtilization { get; init; } = 0.65;
    /// <summary>Planned batch-slot / KV utilisation.</summary>
    public double TargetMemoryUtilization { get; init; } = 0.85;
    /// <summary>Seconds a new replica needs to serve from a cold start / from the warm pool. Capacity added now only helps
    /// after that, so demand is planned over that lead time: (rate × L + backlog) / (capacity × L).</summary>
    public double ColdStartSeconds { get; init; } = 60;
    public double WarmStartSeconds { get; init; } = 8;
    /// <summary>Demand (tokens/s, requests/s) is averaged over this trailing window of snapshots.</summary>
    public double DemandWindowSeconds { get; init; } = 60;
    /// <summary>Guard fires when the queue-wait p95 exceeds this fraction of the budget or the oldest waiter is older than the budget.</summary>
    public double GuardFraction { get; init; } = 0.8;
    /// <summary>Scale-down stabilisation: the desired count is the max raw recommendation over this window.</summary>
    public double ScaleDownWindowSeconds { get; init; } = 120;
    /// <summary>At most this share of provisioned replicas is removed per decision (at least one).</summary>
    public double MaxScaleDownFraction { get; init; } = 0.2;
    /// <summary>Warm stand-by pool as a percentage of desired replicas (seed 000's AgentPool prewarmPercent). 0 disables.</summary>
    public double PrewarmPercent { get; init; } = 20;
    /// <summary>Use the snapshot's forecast (predictive lead) when present.</summary>
    public bool UseForecast { get; init; }
}

/// <summary>
/// Ours: demand in tokens, not requests. Prefill work = prompt tokens/s (plus the queued backlog to drain before the
/// SLO) over per-replica prefill throughput; decode/memory work = concurrent sequences and KV tokens from the
/// arrival rate, output length and per-token decode time (Little's law). A TTFT-SLO guard adds replicas when the
/// p95 or the oldest waiter approaches the SLO; scale-up is immediate, scale-down is stabilised (max over a window,
/// bounded step) so a flapping input does not flap the pool. Keeps a warm pool of <c>PrewarmPercent</c> and
/// activates on the first request at zero.
/// </summary>
public sealed class TokenAwareScaler(TokenAwareOptions options, string? name = null) : IScaler
{
    private readonly Queue<(double T, int Raw)> _history = new();
    private readonly Queue<(double T, double Tokens, double Rate)> _demand = new();
    private bool _started;

    public string Name { get; } = name ?? (options.UseForecast ? "ours+forecast" : "ours");
    public bool ActivatesOnArrival => options.Bounds.Min == 0;

    public ScalingDecision Decide(ScalingSnapshot s)
    {
        var cap = options.Capacity;
        var provisioned = s.ProvisionedReplicas;
        _demand.Enqueue((s.NowSeconds, s.PrefillTokensPerSecond, s.ArrivalRatePerSecond));
        while (_demand.Count > 1 && _demand.Peek().T <= s.NowSeconds - options.DemandWindowSeconds) _demand.Dequeue();
        var prefillRate = _demand.Average(d => d.Tokens);
        var rate = _demand.Average(d => d.Rate);
        // Lead time: new capacity serves only after a (warm or cold) start; plan demand + backlog over that horizon.
        var lead = Math.Max(1, s.WarmReplicas > 0 ? options.WarmStartSeconds : options.ColdStartSeconds);

        var needPrefill = (prefillRate * lead + s.TokensInQueue) / (cap.PrefillTokensPerSecond * options.TargetPrefillUtilization * lead);
        var meanOut = s.MeanOutputTokens > 0 ? s.MeanOutputTokens : 0;
        var meanCtx = s.MeanContextTokens > 0 ? s.MeanContextTokens : (rate > 0 ? prefillRate / rate : 0);
        var decodeSeconds = meanOut * cap.SecondsPerOutputToken;
        var concurrency = rate * decodeSeconds;                     // Little's law: sequences resident in decode
        var needSeq = concurrency / (cap.MaxSequences * options.TargetMemoryUtilization);
        var needKv = concurrency * (meanCtx + meanOut) / (cap.KvCacheTokens * options.TargetMemoryUtilization);
        var need = Math.Max(needPrefill, Math.Max(needSeq, needKv));
        var reason = needPrefill >= Math.Max(needSeq, needKv)
            ? $"prefill {prefillRate:F0} tok/s + backlog {s.TokensInQueue} tok → {needPrefill:F2}"
            : $"decode {concurrency:F1} seqs, KV → {Math.Max(needSeq, needKv):F2}";

        if (options.UseForecast && s.ForecastRatePerSecond is { } f && meanCtx > 0)
        {
            var needFc = f * meanCtx / (cap.PrefillTokensPerSecond * options.TargetPrefillUtilization);
            var fcConc = f * decodeSeconds;
            needFc = Math.Max(needFc, Math.Max(fcConc / (cap.MaxSequences * options.TargetMemoryUtilization),
                fcConc * (meanCtx + meanOut) / (cap.KvCacheTokens * options.TargetMemoryUtilization)));
            if (needFc > need) { need = needFc; reason = $"forecast {f:F2} req/s in {s.ForecastHorizonSeconds:F0}s → {needFc:F2}"; }
        }

        var raw = (int)Math.Ceiling(need - 1e-9);
        if (raw == 0 && (s.QueueDepth > 0 || s.InFlightRequests > 0)) { raw = 1; reason = "work present"; }

        var budget = options.QueueDelayBudgetSeconds;
        // Guard: waits above the budget while prefill is saturated (not a momentary burst the pool will absorb),
        // or a waiter far beyond the budget.
        var guard = (s.QueueWaitP95Seconds is { } w95 && w95 > options.GuardFraction * budget && s.QueueDepth > 0
                     && s.PrefillBusyFraction > options.TargetPrefillUtilization)
                    || (s.QueueDepth > 0 && s.OldestQueuedAgeSeconds > 4 * budget);
        if (guard)
        {
            var g = s.ReadyReplicas + Math.Max(1, (int)Math.Ceiling(0.25 * s.ReadyReplicas));
            if (g > raw) { raw = g; reason = $"TTFT guard (queue-wait p95 {s.QueueWaitP95Seconds?.ToString("F2") ?? "-"}s, oldest {s.OldestQueuedAgeSeconds:F1}s)"; }
        }

        if (provisioned == 0 && (s.QueueDepth > 0 || s.ArrivalRatePerSecond > 0) && raw < 1) raw = 1;
        if (provisioned == 0 && raw >= 1) reason = "scale-from-zero: " + reason;

        raw = options.Bounds.Clamp(raw);
        // First call: the pool's current size counts as a recent recommendation, so the stabilisation window also
        // holds at start-up (as an HPA's does) instead of scaling down on one interval of data.
        if (_history.Count == 0 && !_started) _history.Enqueue((s.NowSeconds, provisioned));
        _started = true;
        _history.Enqueue((s.NowSeconds, raw));
        while (_history.Count > 0 && _history.Peek().T < s.NowSeconds - options.ScaleDownWindowSeconds) _history.Dequeue();

        int desired;
        if (raw >= provisioned) desired = raw;
        else
        {
            var stabilised = _history.Max(h => h.Raw);
            var floor = provisioned - Math.Max(1, (int)Math.Floor(options.MaxScaleDownFraction * provisioned));
            desired = Math.Max(stabilised, floor);
            if (desired >= provisioned) { desired = provisioned; reason = $"hold (stabilising down, raw {raw}): " + reason; }
            else reason = $"scale down (raw {raw}): " + reason;
        }
        desired = options.Bounds.Clamp(desired);
        var warm = options.PrewarmPercent <= 0 ? 0
            : Math.Max(1, (int)Math.Ceiling(options.PrewarmPercent / 100.0 * Math.Max(desired, 1)));
        return new ScalingDecision(desired, reason, warm);
    }
}
