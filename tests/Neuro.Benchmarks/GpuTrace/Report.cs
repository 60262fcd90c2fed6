using System.Globalization;
using System.Text;

namespace Neuro.Benchmarks.GpuTrace;

public sealed record PolicySummary(string Policy, double Unalloc100Mean, double Unalloc100Sd, double FirstBehindMean,
    double Alloc130Mean, double DecisionsPerSecond, double[] Grid, double[] MeanCurve, int Seeds)
{
    public static PolicySummary Of(string policy, IReadOnlyList<TraceRunResult> runs)
    {
        var un = runs.Select(r => 100 - r.AllocationAt(100)).ToArray();
        var mean = un.Average();
        var sd = un.Length > 1 ? Math.Sqrt(un.Sum(x => (x - mean) * (x - mean)) / (un.Length - 1)) : 0;
        var behind = runs.Select(r => r.FirstBehind()).Where(x => !double.IsNaN(x)).DefaultIfEmpty(double.NaN).Average();
        var maxArrived = runs.Min(r => r.Arrived[^1]);
        var alloc130 = runs.Average(r => r.Allocated[^1]);
        var dps = runs.Sum(r => r.Decisions) / runs.Sum(r => r.Elapsed.TotalSeconds);
        var grid = Enumerable.Range(0, (int)(maxArrived * 2) + 1).Select(i => i / 2.0).ToArray();
        var curve = grid.Select(x => runs.Average(r => r.AllocationAt(x))).ToArray();
        var name = runs.Count > 0 ? runs[0].Policy : policy;
        return new PolicySummary(name, mean, sd, behind, alloc130, dps, grid, curve, runs.Count);
    }
}

public static class Report
{
    /// <summary>ATC'23 simulator's cached results (expected_results), unallocated GPU % at 100% arrived, mean ± sd over 10 seeds.</summary>
    private static readonly Dictionary<string, Dictionary<string, (double Mean, double Sd)>> Published = new()
    {
        ["default"] = new(StringComparer.OrdinalIgnoreCase)
        {
            ["Random"] = (13.70, 0.33), ["DotProd"] = (9.38, 0.19), ["GpuClustering"] = (8.35, 0.61),
            ["GpuPacking"] = (8.22, 0.53), ["BestFit"] = (7.14, 0.14), ["FGD"] = (4.77, 0.11),
        },
        ["multigpu50"] = new(StringComparer.OrdinalIgnoreCase)
        {
            ["Random"] = (18.72, 0.83), ["DotProd"] = (5.27, 0.20), ["GpuClustering"] = (4.31, 0.28),
            ["GpuPacking"] = (3.94, 0.31), ["BestFit"] = (4.38, 0.18), ["FGD"] = (2.91, 0.11),
        },
    };

    /// <summary>Published (default trace only): first arrival % more than 1 point behind, allocation % at 130%.</summary>
    private static readonly Dictionary<string, (double Behind, double Alloc130)> PublishedDefaultCurve = new(StringComparer.OrdinalIgnoreCase)
    {
        ["FGD"] = (97, 95.4), ["BestFit"] = (94, 93.1), ["Random"] = (75.5, double.NaN),
    };

    public static string Table(string trace, IReadOnlyList<PolicySummary> rows)
    {
        static string F(double x, string fmt = "F2") => double.IsNaN(x) ? "–" : x.ToString(fmt, CultureInfo.InvariantCulture);
        var pub = Published.GetValueOrDefault(trace);
        var sb = new StringBuilder();
        sb.AppendLine($"Trace `{trace}` — unallocated GPU % at 100% arrived (lower is better), mean ± sd over {rows.FirstOrDefault()?.Seeds ?? 0} seeds");
        sb.AppendLine();
        sb.AppendLine("| policy | unallocated @100% (ours) | published | Δ vs published | first >1 pt behind (arrived %) | published | allocation @130% | published | decisions/s |");
        sb.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var r in rows)
        {
            var p = pub is not null && pub.TryGetValue(r.Policy, out var v) ? v : ((double, double)?)null;
            var c = trace == "default" && PublishedDefaultCurve.TryGetValue(r.Policy, out var cv) ? cv : ((double, double)?)null;
            sb.AppendLine($"| {r.Policy} | {F(r.Unalloc100Mean)} ± {F(r.Unalloc100Sd)} | {(p is { } pp ? $"{F(pp.Item1)} ± {F(pp.Item2)}" : "–")} | " +
                          $"{(p is { } pd ? (r.Unalloc100Mean - pd.Item1).ToString("+0.00;-0.00", CultureInfo.InvariantCulture) : "–")} | " +
                          $"{F(r.FirstBehindMean, "F1")} | {(c is { } c1 ? F(c1.Item1, "F1") : "–")} | {F(r.Alloc130Mean, "F1")} | {(c is { } c2 ? F(c2.Item2, "F1") : "–")} | " +
                          $"{r.DecisionsPerSecond.ToString("N0", CultureInfo.InvariantCulture)} |");
        }
        return sb.ToString();
    }
}
