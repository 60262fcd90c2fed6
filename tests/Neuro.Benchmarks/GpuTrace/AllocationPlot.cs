namespace Neuro.Benchmarks.GpuTrace;

public static class AllocationPlot
{
    public static void Save(string path, string trace, IReadOnlyList<PolicySummary> rows, double inflate)
    {
        var plt = new ScottPlot.Plot();
        var max = inflate * 100;
        var ideal = plt.Add.Line(0, 0, 100, 100);
        ideal.LegendText = "arrived (ideal)";
        ideal.LinePattern = ScottPlot.LinePattern.Dotted;
        ideal.Color = ScottPlot.Colors.Gray;
        var flat = plt.Add.Line(100, 100, max, 100);
        flat.LinePattern = ScottPlot.LinePattern.Dotted;
        flat.Color = ScottPlot.Colors.Gray;
        foreach (var r in rows)
        {
            var s = plt.Add.ScatterLine(r.Grid, r.MeanCurve);
            s.LegendText = $"{r.Policy} ({r.Unalloc100Mean:F2}% unalloc. @100%)";
            s.LineWidth = r.Policy is "Neuro" or "FGD" ? 2.5f : 1.5f;
        }
        plt.Title($"GPU allocation vs arrived GPU request — openb {trace} (mean of {rows.FirstOrDefault()?.Seeds} seeds)");
        plt.XLabel("arrived GPU request (% of cluster GPU capacity)");
        plt.YLabel("allocated GPU (% of capacity)");
        plt.Axes.SetLimits(60, max, 60, 101);
        plt.ShowLegend(ScottPlot.Alignment.LowerRight);
        plt.SavePng(path, 1100, 700);
    }
}
