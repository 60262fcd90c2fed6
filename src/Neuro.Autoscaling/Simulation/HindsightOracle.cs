namespace Neuro.Autoscaling.Simulation;

/// <summary>Replays a fixed per-window replica schedule (window k covers [kW, (k+1)W)).</summary>
public sealed class ScheduleScaler(IReadOnlyList<int> schedule, double windowSeconds, string name = "oracle") : IScaler
{
    public string Name => name;
    public ScalingDecision Decide(ScalingSnapshot s)
    {
        var k = (int)Math.Round(s.NowSeconds / windowSeconds);
        return new ScalingDecision(k < schedule.Count ? schedule[k] : (schedule.Count > 0 ? schedule[^1] : 0), "schedule");
    }
}

/// <param name="FluidGpuHours">Per-window fluid estimate: Σ over windows of ceil(work arriving in the window / W). Not a
/// lower bound for every scaler: work may be served in a later window (within its SLO slack), and a long prefill is
/// charged to its arrival window only.</param>
/// <param name="WorkBoundGpuHours">A true lower bound on the billed GPU-hours of any scaler in the simulator, whatever its
/// attainment: see <see cref="HindsightOracle.WorkBound"/>.</param>
public sealed record OracleResult(SimulationResult Simulated, double FluidGpuHours, int[] Schedule, int Iterations, double WorkBoundGpuHours = 0);

/// <summary>
/// Hindsight oracle: knows the whole trace, starts replicas instantly and pays only while they are held.
/// Step 1, fluid bound: per window, replicas = ceil(max(prefill seconds arriving / W, unloaded KV tokens / KV capacity,
/// unloaded sequences / max sequences)). Step 2, greedy repair: simulate that schedule; for every SLO miss, add one
/// replica to each window between its arrival and its prefill start; repeat until attainment ≥ target.
/// The repaired schedule meets the SLO target and is the lower bound the scalers are compared with; the fluid GPU-hours
/// (which ignore queueing entirely) are reported beside it.
/// </summary>
public static class HindsightOracle
{
    public static OracleResult Run(ServiceModel m, IReadOnlyList<TraceRequest> trace, double windowSeconds,
        double targetAttainment = 0.99, int maxIterations = 80, int seed = 1, double warmupSeconds = 0,
        FrontDoorOrder frontDoor = FrontDoorOrder.Fifo)
    {
        var w = windowSeconds;
        var end = trace.Count == 0 ? 0 : trace.Max(t => t.ArrivalSeconds + m.PrefillSeconds(t.ContextTokens) + t.OutputTokens * m.DecodeSecondsPerToken);
        var n = (int)Math.Ceiling(end / w) + 2;
        var prefill = new double[n]; var kv = new double[n]; var seqs = new double[n];
        foreach (var t in trace)
        {
            var a = t.ArrivalSeconds; var p = m.PrefillSeconds(t.ContextTokens);
            prefill[(int)(a / w)] += p;
            AddArea(kv, a, a + p + Math.Max(0, t.OutputTokens - 1) * m.DecodeSecondsPerToken, (double)t.ContextTokens + t.OutputTokens, w);
            AddArea(seqs, a, a + p + Math.Max(0, t.OutputTokens - 1) * m.DecodeSecondsPerToken, 1, w);
        }
        var need = new int[n];
        for (var k = 0; k < n; k++)
        {
            var x = Math.Max(prefill[k] / w, Math.Max(kv[k] / w / m.KvCacheTokens, seqs[k] / w / m.MaxSequences));
            need[k] = (int)Math.Ceiling(x - 1e-9);
        }
        var fluid = Enumerable.Range(0, n).Sum(k => need[k] * Math.Max(0, Math.Min(w, (k + 1) * w - warmupSeconds))) * m.GpusPerReplica / 3600.0;

        SimulationResult sim = null!;
        var it = 0;
        for (; it < maxIterations; it++)
        {
            sim = new Simulator(m, trace, new SimulationOptions
            {
                ControlIntervalSeconds = w, InitialReplicas = need[0], InstantStart = true, Seed = seed, WarmupSeconds = warmupSeconds,
                FrontDoor = frontDoor,
            }).Run(new ScheduleScaler(need, w));
            if (sim.SloAttainment >= targetAttainment) break;
            var bump = new bool[n];
            foreach (var o in sim.Outcomes.Where(o => !o.MetSlo && o.Arrival >= warmupSeconds))
            {
                var from = (int)(o.Arrival / w); var to = Math.Min(n - 1, (int)((o.Arrival + o.QueueWait) / w));
                for (var k = from; k <= to; k++) bump[k] = true;
            }
            for (var k = 0; k < n; k++) if (bump[k]) need[k]++;
        }
        return new OracleResult(sim with { Scaler = "oracle" }, fluid, need, it + 1, WorkBound(m, trace, warmupSeconds));
    }

    /// <summary>
    /// Lower bound on the billed GPU-hours of any scaler (billing starts at <paramref name="warmupSeconds"/> and runs until
    /// the last request completes). Every request arriving after the warm-up must be served after it, by billed replicas;
    /// a replica prefills at most one request at a time, holds at most KvCacheTokens and MaxSequences, and a request is
    /// resident for at least its unloaded prefill + decode time. So billed replica-seconds ≥ each of: total prefill seconds,
    /// KV token-seconds / KV capacity, sequence-seconds / max sequences, and the length of the time in which at least one
    /// such request must be in the system (union of [arrival, arrival + prefill + decode]), because at least one replica
    /// is held then. No SLO is assumed (it only adds work), so this holds at any attainment.
    /// </summary>
    public static double WorkBound(ServiceModel m, IReadOnlyList<TraceRequest> trace, double warmupSeconds)
    {
        double prefill = 0, kv = 0, seqs = 0, union = 0, curStart = double.NaN, curEnd = double.NaN;
        foreach (var t in trace.Where(t => t.ArrivalSeconds >= warmupSeconds).OrderBy(t => t.ArrivalSeconds))
        {
            var p = m.PrefillSeconds(t.ContextTokens);
            var resident = p + Math.Max(0, t.OutputTokens - 1) * m.DecodeSecondsPerToken;
            prefill += p;
            kv += Math.Min(m.KvCacheTokens, (double)t.ContextTokens + t.OutputTokens) * resident;  // an oversize request fills a replica alone
            seqs += resident;
            var end = t.ArrivalSeconds + resident;
            if (double.IsNaN(curStart) || t.ArrivalSeconds > curEnd)
            {
                if (!double.IsNaN(curStart)) union += curEnd - curStart;
                curStart = t.ArrivalSeconds; curEnd = end;
            }
            else curEnd = Math.Max(curEnd, end);
        }
        if (!double.IsNaN(curStart)) union += curEnd - curStart;
        var replicaSeconds = Math.Max(Math.Max(prefill, union), Math.Max(kv / m.KvCacheTokens, seqs / m.MaxSequences));
        return replicaSeconds * m.GpusPerReplica / 3600.0;
    }

    private static void AddArea(double[] bins, double from, double to, double height, double w)
    {
        var k = (int)(from / w);
        while (from < to && k < bins.Length)
        {
            var edge = (k + 1) * w; var seg = Math.Min(to, edge) - from;
            bins[k] += seg * height; from = edge; k++;
        }
    }
}

/// <summary>Online forecaster for the simulator: damped-trend Holt smoothing (level + trend, damping φ) of per-interval
/// arrival rates; the forecast h steps ahead is level + trend·(φ + φ² + … + φʰ), so long horizons do not extrapolate a
/// burst's slope without bound.</summary>
public static class OnlineForecast
{
    public static Func<IReadOnlyList<double>, double, double> Holt(double intervalSeconds, double alpha = 0.5, double beta = 0.2, double phi = 0.9) =>
        (history, horizon) =>
        {
            double level = history[0], trend = 0;
            for (var i = 1; i < history.Count; i++)
            {
                var prev = level;
                level = alpha * history[i] + (1 - alpha) * (level + phi * trend);
                trend = beta * (level - prev) + (1 - beta) * phi * trend;
            }
            var steps = Math.Max(0, (int)Math.Round(horizon / intervalSeconds));
            double damp = 0, p = 1;
            for (var k = 1; k <= steps; k++) { p *= phi; damp += p; }
            return Math.Max(0, level + trend * damp);
        };
}
