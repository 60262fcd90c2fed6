namespace Neuro.Autoscaling.Forecasting;

/// <summary>
/// Hindsight references for how low a one-step MAPE can go on a series, scored on the same targets as
/// <see cref="RollingOrigin"/>. These are NOT forecasts: each one cheats on purpose (looks at values after the target,
/// or fits its coefficients on the test targets themselves), so a causal forecaster scoring near or above them is at
/// the noise floor, and a goal below them is out of reach for any forecaster of that family.
/// <list type="bullet">
/// <item>oracle-neighbours: mean of the (gap-filled) windows just before and just after the target.</item>
/// <item>oracle-two-sided-ls: log-linear least squares on the 3 windows before and the 3 after, fitted on the scored targets.</item>
/// <item>oracle-causal-ar: log-linear AR(12) on the 12 windows before the target, fitted on the scored targets (the best
/// linear causal predictor in hindsight; what an online linear method could at most approach).</item>
/// </list>
/// </summary>
public static class NoiseFloor
{
    public static IReadOnlyList<MethodScore> Evaluate(RateSeries s, ForecastEvaluation ev, double gapFraction = 0.05)
    {
        var n = s.Count; var from = ev.FirstTarget;
        var gapIn = RollingOrigin.CausalGaps(s.Values, gapFraction, 7 * (int)Math.Round(86400 / s.StepSeconds));
        var x = (double[])s.Values.Clone();
        for (var i = 1; i < n; i++) if (gapIn[i]) x[i] = x[i - 1];
        var lx = x.Select(v => Math.Log(Math.Max(v, 1e-6))).ToArray();
        var targets = Enumerable.Range(from, n - from).Where(j => !ev.Gaps[j] && s.Values[j] > 0 && j >= 12).ToArray();

        if (targets.Length == 0) return [];
        var neighbours = Enumerable.Repeat(double.NaN, n).ToArray();
        foreach (var j in targets) neighbours[j] = j + 1 < n ? (x[j - 1] + x[j + 1]) / 2 : x[j - 1];
        double[] Lags(int j, int k) => Enumerable.Range(1, k).Select(i => lx[j - i]).ToArray();
        double[] Both(int j, int k) => Enumerable.Range(1, k).Select(i => lx[j - i]).Concat(Enumerable.Range(1, k).Select(i => lx[Math.Min(n - 1, j + i)])).ToArray();
        return
        [
            RollingOrigin.Score("oracle-neighbours", s.Values, neighbours, from, n, ev.Gaps),
            RollingOrigin.Score("oracle-two-sided-ls", s.Values, HindsightLs(s.Values, targets, j => Both(j, 3), n), from, n, ev.Gaps),
            RollingOrigin.Score("oracle-causal-ar", s.Values, HindsightLs(s.Values, targets, j => Lags(j, 12), n), from, n, ev.Gaps),
        ];
    }

    /// <summary>Least squares of log(y[j]) on [1, features(j)] over <paramref name="targets"/>, evaluated on those same targets.</summary>
    private static double[] HindsightLs(double[] y, int[] targets, Func<int, double[]> features, int n)
    {
        var p = features(targets[0]).Length + 1;
        var a = new double[p, p]; var b = new double[p];
        var rows = targets.Select(j => features(j).Prepend(1.0).ToArray()).ToArray();
        for (var r = 0; r < rows.Length; r++)
        {
            var ly = Math.Log(y[targets[r]]);
            for (var i = 0; i < p; i++) { b[i] += rows[r][i] * ly; for (var k = 0; k < p; k++) a[i, k] += rows[r][i] * rows[r][k]; }
        }
        var beta = LinearAlgebra.Solve(a, b);
        var f = Enumerable.Repeat(double.NaN, n).ToArray();
        for (var r = 0; r < rows.Length; r++) f[targets[r]] = Math.Exp(rows[r].Zip(beta, (u, v) => u * v).Sum());
        return f;
    }
}
