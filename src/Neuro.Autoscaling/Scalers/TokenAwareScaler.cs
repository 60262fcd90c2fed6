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
    /// <summary>Highest prefill utilisation ever planned. With <see cref="SloMissTarget"/> &gt; 0 the queueing model usually
    /// asks for more headroom than this; with it 0 this alone sizes the pool (plain utilisation target).</summary>
    public double TargetPrefillUtilization { get; init; } = 0.9;
    /// <summary>Queueing view of the TTFT SLO: the pool is sized so that the modelled probability that a request waits
    /// longer than <see cref="QueueDelayBudgetSeconds"/> before its prefill starts is at most this (Erlang C with the
    /// wait tail slowed by the measured variability, see <see cref="UseMeasuredVariability"/>; service = the mean prefill
    /// seconds per request). It is also the share of requests allowed to miss the SLO that the calibration steers to.
    /// 0 disables the queueing view.</summary>
    public double SloMissTarget { get; init; } = 0.005;
    /// <summary>Online calibration of the target over this trailing window (seconds; 0 disables it); what it compares
    /// is <see cref="QueueingCalibration"/>.</summary>
    public double QueueingCalibrationWindowSeconds { get; init; } = 600;
    /// <summary>What the calibration compares. <see cref="QueueingCalibrationSignal.FoundQueued"/>: how often requests are
    /// found queued at the decisions against the M/M/c probability of that (Erlang C × utilisation at the ready replicas);
    /// tightens only — it was the default until held-out traces showed it follows Mooncake's timestamp clumps rather
    /// than what makes requests miss. <see cref="QueueingCalibrationSignal.SloMisses"/>:
    /// the TTFT-SLO misses the pool observed against the number the target allows (target × requests scored) — the
    /// event the target is about, whatever caused it (clumps, long-tailed prompts, ramps faster than a start), so it
    /// also loosens (at most <see cref="QueueingCalibrationMaxLoosening"/>) when requests miss less often than allowed.</summary>
    public QueueingCalibrationSignal QueueingCalibration { get; init; } = QueueingCalibrationSignal.SloMisses;
    public double QueueingCalibrationMaxLoosening { get; init; } = 4;
    /// <summary>Largest factor the calibration divides the miss target by, so a window of saturated ticks (where the
    /// model expects queueing anyway) or a mis-measured queue cannot drive the pool to its maximum.</summary>
    public double QueueingCalibrationMaxFactor { get; init; } = 20;
    /// <summary>G/G/c view of the wait tail (Allen–Cunneen): the exponential decay of P(wait &gt; t) is slowed by
    /// (Ca² + Cs²) / 2, with Ca² the squared coefficient of variation of the gaps between arrivals (clumped arrivals
    /// &gt; 1) and Cs² that of the requests' prefill work (a long-tailed prompt mix &gt; 1), both measured and averaged
    /// over <see cref="VariabilityWindowSeconds"/>; M/M/c is the case Ca² = Cs² = 1. Off: plain M/M/c.</summary>
    public bool UseMeasuredVariability { get; init; } = true;
    public double VariabilityWindowSeconds { get; init; } = 600;
    /// <summary>Include the arrivals' Ca² (else Ca² = 1 and only the prefill work's variation counts).</summary>
    public bool UseArrivalVariability { get; init; } = true;
    /// <summary>Bounds of the (Ca² + Cs²) / 2 factor, so one odd interval cannot drive the pool to either extreme.</summary>
    public double MinVariability { get; init; } = 0.5;
    public double MaxVariability { get; init; } = 20;
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
    /// <summary>Scale down only to a count that would still hold the wait tail if the prefill demand over the next cold
    /// start came in this many standard deviations above its mean. 0 = the current demand only.</summary>
    public double ScaleDownHeadroomSigma { get; init; } = 1;
    /// <summary>At most this share of provisioned replicas is removed per decision (at least one).</summary>
    public double MaxScaleDownFraction { get; init; } = 0.2;
    /// <summary>Warm stand-by pool as a percentage of desired replicas (seed 000's AgentPool prewarmPercent). 0 disables.</summary>
    public double PrewarmPercent { get; init; } = 20;
    /// <summary>Also take the measured prefill busy time (busy fraction × ready replicas) as the offered load when it is
    /// higher than the token estimate (long prompts cost more per token: the attention term).</summary>
    public bool UseMeasuredPrefillLoad { get; init; } = true;
    /// <summary>Use the snapshot's forecast (predictive lead) when present.</summary>
    public bool UseForecast { get; init; }
}

/// <summary>Signal of <see cref="TokenAwareOptions.QueueingCalibration"/>.</summary>
public enum QueueingCalibrationSignal { FoundQueued, SloMisses }

/// <summary>
/// Ours: demand in tokens, not requests. Prefill: the offered load in replicas of work (prompt tokens/s over per-replica
/// prefill throughput, or the measured prefill busy time when higher) is turned into a replica count by a queueing
/// view of the TTFT SLO — the smallest pool whose modelled probability of a wait beyond the queueing budget is at most
/// <see cref="TokenAwareOptions.SloMissTarget"/> (Erlang C, the tail slowed by (Ca² + Cs²)/2 of the measured arrivals
/// and prefill work: G/G/c), so small pools keep more relative headroom than large ones. That target is calibrated
/// online against the SLO misses the pool observes: tightened when requests miss more often than the target allows,
/// loosened (a little) when they miss less. Decode/memory: concurrent sequences and KV tokens from the arrival rate,
/// output length and per-token decode time (Little's law). The queued backlog is planned over the lead time of new
/// capacity (a warm start for what the stand-bys cover, a cold start beyond) and is a burst term: it scales up at once
/// but is not remembered by the scale-down stabilisation, so the capacity returns to the warm pool once the backlog is
/// drained. A TTFT guard adds replicas when waits exceed the budget under saturation. Scale-up is immediate; scale-down
/// goes to the largest steady recommendation of the last window, at most a share per decision, so a flapping input
/// does not flap the pool. Keeps a warm pool of <c>PrewarmPercent</c> and activates on the first request at zero.
/// </summary>
public sealed class TokenAwareScaler(TokenAwareOptions options, string? name = null) : IScaler
{
    private readonly Queue<(double T, int Raw)> _history = new();
    private readonly Queue<(double T, double Tokens, double Rate, double Busy)> _demand = new();
    private bool _started;
    // per decision: what the calibration observed (queued or not / SLO misses) and what the model or the target expected
    private readonly Queue<(double T, double Observed, double Expected)> _queueing = new();
    private readonly Queue<(double T, double? Ca2, double? Cs2)> _variability = new();

    public string Name { get; } = name ?? (options.UseForecast ? "ours+forecast" : "ours");
    public bool ActivatesOnArrival => options.Bounds.Min == 0;

    public ScalingDecision Decide(ScalingSnapshot s)
    {
        var cap = options.Capacity;
        var provisioned = s.ProvisionedReplicas;
        _demand.Enqueue((s.NowSeconds, s.PrefillTokensPerSecond, s.ArrivalRatePerSecond, s.PrefillBusyFraction * s.ReadyReplicas));
        while (_demand.Count > 1 && _demand.Peek().T <= s.NowSeconds - options.DemandWindowSeconds) _demand.Dequeue();
        var prefillRate = _demand.Average(d => d.Tokens);
        var rate = _demand.Average(d => d.Rate);
        var measuredLoad = _demand.Average(d => d.Busy);
        // Lead time: new capacity serves only after a (warm or cold) start; plan demand + backlog over that horizon.
        var lead = Math.Max(1, s.WarmReplicas > 0 ? options.WarmStartSeconds : options.ColdStartSeconds);

        // Offered prefill load in replicas (seconds of prefill work arriving per second) and the backlog, which new
        // capacity can only help drain after the lead time, so it is spread over that horizon.
        var offered = prefillRate / cap.PrefillTokensPerSecond;
        if (options.UseMeasuredPrefillLoad) offered = Math.Max(offered, measuredLoad);
        var backlogLoad = s.TokensInQueue / (cap.PrefillTokensPerSecond * lead);
        var svc = rate > 0 && offered > 0 ? offered / rate : 0;   // mean prefill seconds per request
        // The wait tail decays over the mean service time; under variable arrivals or service it decays slower
        // (G/G/c), which the queueing view sees as a longer effective service time in the exponent.
        var variability = MeasuredVariability(s);
        svc *= variability;
        var miss = CalibratedMissTarget(s, offered);
        var needPrefill = PrefillReplicas(offered, svc, miss);
        // Burst: the queued backlog on top of the steady demand. It is not remembered by the scale-down
        // stabilisation: once drained, that capacity goes back to the warm pool (re-added in a warm start).
        var needBurst = PrefillReplicas(offered + backlogLoad, svc, miss);
        if (s.WarmReplicas > 0 && needBurst - provisioned > s.WarmReplicas)
        {
            // Only the stand-bys arrive within the warm start; what the backlog needs beyond them comes after a cold
            // start, by when it has been drained further, so that part is planned over the cold start.
            lead = Math.Max(1, options.ColdStartSeconds);
            var overCold = PrefillReplicas(offered + s.TokensInQueue / (cap.PrefillTokensPerSecond * lead), svc, miss);
            needBurst = Math.Max(overCold, provisioned + s.WarmReplicas);
        }
        var meanOut = s.MeanOutputTokens > 0 ? s.MeanOutputTokens : 0;
        var meanCtx = s.MeanContextTokens > 0 ? s.MeanContextTokens : (rate > 0 ? prefillRate / rate : 0);
        var decodeSeconds = meanOut * cap.SecondsPerOutputToken;
        var concurrency = rate * decodeSeconds;                     // Little's law: sequences resident in decode
        var needSeq = concurrency / (cap.MaxSequences * options.TargetMemoryUtilization);
        var needKv = concurrency * (meanCtx + meanOut) / (cap.KvCacheTokens * options.TargetMemoryUtilization);
        var need = Math.Max(needPrefill, Math.Max(needSeq, needKv));
        var reason = needPrefill >= Math.Max(needSeq, needKv)
            ? $"prefill {prefillRate:F0} tok/s ({offered:F2} replicas of work{(miss < options.SloMissTarget ? $", ε {miss:G2}" : "")}{(variability != 1 ? $", (Ca²+Cs²)/2 {variability:F2}" : "")}) → {needPrefill:F2}"
            : $"decode {concurrency:F1} seqs, KV → {Math.Max(needSeq, needKv):F2}";

        if (options.UseForecast && s.ForecastRatePerSecond is { } f && meanCtx > 0)
        {
            var needFc = PrefillReplicas(f * meanCtx / cap.PrefillTokensPerSecond, svc, miss);
            var fcConc = f * decodeSeconds;
            needFc = Math.Max(needFc, Math.Max(fcConc / (cap.MaxSequences * options.TargetMemoryUtilization),
                fcConc * (meanCtx + meanOut) / (cap.KvCacheTokens * options.TargetMemoryUtilization)));
            if (needFc > need) { need = needFc; reason = $"forecast {f:F2} req/s in {s.ForecastHorizonSeconds:F0}s → {needFc:F2}"; }
        }

        var raw = (int)Math.Ceiling(need - 1e-9);
        if (raw == 0 && (s.QueueDepth > 0 || s.InFlightRequests > 0)) { raw = 1; reason = "work present"; }
        var burst = (int)Math.Ceiling(needBurst - 1e-9);

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
        // What the scale-down stabilisation remembers: the count that still holds the wait tail if the demand over the next
        // cold-start horizon H comes in σ standard deviations high (Poisson arrivals, exponential service: the work rate
        // over H has variance a·2S/H) — a replica given back now cannot be back sooner than H.
        var keep = raw;
        if (options.ScaleDownHeadroomSigma > 0 && svc > 0)
        {
            var upper = offered + options.ScaleDownHeadroomSigma * Math.Sqrt(offered * 2 * svc / Math.Max(1, options.ColdStartSeconds));
            keep = Math.Max(raw, options.Bounds.Clamp((int)Math.Ceiling(PrefillReplicas(upper, svc, miss) - 1e-9)));
        }
        _history.Enqueue((s.NowSeconds, keep));
        while (_history.Count > 0 && _history.Peek().T < s.NowSeconds - options.ScaleDownWindowSeconds) _history.Dequeue();
        burst = options.Bounds.Clamp(burst);
        if (burst > raw) { raw = burst; reason = $"backlog {s.TokensInQueue} tok over {lead:F0}s lead → {needBurst:F2}; " + reason; }

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

    /// <summary>Replicas for an offered prefill load (replicas of work): the utilisation cap, and with a miss target the
    /// queueing view of the TTFT budget.</summary>
    private double PrefillReplicas(double load, double svc, double miss)
    {
        var n = load / options.TargetPrefillUtilization;
        if (miss > 0 && svc > 0)
            n = Math.Max(n, ReplicasForWaitTail(load, svc, options.QueueDelayBudgetSeconds, miss));
        return n;
    }

    /// <summary>(Ca² + Cs²) / 2 over the variability window, clamped; 1 (M/M/c) when off or before any measurement.</summary>
    private double MeasuredVariability(ScalingSnapshot s)
    {
        if (!options.UseMeasuredVariability) return 1;
        if (s.ArrivalGapCv2 is not null || s.PrefillWorkCv2 is not null) _variability.Enqueue((s.NowSeconds, s.ArrivalGapCv2, s.PrefillWorkCv2));
        while (_variability.Count > 0 && _variability.Peek().T <= s.NowSeconds - options.VariabilityWindowSeconds) _variability.Dequeue();
        var ca = options.UseArrivalVariability ? _variability.Where(v => v.Ca2 is not null).Select(v => v.Ca2!.Value).DefaultIfEmpty(1).Average() : 1;
        var cs = _variability.Where(v => v.Cs2 is not null).Select(v => v.Cs2!.Value).DefaultIfEmpty(1).Average();
        return Math.Clamp((ca + cs) / 2, options.MinVariability, options.MaxVariability);
    }

    /// <summary>The miss target after the online calibration (see <see cref="TokenAwareOptions.QueueingCalibrationWindowSeconds"/>).</summary>
    private double CalibratedMissTarget(ScalingSnapshot s, double offered)
    {
        var miss = options.SloMissTarget;
        if (miss <= 0 || options.QueueingCalibrationWindowSeconds <= 0) return miss;
        // Only ticks with serving replicas and demand say anything about the model; an idle pool neither confirms nor refutes it.
        if (s.ReadyReplicas > 0 && offered > 0)
        {
            if (options.QueueingCalibration == QueueingCalibrationSignal.SloMisses)
                _queueing.Enqueue((s.NowSeconds, s.TtftSloMisses, s.TtftSloScored * miss));
            else
                _queueing.Enqueue((s.NowSeconds, s.QueueDepth > 0 ? 1 : 0, QueuedProbability(s.ReadyReplicas, offered)));
        }
        while (_queueing.Count > 0 && _queueing.Peek().T <= s.NowSeconds - options.QueueingCalibrationWindowSeconds) _queueing.Dequeue();
        var observed = _queueing.Sum(q => q.Observed); var expected = _queueing.Sum(q => q.Expected);
        return options.QueueingCalibration == QueueingCalibrationSignal.SloMisses
            ? miss / Math.Clamp((observed + 1) / (expected + 1), 1 / Math.Max(1, options.QueueingCalibrationMaxLoosening), options.QueueingCalibrationMaxFactor)
            : miss / QueueingExcess(observed, expected, options.QueueingCalibrationMaxFactor);
    }

    /// <summary>Modelled P(wait &gt; budget) at c ready replicas: C(c, a) · exp(−(c − a) · budget / S); 1 when the load reaches the pool.</summary>
    public static double WaitTailProbability(int c, double a, double serviceSeconds, double budgetSeconds) =>
        c <= 0 || a >= c ? 1 : serviceSeconds <= 0 ? 0 : ErlangC(c, a) * Math.Exp(-(c - a) * budgetSeconds / serviceSeconds);

    /// <summary>M/M/c probability that requests are waiting at a random instant: all c replicas busy and at least one
    /// more request present, Erlang C × a/c (1 when the load reaches the pool).</summary>
    public static double QueuedProbability(int c, double a) => c <= 0 ? 1 : a >= c ? 1 : ErlangC(c, a) * a / c;

    /// <summary>How much more often requests were found queued than modelled, in [1, max]: (observed + 1) / (modelled + 1)
    /// over the window — one pseudo-tick on each side, so a handful of ticks cannot swing it far.</summary>
    public static double QueueingExcess(double observedQueuedTicks, double modelledQueuedTicks, double max) =>
        Math.Clamp((observedQueuedTicks + 1) / (modelledQueuedTicks + 1), 1, Math.Max(1, max));

    /// <summary>
    /// Smallest c with P(wait &gt; budget) ≤ missTarget in an M/M/c queue with offered load <paramref name="load"/>
    /// (= arrival rate × mean service seconds) and mean service <paramref name="serviceSeconds"/>:
    /// P(W &gt; t) = C(c, a) · exp(−(c − a) · t / S), C = Erlang C. Poisson arrivals fit the traces at a 15-s scale; the
    /// exponential service assumption is conservative for near-constant prompts and optimistic for heavy tails.
    /// </summary>
    public static int ReplicasForWaitTail(double load, double serviceSeconds, double budgetSeconds, double missTarget)
    {
        if (load <= 0) return 0;
        if (serviceSeconds <= 0 || missTarget <= 0) return (int)Math.Ceiling(load - 1e-9);
        for (var c = Math.Max(1, (int)Math.Floor(load) + 1); c < 100_000; c++)
        {
            if (WaitTailProbability(c, load, serviceSeconds, budgetSeconds) <= missTarget) return c;
        }
        return 100_000;
    }

    /// <summary>Erlang C (probability an arrival waits) for c servers at offered load a &lt; c, via the stable Erlang B recursion.</summary>
    public static double ErlangC(int c, double a)
    {
        if (a <= 0) return 0;
        if (c <= a) return 1;
        double b = 1;
        for (var k = 1; k <= c; k++) b = a * b / (k + a * b);
        return c * b / (c - a * (1 - b));
    }
}
