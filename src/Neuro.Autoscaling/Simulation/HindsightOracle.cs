namespace Neuro.Autoscaling.Simulation;

/// <summary>Replays a fixed per-window replica schedule (window k covers [kW, (k+1)W)). With a look-ahead of L windows it
/// asks at window k for the most any of windows k..k+L needs, so replicas that take a start are ready in time, and it
/// keeps <paramref name="warmPool"/> stand-bys so those starts are warm.</summary>
public sealed class ScheduleScaler(IReadOnlyList<int> schedule, double windowSeconds, string name = "oracle", int lookAheadWindows = 0, int warmPool = 0) : IScaler
{
    public string Name => name;
    public ScalingDecision Decide(ScalingSnapshot s)
    {
        var k = (int)Math.Round(s.NowSeconds / windowSeconds);
        int At(int j) => j < schedule.Count ? schedule[j] : (schedule.Count > 0 ? schedule[^1] : 0);
        var desired = At(k);
        for (var j = 1; j <= lookAheadWindows; j++) desired = Math.Max(desired, At(k + j));
        return new ScalingDecision(desired, "schedule", warmPool);
    }
}

/// <param name="FluidGpuHours">Per-window fluid estimate: Σ over windows of ceil(work arriving in the window / W). Not a
/// lower bound for every scaler: work may be served in a later window (within its SLO slack), and a long prefill is
/// charged to its arrival window only.</param>
/// <param name="Schedule">The pruned schedule (replicas per window) that <paramref name="Simulated"/> replays.</param>
/// <param name="Iterations">Iterations (simulations) of the path repair.</param>
/// <param name="WorkBoundGpuHours">A true lower bound on the billed GPU-hours of any scaler in the simulator, whatever its
/// attainment: see <see cref="HindsightOracle.WorkBound"/>.</param>
public sealed record OracleResult(SimulationResult Simulated, double FluidGpuHours, int[] Schedule, int Iterations, double WorkBoundGpuHours = 0)
{
    /// <summary>The greedy repair's schedule and its simulation, before pruning: kept so the previous (looser) oracle can
    /// still be quoted beside the pruned one.</summary>
    public int[] RepairedSchedule { get; init; } = [];
    public SimulationResult? Repaired { get; init; }
    /// <summary>Simulations the prune phase ran (its budget is counted in simulations, not seconds, so the result does
    /// not depend on the machine's speed).</summary>
    public int PruneSimulations { get; init; }
    /// <summary>Changes (lowered windows or runs of windows) the prune phase kept.</summary>
    public int PruneAccepted { get; init; }
    /// <summary>Simulations of the arrival-window repair (the second start of the prune).</summary>
    public int ArrivalRepairIterations { get; init; }
    /// <summary>Which repaired schedule the prune started from ("path repair" or "arrival-window repair").</summary>
    public string PruneStart { get; init; } = "";
}

/// <summary>
/// Hindsight oracle: knows the whole trace, starts replicas instantly and pays only while they are held.
/// Step 1, fluid bound: per window, replicas = ceil(max(prefill seconds arriving / W, unloaded KV tokens / KV capacity,
/// unloaded sequences / max sequences)). Step 2, greedy repair: simulate that schedule; for every SLO miss, add one
/// replica to each window between its arrival and its prefill start; repeat until attainment ≥ target. The repair bumps
/// every window on a miss's path, so it overshoots (it ends well above the target, with windows no miss needed raised);
/// it is kept as <see cref="OracleResult.Repaired"/> for comparison. A second repair raises only each miss's arrival
/// window. Step 3, prune: from the cheaper of the two repaired schedules, lower windows one replica at a time, keeping a
/// change only if the re-simulated schedule still meets the target and bills fewer GPU-hours (see <see cref="Prune"/>).
/// The pruned schedule is the baseline the scalers are compared with. Unless the budget runs out first it is a local
/// minimum (no window, nor run of windows, can be lowered by one), not a proven global one: an upper bound on the true
/// hindsight minimum for this window length, with <see cref="WorkBound"/> a lower one.
/// </summary>
public static class HindsightOracle
{
    /// <summary>Default prune budget in simulations: about 40 s on the Mooncake trace on two (shared) cores in Release; there the
    /// prune reaches its local minimum (55.4 GPU-h at 99%) within about 1,900 simulations and is at that value by 1,200.</summary>
    public const int DefaultPruneSimulations = 1200;

    /// <param name="targetAttainment">TTFT-SLO attainment the schedule must reach (0.99; pass a baseline's attainment to ask
    /// for the minimum at that level).</param>
    /// <param name="maxPruneSimulations">Budget of the prune phase in simulations (0 = no pruning: the repaired schedule).</param>
    /// <param name="options">Simulation options the oracle's runs start from (so options such as the queue order reach
    /// them); the oracle sets the control interval, initial pool, instant start, seed, warm-up and request keeping.</param>
    public static OracleResult Run(ServiceModel m, IReadOnlyList<TraceRequest> trace, double windowSeconds,
        double targetAttainment = 0.99, int maxIterations = 80, int seed = 1, double warmupSeconds = 0,
        int maxPruneSimulations = DefaultPruneSimulations, SimulationOptions? options = null, bool payStarts = false)
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
        var need0 = need.ToArray();
        var fluid = Enumerable.Range(0, n).Sum(k => need[k] * Math.Max(0, Math.Min(w, (k + 1) * w - warmupSeconds))) * m.GpusPerReplica / 3600.0;

        var replay = payStarts ? Replay.PayingStarts(m, trace, OracleOptions(options, w, seed, warmupSeconds), w)
            : new Replay(m, trace, OracleOptions(options, w, seed, warmupSeconds), w);
        var (pathSchedule, sim, it) = Repair(replay, need.ToArray(), targetAttainment, maxIterations, warmupSeconds, w, wholePath: true);
        var repaired = sim with { Scaler = "oracle-repaired" };
        var repairedSchedule = pathSchedule.ToArray();
        // a second, finer repair: raise only the window each miss arrived in (the path repair also raises windows after
        // the backlog that caused the miss has formed); the prune starts from the cheaper of the two valid schedules
        need = pathSchedule;
        var startedFrom = "path repair";
        var arrivalIt = 0;
        if (maxPruneSimulations > 0)
        {
            (var arrivalSchedule, var arrivalSim, arrivalIt) = Repair(replay, need0, targetAttainment, 4 * maxIterations, warmupSeconds, w, wholePath: false);
            if (arrivalSim.SloAttainment >= targetAttainment && (sim.SloAttainment < targetAttainment || arrivalSim.GpuHours < sim.GpuHours))
            {
                (need, sim) = (arrivalSchedule, arrivalSim);
                startedFrom = "arrival-window repair";
            }
        }

        var (pruned, accepted, sims) = sim.SloAttainment >= targetAttainment && maxPruneSimulations > 0
            ? Prune(replay, need, sim, targetAttainment, FirstBilledWindow(w, warmupSeconds), maxPruneSimulations)
            : (sim, 0, 0);
        return new OracleResult(pruned with { Scaler = "oracle" }, fluid, need, it, WorkBound(m, trace, warmupSeconds))
        {
            ArrivalRepairIterations = arrivalIt,
            RepairedSchedule = repairedSchedule, Repaired = repaired,
            PruneSimulations = sims, PruneAccepted = accepted, PruneStart = startedFrom,
        };
    }

    /// <summary>
    /// Lowers a given schedule (replicas per window of <paramref name="windowSeconds"/>) with the oracle's prune, e.g. to
    /// ask how far a scaler's own schedule could have been cut in hindsight. Returns the schedule unchanged (with its
    /// simulation) if it does not meet <paramref name="targetAttainment"/>.
    /// </summary>
    public static (int[] Schedule, SimulationResult Simulated, int Accepted, int Simulations) PruneSchedule(ServiceModel m,
        IReadOnlyList<TraceRequest> trace, double windowSeconds, IReadOnlyList<int> schedule, double targetAttainment = 0.99,
        int seed = 1, double warmupSeconds = 0, int maxPruneSimulations = DefaultPruneSimulations, SimulationOptions? options = null)
    {
        var replay = new Replay(m, trace, OracleOptions(options, windowSeconds, seed, warmupSeconds), windowSeconds);
        var s = schedule.ToArray();
        var start = replay.Run(s, keepRequests: true);
        if (start.SloAttainment < targetAttainment || s.Length == 0) return (s, start with { Scaler = "oracle" }, 0, 0);
        var (result, accepted, sims) = Prune(replay, s, start, targetAttainment, FirstBilledWindow(windowSeconds, warmupSeconds), maxPruneSimulations);
        return (s, result with { Scaler = "oracle" }, accepted, sims);
    }

    /// <summary>Greedy repair: simulate; for every scored miss raise by one either every window from its arrival to its
    /// prefill start (<paramref name="wholePath"/>) or only its arrival window; repeat until the target is met.</summary>
    private static (int[] Schedule, SimulationResult Result, int Iterations) Repair(Replay replay, int[] need, double target,
        int maxIterations, double warmupSeconds, double w, bool wholePath)
    {
        var n = need.Length;
        SimulationResult sim = null!;
        var it = 0;
        for (; it < maxIterations; it++)
        {
            sim = replay.Run(need, keepRequests: true);
            if (sim.SloAttainment >= target) break;
            var bump = new bool[n];
            foreach (var o in sim.Outcomes.Where(o => !o.MetSlo && o.Arrival >= warmupSeconds))
            {
                var from = (int)(o.Arrival / w);
                var to = wholePath ? Math.Min(n - 1, (int)((o.Arrival + o.QueueWait) / w)) : from;
                for (var k = from; k <= to; k++) bump[k] = true;
            }
            for (var k = 0; k < n; k++) if (bump[k]) need[k]++;
        }
        return (need, sim, Math.Min(it + 1, maxIterations));
    }

    /// <summary>The one place the oracle's simulation options are built, so an option added to
    /// <see cref="SimulationOptions"/> (passed in <paramref name="baseOptions"/>) reaches every oracle run.</summary>
    public static SimulationOptions OracleOptions(SimulationOptions? baseOptions, double windowSeconds, int seed, double warmupSeconds) =>
        (baseOptions ?? new SimulationOptions()) with
        {
            ControlIntervalSeconds = windowSeconds, InstantStart = true, Seed = seed, WarmupSeconds = warmupSeconds,
            Forecaster = null, ForecastHorizonSeconds = 0, InitialWarmReplicas = 0, KeepDecisions = false,
        };

    // Windows before the warm-up are not billed, so lowering them saves nothing: the prune leaves them as repaired.
    private static int FirstBilledWindow(double w, double warmupSeconds) => Math.Max(0, (int)Math.Floor(warmupSeconds / w + 1e-9));

    /// <summary>Replays a schedule; the schedule's first window is also the initial pool.</summary>
    private sealed class Replay(ServiceModel m, IReadOnlyList<TraceRequest> trace, SimulationOptions options, double w, bool payStarts = false)
    {
        /// <summary>The same hindsight, but replicas take a (warm) start and are billed while starting, as every scaler's
        /// are: the schedule is requested one start ahead, with enough stand-bys that every start is warm (stand-bys hold
        /// no GPU). What the future is worth once start costs are paid.</summary>
        public static Replay PayingStarts(ServiceModel m, IReadOnlyList<TraceRequest> trace, SimulationOptions options, double w) =>
            new(m, trace, options with { InstantStart = false }, w, payStarts: true);

        public SimulationResult Run(int[] schedule, bool keepRequests)
        {
            if (!payStarts)
                return new Simulator(m, trace, options with { InitialReplicas = schedule[0], KeepRequests = keepRequests })
                    .Run(new ScheduleScaler(schedule, w));
            var lead = (int)Math.Ceiling(m.WarmStartSeconds * (1 + m.StartJitter) / w);
            var pool = schedule.Length == 0 ? 0 : schedule.Max();
            return new Simulator(m, trace, options with { InitialReplicas = schedule[0], KeepRequests = keepRequests, InitialWarmReplicas = pool })
                .Run(new ScheduleScaler(schedule, w, lookAheadWindows: lead, warmPool: pool));
        }
    }

    /// <summary>
    /// Lowers <paramref name="s"/> in place while it keeps meeting <paramref name="target"/>, and returns the simulation
    /// of the result. A change is kept only when its full re-simulation meets the target and bills fewer GPU-hours than
    /// the current schedule, so the result is valid by construction. Rounds of two moves until a round keeps nothing (a
    /// local minimum: no window, nor run of windows, can be lowered by one) or the budget is spent:
    /// first, price every single-window cut by the attainment it leaves and take them cheapest first (fewest added
    /// misses, then most GPU-hours saved) while the target holds, so the 1 − target misses allowed go where they cost
    /// least rather than to the first windows tried; then sweep runs of 2^j consecutive windows, longest first (the
    /// largest savings), lowering each run by one as long as that is accepted. Deterministic: fixed orders, ties broken
    /// by window index, budget counted in simulations.
    /// </summary>
    private static (SimulationResult Result, int Accepted, int Simulations) Prune(Replay replay, int[] s, SimulationResult start,
        double target, int firstWindow, int budget)
    {
        var cur = start; var sims = 0; var accepted = 0; var n = s.Length;
        var changed = new List<int>();
        // the last window is replayed for ever after the schedule ends: at 0 a request still queued then would never be
        // served and the simulation would not end
        // (the simulation stops when the last request completes, so that window itself is never billed)
        int Floor(int k) => k == n - 1 ? 1 : 0;
        s[n - 1] = Math.Max(1, s[n - 1]);

        bool TryLower(int from, int to, double floor)
        {
            changed.Clear();
            for (var k = from; k < to; k++) if (s[k] > Floor(k)) { s[k]--; changed.Add(k); }
            if (changed.Count == 0 || sims >= budget) { foreach (var k in changed) s[k]++; return false; }
            var r = replay.Run(s, keepRequests: false); sims++;
            if (r.SloAttainment >= floor && r.GpuHours < cur.GpuHours - 1e-9) { cur = r; accepted++; return true; }
            foreach (var k in changed) s[k]++;
            return false;
        }

        while (sims < budget)
        {
            var round = accepted;
            // price every single-window cut against the same schedule (independent runs, so in parallel; each result is
            // stored at its window's index, so the outcome does not depend on the thread count)
            var windows = Enumerable.Range(firstWindow, n - firstWindow).Where(k => s[k] > Floor(k)).Take(budget - sims).ToArray();
            var prices = new (double Att, double Gpu)[windows.Length];
            var snapshot = s.ToArray();
            Parallel.For(0, windows.Length, i =>
            {
                var t = snapshot.ToArray(); t[windows[i]]--;
                var r = replay.Run(t, keepRequests: false);
                prices[i] = (r.SloAttainment, r.GpuHours);
            });
            sims += windows.Length;
            var order = Enumerable.Range(0, windows.Length)
                .Where(i => prices[i].Att >= target && prices[i].Gpu < cur.GpuHours - 1e-9)
                .OrderByDescending(i => prices[i].Att).ThenBy(i => prices[i].Gpu).ThenBy(i => windows[i]).ToList();
            foreach (var i in order) TryLower(windows[i], windows[i] + 1, target);
            var len = 1; while (len * 2 <= n - firstWindow) len *= 2;
            for (; len >= 1; len /= 2)
                for (var from = firstWindow; from < n; from += len)
                    while (TryLower(from, Math.Min(n, from + len), target)) { }
            if (accepted == round) break;   // no run of any length can be lowered by one: a local minimum
        }
        // the trial runs keep no per-request outcomes (and the last window may have been raised to 1): replay the result
        return (sims > 0 ? replay.Run(s, keepRequests: true) : cur, accepted, sims);
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
