using System.Globalization;
using Neuro.Autoscaling.Forecasting;
using Neuro.Autoscaling.Simulation;

namespace Neuro.Benchmarks.Autoscaling;

/// <summary>
/// synth-trace --out FILE.csv [--rates FILE] [--lengths TRACEFILE] [--start-window 1728] [--windows 144] [--seconds 3600]
///             [--mean-rate R] [--cv 1] [--seed 1] [--keep-outages]
/// Writes a held-out per-request trace (Azure CSV, readable by <c>autoscale --trace</c>): arrivals follow the rate
/// series' windows [start, start + windows) played in --seconds and rescaled to --mean-rate (default: the lengths
/// trace's own mean rate); prompt/output pairs are bootstrapped from --lengths (.csv Azure, .jsonl Mooncake).
/// Windows far below the trailing week's median are data-collection outages in ServeGen, not load (docs/autoscaling.md,
/// "Gaps"), so they are forward-filled like the forecaster's inputs; --keep-outages plays them as zero traffic instead.
/// Defaults: ServeGen m-mid day 12 (0-based; a day after the forecasters' training days) in one hour, Azure conv lengths.
/// </summary>
public static class SynthTraceCommand
{
    public const int WindowsPerDay = 144;

    public static int Run(string[] argv)
    {
        var a = new CliArgs(argv);
        var outPath = a.Get("out") ?? throw new ArgumentException("--out FILE.csv is required");
        if (outPath.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException("--out is written in the Azure CSV format; give it a .csv name so the trace loader reads it back as such");
        var ratesPath = a.Get("rates") ?? CliArgs.Locate("shared/data/rates/servegen_language_m-mid.csv");
        var lengthsPath = a.Get("lengths") ?? CliArgs.Locate("shared/data/traces/AzureLLMInferenceTrace_conv.csv");
        var series = RateSeries.Load(ratesPath);
        var start = a.Int("start-window", 12 * WindowsPerDay);
        var count = a.Int("windows", WindowsPerDay);
        var source = TraceLoader.Load(lengthsPath);
        var (opts, filled) = Options(series, Path.GetFileName(ratesPath), start, count, a.Double("seconds", 3600),
            a.Get("mean-rate") is null ? null : a.Double("mean-rate", 0), a.Double("cv", 1), a.Int("seed", 1), source, lengthsPath, a.Flag("keep-outages"));
        var meanRate = opts.MeanRate ?? 0;
        var trace = SyntheticTrace.Generate(opts);
        if (trace.Count == 0) throw new ArgumentException("the settings produced no requests (raise --mean-rate or --seconds)");
        SyntheticTrace.WriteAzureCsv(outPath, trace);

        var windowSeconds = opts.DurationSeconds / count;
        var zero = opts.WindowRates.Count(r => r == 0);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# synth-trace: {Path.GetFileName(ratesPath)} windows {start}..{start + count - 1} (day {start / (double)WindowsPerDay:0.##}, {count} x {series.StepSeconds:F0} s, {zero} at rate 0, {filled} outage windows forward-filled) " +
            $"played in {opts.DurationSeconds:F0} s ({windowSeconds:F1} s per window, {series.StepSeconds / windowSeconds:F1}x compressed); " +
            $"target mean {meanRate:F3} req/s, cv {opts.Cv}, seed {opts.Seed}; lengths bootstrapped from {Path.GetFileName(lengthsPath)} ({source.Count} pairs)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {outPath}: {trace.Count} requests, first at {trace[0].ArrivalSeconds:F2} s, last at {trace[^1].ArrivalSeconds:F1} s " +
            $"({trace.Count / opts.DurationSeconds:F3} req/s over {opts.DurationSeconds:F0} s); prompt mean {trace.Average(t => t.ContextTokens):F0} tok, output mean {trace.Average(t => t.OutputTokens):F0} tok; " +
            $"inter-arrival CV within windows {SyntheticTrace.WithinWindowCv(trace, windowSeconds):F2}"));
        return 0;
    }

    /// <summary>Generator settings for windows [start, start + count) of a rate series; ServeGen's collection outages
    /// (windows far below the trailing week's median) are forward-filled unless <paramref name="keepOutages"/>. A null
    /// mean rate means the length source's own.</summary>
    public static (SyntheticTraceOptions Options, int FilledOutageWindows) Options(RateSeries series, string ratesName, int start, int count,
        double seconds, double? meanRate, double cv, int seed, IReadOnlyList<TraceRequest> source, string sourceName, bool keepOutages)
    {
        if (start < 0 || count <= 0 || start + count > series.Count)
            throw new ArgumentException($"windows [{start}, {start + count}) are not inside the {series.Count} windows of {ratesName}");
        if (source.Count < 2) throw new InvalidDataException($"{sourceName}: needs at least two requests");
        var sourceSpan = source[^1].ArrivalSeconds;
        var values = series.Values.ToArray();
        var filled = 0;
        if (!keepOutages)
        {
            var gap = RollingOrigin.CausalGaps(values, 0.05, 7 * WindowsPerDay);
            for (var i = 1; i < values.Length; i++)
                if (gap[i]) { values[i] = values[i - 1]; if (i >= start && i < start + count) filled++; }
        }
        return (new SyntheticTraceOptions
        {
            WindowRates = values[start..(start + count)], DurationSeconds = seconds,
            MeanRate = meanRate ?? (sourceSpan > 0 ? source.Count / sourceSpan : 1),
            Cv = cv, Seed = seed, LengthSource = source,
        }, filled);
    }
}
