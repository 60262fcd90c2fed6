using System.Diagnostics;
using Neuro.Autoscaling.Forecasting;

namespace Neuro.Benchmarks.Autoscaling;

/// <summary>
/// forecast [--rates FILE] [--test-days 4] [--horizon 600] [--trainer lightgbm|fasttree] [--additive]
///          [--start-dow 0] [--plot PNG] [--csv FILE] [--noise-floor]
/// Rolling-origin evaluation of the forecasters on any two-column rate file (window_start_s,requests_per_s).
/// </summary>
public static class ForecastCommand
{
    public static int Run(string[] argv)
    {
        var a = new CliArgs(argv);
        var path = a.Get("rates") ?? CliArgs.Locate("shared/data/rates/servegen_language_m-mid.csv"); // the shared folder beside the clone
        var series = RateSeries.Load(path);
        var opts = new ForecastEvalOptions
        {
            TestDays = a.Double("test-days", 4), HorizonSeconds = a.Double("horizon", 600),
            ProphetRefitSteps = a.Int("prophet-refit", 1),
            Trainer = a.Get("trainer") is "fasttree" ? LagBoost.Trainer.FastTree : LagBoost.Trainer.LightGbm,
            GapFraction = a.Flag("keep-gaps") ? 0 : 0.05,
            Prophet = new ProphetLike.Options { Multiplicative = !a.Flag("additive"), Calendar = new Calendar(a.Int("start-dow", 0)) },
        };
        var sw = Stopwatch.StartNew();
        var ev = RollingOrigin.Evaluate(series, opts);
        sw.Stop();
        Console.WriteLine($"# forecast: {Path.GetFileName(path)}: {series.Count} windows of {series.StepSeconds:F0} s; horizon {opts.HorizonSeconds:F0} s ({ev.HorizonSteps} step); " +
                          $"rolling origin over the last {opts.TestDays} days ({series.Count - ev.FirstTarget} targets, {ev.Gaps.Skip(ev.FirstTarget).Count(g => g)} gap windows not scored; {ev.Gaps.Count(g => g)} gaps in the series); boost={opts.Trainer}, prophet {(opts.Prophet.Multiplicative ? "multiplicative (log)" : "additive")}; {sw.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine();
        Console.WriteLine("| method | MAE (req/s) | MAPE % | points |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var s in ev.Scores) Console.WriteLine($"| {s.Method} | {s.Mae:F2} | {s.MapePercent:F2} | {s.Points} |");
        if (a.Flag("noise-floor"))
        {
            // hindsight references, not forecasts (see NoiseFloor): how low MAPE can go on this series
            Console.WriteLine();
            Console.WriteLine("| hindsight reference (not a forecast) | MAE (req/s) | MAPE % | points |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var s in NoiseFloor.Evaluate(series, ev, opts.GapFraction)) Console.WriteLine($"| {s.Method} | {s.Mae:F2} | {s.MapePercent:F2} | {s.Points} |");
        }

        if (a.Get("csv") is { } csv)
        {
            using var w = new StreamWriter(csv);
            var names = ev.Forecasts.Keys.ToList();
            w.WriteLine("window_start_s,actual," + string.Join(',', names));
            for (var j = ev.FirstTarget; j < series.Count; j++)
                w.WriteLine($"{series.Times[j]},{series.Values[j]:F4}," + string.Join(',', names.Select(n => ev.Forecasts[n][j].ToString("F4"))));
        }
        if (a.Get("plot") is { } png)
        {
            var plt = new ScottPlot.Plot();
            var xs = Enumerable.Range(ev.FirstTarget, series.Count - ev.FirstTarget).Select(j => series.Times[j] / 86400.0).ToArray();
            double[] Sel(double[] v) => Enumerable.Range(ev.FirstTarget, series.Count - ev.FirstTarget).Select(j => v[j]).ToArray();
            var act = plt.Add.ScatterLine(xs, Sel(series.Values)); act.LegendText = "actual"; act.LineWidth = 2; act.Color = ScottPlot.Colors.Black; act.MarkerSize = 0;
            foreach (var (m, c) in new[] { ("ours-hedge", ScottPlot.Colors.Green), ("ours-blend", ScottPlot.Colors.Red), ("seed-blend", ScottPlot.Colors.Blue), ("seasonal-naive-day", ScottPlot.Colors.Gray) })
            {
                var sc = ev.Scores.First(x => x.Method == m);
                var l = plt.Add.ScatterLine(xs, Sel(ev.Forecasts[m].ToArray())); l.LegendText = $"{m} (MAPE {sc.MapePercent:F1}%)"; l.Color = c; l.MarkerSize = 0; l.LineWidth = 1;
            }
            plt.Title($"{Path.GetFileName(path)}: {opts.HorizonSeconds / 60:F0}-min-ahead forecast vs actual, rolling origin, last {opts.TestDays} days");
            plt.XLabel("day"); plt.YLabel("requests/s");
            plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
            plt.SavePng(png, 1400, 600);
            Console.WriteLine($"\nplot: {png}");
        }
        return 0;
    }
}
