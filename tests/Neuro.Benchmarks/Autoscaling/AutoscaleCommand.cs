using System.Diagnostics;
using Neuro.Autoscaling;
using Neuro.Autoscaling.Scalers;
using Neuro.Autoscaling.Simulation;

namespace Neuro.Benchmarks.Autoscaling;

/// <summary>
/// autoscale [--trace FILE]... [--held-out] [--model JSON] [--interval 15] [--seed 1] [--max-rows N] [--plot-dir DIR] [--decisions N]
///   [--oracle-target 0.99] [--oracle-budget SIMULATIONS] [--oracle-starts] [--front-door fifo|deadline]
/// Replays each trace through the simulator once per scaler (ours, baselines) plus the hindsight oracle and prints
/// SLO attainment, latency, GPU-hours and cost side by side.
/// </summary>
public static class AutoscaleCommand
{
    public const string DefaultModel = "src/Neuro.Autoscaling/ServiceModels/llama3-70b-tp4-a100.json";

    public static int Run(string[] argv)
    {
        var a = new CliArgs(argv);
        var traces = a.All("trace").Count > 0 ? a.All("trace") : new[]
        {
            // the shared data folder beside the clone
            CliArgs.Locate("shared/data/traces/AzureLLMInferenceTrace_conv.csv"),
            CliArgs.Locate("shared/data/traces/mooncake_conversation_trace.jsonl"),
        };
        var modelPath = CliArgs.Locate(a.Get("model") ?? DefaultModel);
        var model = ServiceModel.Load(modelPath);
        var interval = a.Double("interval", 15);
        var seed = a.Int("seed", 1);
        Warmup = a.Double("warmup", Warmup);
        Initial = a.Get("initial") is { } ini ? int.Parse(ini) : null;
        OursUtil = a.Double("ours-util", OursUtil);
        OursDownWindow = a.Get("ours-down-window") is { } dw ? double.Parse(dw, System.Globalization.CultureInfo.InvariantCulture) : null;
        OursSigma = a.Double("ours-sigma", OursSigma);
        OursMiss = a.Double("ours-miss", OursMiss);
        OursCalibration = a.Double("ours-calib-window", OursCalibration);
        OursCalibrationSignal = a.Get("ours-calib") switch
        {
            null => OursCalibrationSignal,
            "queued" => QueueingCalibrationSignal.FoundQueued,
            "misses" => QueueingCalibrationSignal.SloMisses,
            var other => throw new ArgumentException($"--ours-calib: '{other}' is not queued or misses"),
        };
        (OursVariability, OursArrivalVariability) = a.Get("ours-variability") switch
        {
            null => (OursVariability, OursArrivalVariability),
            "off" => (false, false),
            "service" => (true, false),
            "both" => (true, true),
            var other => throw new ArgumentException($"--ours-variability: '{other}' is not off, service or both"),
        };
        OursLoosen = a.Double("ours-max-loosen", OursLoosen);
        OursMaxVariability = a.Double("ours-max-variability", OursMaxVariability);
        OursInterval = a.Get("ours-interval") is { } oi ? double.Parse(oi, System.Globalization.CultureInfo.InvariantCulture) : null;
        FrontDoor = a.Get("front-door") switch
        {
            null or "fifo" => FrontDoorOrder.Fifo,
            "deadline" => FrontDoorOrder.DeadlineFirst,
            var other => throw new ArgumentException($"--front-door: '{other}' is not fifo or deadline"),
        };
        OracleTarget = a.Double("oracle-target", OracleTarget);
        OracleBudget = a.Int("oracle-budget", OracleBudget);
        OracleStarts = a.Flag("oracle-starts");
        int? maxRows = a.Get("max-rows") is { } mr ? int.Parse(mr) : null;
        Require(interval is > 0 and < 86_400, "--interval", "must be a number of seconds above 0");
        Require(OursInterval is null or (> 0 and < 86_400), "--ours-interval", "must be a number of seconds above 0");
        Require(Warmup is >= 0 and < 1e9, "--warmup", "must be 0 or more seconds");
        Require(OursMiss is >= 0 and < 1, "--ours-miss", "must be in [0, 1) (0 turns the queueing view off)");
        Require(OursLoosen is >= 1 and < 1e6, "--ours-max-loosen", "must be 1 or more");
        Require(OursMaxVariability is >= 0.5 and < 1e6, "--ours-max-variability", "must be 0.5 or more");
        Require(OursCalibration is >= 0 and < 1e9, "--ours-calib-window", "must be 0 or more seconds");
        Require(OracleTarget is > 0 and <= 1, "--oracle-target", "must be in (0, 1]");
        Require(OracleBudget >= 0, "--oracle-budget", "must be 0 or more simulations");
        Require(maxRows is null or > 1, "--max-rows", "must be 2 or more");
        Console.WriteLine($"# autoscale: service model '{model.Name}' ({Path.GetFileName(modelPath)}), {model.GpusPerReplica} GPUs/replica, " +
                          $"cold {model.ColdStartSeconds}s, warm {model.WarmStartSeconds}s, ${model.GpuHourPrice}/GPU-h; control loop every {interval}s; seed {seed}; front door {FrontDoor}");
        Console.WriteLine($"# SLO: TTFT <= max({model.TtftSloSeconds}s, {model.TtftSloScale} x unloaded prefill time); goal: ours >= 99% at <= 1.15x oracle GPU-h, >= 25% fewer GPU-h than the best baseline at equal or better attainment");
        var runs = new List<(string Name, List<TraceRequest> Trace)>();
        // one parse per file: the held-out traces take their lengths from the same two real traces
        var loaded = new Dictionary<string, List<TraceRequest>>(StringComparer.Ordinal);
        List<TraceRequest> Load(string path) =>
            loaded.TryGetValue(path, out var t) ? t : loaded[path] = TraceLoader.Load(path, maxRows);
        foreach (var path in traces)
        {
            var trace = Load(path);
            // nothing after the warm-up would be scored or billed: say so instead of printing an empty comparison
            if (trace.Count < 2 || trace[^1].ArrivalSeconds <= Warmup)
                throw new ArgumentException($"{Path.GetFileName(path)}: its requests end at {(trace.Count > 0 ? trace[^1].ArrivalSeconds : 0):F0} s, within the {Warmup:F0}-s warm-up (lower --warmup or raise --max-rows)");
            runs.Add((Path.GetFileName(path), trace));
        }
        if (a.Flag("held-out")) runs.AddRange(HeldOut(seed, path => maxRows is null ? Load(path) : TraceLoader.Load(path)));
        var summary = new List<(string Name, List<SimulationResult> Results)>();
        foreach (var (name, trace) in runs)
        {
            var sw = Stopwatch.StartNew();
            // plots for the real traces only (the documented figures)
            var plots = name.StartsWith("held-out", StringComparison.Ordinal) ? null : a.Get("plot-dir");
            summary.Add((name, RunTrace(name, trace, model, interval, seed, plots, a.Int("decisions", 0))));
            Console.WriteLine($"({sw.Elapsed.TotalSeconds:F1} s for this trace)");
        }
        if (summary.Count > 1) PrintSummary(summary);
        return 0;
    }

    public static IReadOnlyList<IScaler> Scalers(ServiceModel m, IReadOnlyList<TraceRequest> trace)
    {
        var meanCtx = trace.Average(t => (double)t.ContextTokens);
        var meanOut = trace.Average(t => (double)t.OutputTokens);
        var cap = new ReplicaCapacity(m.PrefillTokensPerSecond(meanCtx), m.MaxSequences, m.KvCacheTokens, m.DecodeSecondsPerToken);
        // per-replica request capacity a user of the seed's rule would calibrate offline: the tighter of prefill and decode bounds
        var reqPerReplica = Math.Min(1 / m.PrefillSeconds((int)meanCtx), m.MaxSequences / (meanOut * m.DecodeSecondsPerToken));
        // queueing budget of the mean request under the SLO definition: SLO(mean prompt) − its unloaded prefill time
        var budget = Math.Max(0.5, m.SloFor((int)meanCtx) - m.PrefillSeconds((int)meanCtx));
        return
        [
            new TokenAwareScaler(Ours(m, cap, budget, false)),
            new TokenAwareScaler(Ours(m, cap, budget, true)),
            HpaScaler.Utilization(0.70, new HpaScaler.Options { Bounds = new(2, 64) }),
            HpaScaler.DutyCycle(0.70, new HpaScaler.Options { Bounds = new(2, 64) }),
            HpaScaler.KedaQueue(5, new HpaScaler.Options { Bounds = new(1, 64) }),
            new QueueBasedScaler(new ReplicaBounds(1, 64)),
            new SeedPredictiveScaler(new ReplicaBounds(2, 64), reqPerReplica),
        ];
    }

    /// <summary>Seconds at the start not scored or billed (--warmup); every scaler starts from <see cref="Initial"/> replicas
    /// (--initial; default 1), so the pool size at time 0 carries no hindsight.</summary>
    public static double Warmup { get; set; } = 600;

    /// <summary>Queue order of the front door, the same for every scaler and the oracle (--front-door fifo|deadline).</summary>
    public static FrontDoorOrder FrontDoor { get; set; } = FrontDoorOrder.Fifo;
    public static int? Initial { get; set; }

    /// <summary>Attainment the hindsight oracle must reach (--oracle-target; e.g. a baseline's attainment, to ask for the
    /// minimum GPU-hours at that level).</summary>
    public static double OracleTarget { get; set; } = 0.99;

    /// <summary>Prune budget of the oracle in simulations (--oracle-budget; 0 = the greedy repair only).</summary>
    public static int OracleBudget { get; set; } = HindsightOracle.DefaultPruneSimulations;

    /// <summary>Also print the oracle that pays warm starts like every scaler (--oracle-starts; as long again).</summary>
    public static bool OracleStarts { get; set; }

    /// <summary>Planned prefill utilisation of ours (--ours-util).</summary>
    public static double OursUtil { get; set; } = 0.9;

    /// <summary>Modelled per-request probability of waiting past the queueing budget that ours sizes for (--ours-miss).</summary>
    public static double OursMiss { get; set; } = 0.005;

    /// <summary>Window (s) of ours' online calibration of that target against how often requests were found queued
    /// (--ours-calib-window; 0 = off).</summary>
    public static double OursCalibration { get; set; } = 600;

    /// <summary>What ours calibrates against (--ours-calib queued|misses).</summary>
    public static QueueingCalibrationSignal OursCalibrationSignal { get; set; } = QueueingCalibrationSignal.SloMisses;

    /// <summary>G/G/c variability factor from measured arrival and prefill-work variation (--ours-variability on|off).</summary>
    public static bool OursVariability { get; set; } = true;
    public static bool OursArrivalVariability { get; set; } = true;

    public static double OursLoosen { get; set; } = 4;

    /// <summary>Upper bound of ours' (Ca² + Cs²) / 2 factor (--ours-max-variability).</summary>
    public static double OursMaxVariability { get; set; } = 20;

    /// <summary>Scale-down stabilisation window of ours, seconds (--ours-down-window); default: the cold start, the horizon
    /// over which a replica given back cannot return.</summary>
    public static double? OursDownWindow { get; set; }

    /// <summary>Demand headroom (standard deviations over the cold-start horizon) ours keeps when scaling down (--ours-sigma).</summary>
    public static double OursSigma { get; set; } = 1;

    /// <summary>Control interval of ours (--ours-interval; default: the common one). Ours runs on a grain timer inside the
    /// cluster, not on the HPA's 15-s sync period, so it may look more often.</summary>
    public static double? OursInterval { get; set; }

    public static TokenAwareOptions Ours(ServiceModel m, ReplicaCapacity cap, double budget, bool forecast) => new()
    {
        Capacity = cap, QueueDelayBudgetSeconds = budget, UseForecast = forecast, TargetPrefillUtilization = OursUtil,
        SloMissTarget = OursMiss, QueueingCalibrationWindowSeconds = OursCalibration, QueueingCalibration = OursCalibrationSignal,
        UseMeasuredVariability = OursVariability, UseArrivalVariability = OursArrivalVariability, QueueingCalibrationMaxLoosening = OursLoosen, MaxVariability = OursMaxVariability,
        ScaleDownWindowSeconds = OursDownWindow ?? m.ColdStartSeconds, ScaleDownHeadroomSigma = OursSigma,
        ColdStartSeconds = m.ColdStartSeconds, WarmStartSeconds = m.WarmStartSeconds,
    };

    public static SimulationOptions OptionsFor(IScaler s, double interval, int seed, int initial) => new()
    {
        ControlIntervalSeconds = s is TokenAwareScaler && OursInterval is { } oi ? oi : interval, Seed = seed, InitialReplicas = initial, KeepRequests = true, WarmupSeconds = Warmup,
        FrontDoor = FrontDoor,
        Forecaster = OnlineForecast.Holt(interval),
        // ours+forecast looks one cold start (+ a tick) ahead; the seed's rule uses its published 10-minute horizon
        ForecastHorizonSeconds = s.Name switch { "ours+forecast" => 75, "seed-predictive" => 600, _ => 0 },
        InitialWarmReplicas = s is TokenAwareScaler ? Math.Max(1, (int)Math.Ceiling(0.2 * initial)) : 0,
    };

    /// <summary>The baselines' rows of one trace's results: after ours and ours+forecast, before the oracle.</summary>
    private static IEnumerable<SimulationResult> Baselines(List<SimulationResult> results) => results.Skip(2).Take(results.Count - 3);

    private static void Require(bool ok, string option, string what)
    {
        if (!ok) throw new ArgumentException($"{option}: {what}");
    }

    /// <summary>
    /// Held-out traces (--held-out): arrivals shaped by two ServeGen m-mid days that no default was chosen on (days 12
    /// and 13, 144 ten-minute windows each played in one hour, collection outages forward-filled), Poisson (CV 1) or
    /// bursty gamma (CV 2) within windows; (prompt, output) pairs bootstrapped from the Azure or Mooncake trace at its
    /// own mean rate. Generated in memory with the run's seed; `synth-trace` writes the same traces to files.
    /// </summary>
    public static IEnumerable<(string Name, List<TraceRequest> Trace)> HeldOut(int seed, Func<string, List<TraceRequest>> load)
    {
        var ratesPath = CliArgs.Locate("shared/data/rates/servegen_language_m-mid.csv");
        var series = Neuro.Autoscaling.Forecasting.RateSeries.Load(ratesPath);
        var azurePath = CliArgs.Locate("shared/data/traces/AzureLLMInferenceTrace_conv.csv");
        var moonPath = CliArgs.Locate("shared/data/traces/mooncake_conversation_trace.jsonl");
        var azure = load(azurePath); var moon = load(moonPath);
        foreach (var (day, lengths, source, path, rate, cv) in new[]
                 {
                     (12, "azure", azure, azurePath, 5.5, 1.0), (12, "azure", azure, azurePath, 5.5, 2.0), (13, "azure", azure, azurePath, 5.5, 1.0),
                     (12, "mooncake", moon, moonPath, 3.4, 1.0), (13, "mooncake", moon, moonPath, 3.4, 1.0), (13, "mooncake", moon, moonPath, 3.4, 2.0),
                 })
        {
            var (o, _) = SynthTraceCommand.Options(series, Path.GetFileName(ratesPath), day * SynthTraceCommand.WindowsPerDay, SynthTraceCommand.WindowsPerDay,
                3600, rate, cv, seed, source, path, keepOutages: false);
            yield return ($"held-out day {day}, {lengths} lengths, cv {cv:0}", SyntheticTrace.Generate(o));
        }
    }

    private static void PrintSummary(List<(string Name, List<SimulationResult> Results)> summary)
    {
        Console.WriteLine();
        Console.WriteLine("## Summary: attainment / GPU-h (x oracle) per trace");
        Console.WriteLine();
        Console.WriteLine("| trace | ours | ours+forecast | seed-predictive | hpa-util70 | cheapest other baseline >= ours' attainment | oracle |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var (name, results) in summary)
        {
            var oracle = results[^1]; var og = oracle.GpuHours;
            string Cell(SimulationResult r) => $"{r.SloAttainment:P2} / {r.GpuHours:F1} ({r.GpuHours / og:F2}x)";
            SimulationResult By(string n) => results.First(r => r.Scaler == n);
            var ours = results[0];
            var rival = Baselines(results).Where(b => b.SloAttainment >= ours.SloAttainment - 1e-12).OrderBy(b => b.GpuHours).FirstOrDefault();
            var rivalCell = rival is null ? "none" : $"{rival.Scaler}: {Cell(rival)}; ours {100 * (1 - ours.GpuHours / rival.GpuHours):F1}% fewer GPU-h";
            Console.WriteLine($"| {name} | {Cell(ours)} | {Cell(results[1])} | {Cell(By("seed-predictive"))} | {Cell(By("hpa-util70"))} | {rivalCell} | {Cell(oracle)} |");
        }
    }

    private static List<SimulationResult> RunTrace(string name, List<TraceRequest> trace, ServiceModel m, double interval, int seed, string? plotDir, int showDecisions)
    {
        var span = trace[^1].ArrivalSeconds;
        Console.WriteLine();
        Console.WriteLine($"## {name}: {trace.Count} requests over {span:F0} s ({trace.Count / span:F2} req/s), prompt mean {trace.Average(t => t.ContextTokens):F0} tok, output mean {trace.Average(t => t.OutputTokens):F0} tok");
        var oracleClock = Stopwatch.StartNew();
        var oracle = HindsightOracle.Run(m, trace, interval, OracleTarget, seed: seed, warmupSeconds: Warmup, maxPruneSimulations: OracleBudget,
            options: new SimulationOptions { FrontDoor = FrontDoor });
        var oracleSeconds = oracleClock.Elapsed.TotalSeconds;
        // optional second reference: the same hindsight paying the start costs every scaler pays (warm starts, billed)
        var withStarts = OracleStarts
            ? HindsightOracle.Run(m, trace, interval, OracleTarget, seed: seed, warmupSeconds: Warmup, maxPruneSimulations: OracleBudget,
                options: new SimulationOptions { FrontDoor = FrontDoor }, payStarts: true).Simulated with { Scaler = "oracle, paying warm starts" }
            : null;
        // every scaler starts from the same small pool and the first Warmup seconds are neither scored nor billed
        var initial = Initial ?? 1;
        var results = new List<SimulationResult>();
        foreach (var s in Scalers(m, trace))
        {
            var sim = new Simulator(m, trace, OptionsFor(s, interval, seed, initial) with { KeepDecisions = showDecisions > 0 });
            var r = sim.Run(s);
            results.Add(r);
            if (showDecisions > 0)
                foreach (var (t, d) in r.Decisions.Take(showDecisions)) Console.WriteLine($"  [{r.Scaler} t={t:F0}s] {d}");
        }
        results.Add(oracle.Simulated);
        var og = oracle.Simulated.GpuHours;
        Console.WriteLine($"initial replicas {initial}, first {Warmup:F0} s not scored or billed ({results[0].Requests} requests scored); oracle (target {OracleTarget:P2}): " +
                          $"greedy repair {oracle.Repaired?.GpuHours:F2} GPU-h at {oracle.Repaired?.SloAttainment:P2} in {oracle.Iterations} iterations (arrival-window repair: {oracle.ArrivalRepairIterations}), " +
                          $"pruned {oracle.Simulated.GpuHours:F2} GPU-h at {oracle.Simulated.SloAttainment:P2} (from the {oracle.PruneStart}: {oracle.PruneAccepted} cuts kept in {oracle.PruneSimulations} simulations), " +
                          $"{oracleSeconds:F1} s; per-window fluid estimate {oracle.FluidGpuHours:F1} GPU-h, work lower bound {oracle.WorkBoundGpuHours:F2} GPU-h");
        Console.WriteLine();
        Console.WriteLine("| scaler | TTFT-SLO attainment | TTFT p50 / p95 / p99 (s) | E2E p95 (s) | GPU-hours | × oracle | warm stand-by h | cost ($) | max replicas | scale changes |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in withStarts is null ? results : results.Append(withStarts))
            Console.WriteLine($"| {r.Scaler} | {r.SloAttainment:P2} | {r.TtftP50:F2} / {r.TtftP95:F2} / {r.TtftP99:F2} | {r.E2EP95:F1} | {r.GpuHours:F1} | {r.GpuHours / og:F2} | {r.WarmReplicaHours:F1} | {r.Cost:F0} | {r.MaxReplicas} | {r.ScaleEvents} |");

        var ours = results[0];
        var baselines = Baselines(results).ToList();
        var bestBaseline = baselines.Where(b => b.SloAttainment >= 0.99).OrderBy(b => b.GpuHours).FirstOrDefault();
        Console.WriteLine();
        Console.WriteLine($"goal check (ours): attainment {ours.SloAttainment:P2} (>= 99%: {(ours.SloAttainment >= 0.99 ? "yes" : "NO")}); " +
                          $"GPU-h {ours.GpuHours / og:F2}x oracle (<= 1.15: {(ours.GpuHours <= 1.15 * og ? "yes" : "NO")})" +
                          (withStarts is null ? "" : $"; {ours.GpuHours / withStarts.GpuHours:F2}x the oracle paying warm starts"));
        foreach (var b in baselines)
            Console.WriteLine($"  vs {b.Scaler}: attainment {b.SloAttainment:P2} vs ours {ours.SloAttainment:P2}; ours uses {100 * (1 - ours.GpuHours / b.GpuHours):F1}% fewer GPU-h");
        if (bestBaseline is not null)
            Console.WriteLine($"  cheapest baseline reaching 99%: {bestBaseline.Scaler}, {bestBaseline.GpuHours:F1} GPU-h; ours {100 * (1 - ours.GpuHours / bestBaseline.GpuHours):F1}% fewer");
        else Console.WriteLine("  no baseline reaches 99% attainment");

        // scale-from-zero: the first request of this trace hits an empty pool
        var first = new List<TraceRequest> { trace[0] with { ArrivalSeconds = 0 } };
        var sfz = ScaleFromZero(m, first, interval, seed);
        Console.WriteLine($"scale-from-zero (simulated, first request {trace[0].ContextTokens} prompt tokens): TTFT {sfz.Warm:F2} s from a warm stand-by, {sfz.Cold:F2} s cold");

        if (plotDir is not null)
        {
            Directory.CreateDirectory(plotDir);
            var plt = new ScottPlot.Plot();
            foreach (var r in results)
            {
                var xs = r.ReplicaSeries.Select(p => p.T / 60).ToArray(); var ys = r.ReplicaSeries.Select(p => (double)p.Provisioned).ToArray();
                var l = plt.Add.ScatterLine(xs, ys); l.LegendText = $"{r.Scaler} ({r.SloAttainment:P1}, {r.GpuHours:F0} GPU-h)"; l.MarkerSize = 0;
                l.LineWidth = r.Scaler is "ours" or "oracle" ? 2.5f : 1.2f;
                l.ConnectStyle = ScottPlot.ConnectStyle.StepHorizontal;
            }
            plt.Title($"{name}: provisioned replicas over time"); plt.XLabel("minute"); plt.YLabel("replicas (ready + starting)");
            plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
            var png = Path.Combine(plotDir, $"autoscale-{Path.GetFileNameWithoutExtension(name)}.png");
            plt.SavePng(png, 1400, 650);
            Console.WriteLine($"plot: {png}");
        }
        return results;
    }

    public static (double Warm, double Cold) ScaleFromZero(ServiceModel m, IReadOnlyList<TraceRequest> oneRequest, double interval, int seed)
    {
        var cap = new ReplicaCapacity(m.PrefillTokensPerSecond(oneRequest[0].ContextTokens), m.MaxSequences, m.KvCacheTokens, m.DecodeSecondsPerToken);
        var warm = new Simulator(m with { StartJitter = 0 }, oneRequest, new SimulationOptions { ControlIntervalSeconds = interval, InitialReplicas = 0, InitialWarmReplicas = 1, Seed = seed })
            .Run(new TokenAwareScaler(new TokenAwareOptions { Capacity = cap, PrewarmPercent = 20 }));
        var cold = new Simulator(m with { StartJitter = 0 }, oneRequest, new SimulationOptions { ControlIntervalSeconds = interval, InitialReplicas = 0, Seed = seed })
            .Run(new TokenAwareScaler(new TokenAwareOptions { Capacity = cap, PrewarmPercent = 0 }));
        return (warm.Outcomes[0].Ttft, cold.Outcomes[0].Ttft);
    }
}
