namespace Neuro.Autoscaling.Forecasting;

/// <summary>
/// Prophet-style additive model fitted by regularised (ridge) least squares: piecewise-linear trend with
/// <c>Changepoints</c> potential changepoints in the first 80% of the history (ridge penalty on their slope changes,
/// standing in for Prophet's Laplace prior, changepoint_prior_scale), daily and weekly Fourier terms, and the seed's
/// business-hours regressor. <c>Multiplicative</c> fits log(y) (Prophet's multiplicative seasonality).
/// </summary>
public sealed class ProphetLike
{
    public sealed record Options
    {
        public int DailyOrder { get; init; } = 10;
        public int WeeklyOrder { get; init; } = 4;
        public int Changepoints { get; init; } = 15;
        public double ChangepointPenalty { get; init; } = 10;
        public double SeasonalityPenalty { get; init; } = 0.01;
        public bool Multiplicative { get; init; } = true;
        public Calendar Calendar { get; init; } = new();
    }

    private readonly Options _o;
    private double _t0, _tScale;
    private double[] _cps = [];
    private double[] _beta = [];

    public ProphetLike(Options? o = null) { _o = o ?? new Options(); }

    public void Fit(ReadOnlySpan<double> times, ReadOnlySpan<double> values)
    {
        var n = times.Length;
        _t0 = times[0]; _tScale = Math.Max(1, times[n - 1] - times[0]);
        _cps = Enumerable.Range(1, _o.Changepoints).Select(k => 0.8 * k / (_o.Changepoints + 1)).ToArray();
        var p = Width;
        var xtx = new double[p, p]; var xty = new double[p]; var row = new double[p];
        for (var i = 0; i < n; i++)
        {
            Features(times[i], row);
            var y = Target(values[i]);
            for (var a = 0; a < p; a++) { xty[a] += row[a] * y; for (var b = 0; b < p; b++) xtx[a, b] += row[a] * row[b]; }
        }
        // ridge: none on intercept/slope, strong on changepoint deltas, weak on seasonal/regressor terms
        for (var a = 2; a < p; a++) xtx[a, a] += (a < 2 + _cps.Length ? _o.ChangepointPenalty : _o.SeasonalityPenalty) * n / 100.0;
        _beta = LinearAlgebra.Solve(xtx, xty);
    }

    public double Predict(double t)
    {
        var row = new double[Width];
        Features(t, row);
        var y = 0.0;
        for (var a = 0; a < row.Length; a++) y += row[a] * _beta[a];
        return _o.Multiplicative ? Math.Exp(y) : Math.Max(0, y);
    }

    private double Target(double v) => _o.Multiplicative ? Math.Log(Math.Max(v, 1e-6)) : v;

    private int Width => 2 + _cps.Length + 2 * _o.DailyOrder + 2 * _o.WeeklyOrder + 1;

    private void Features(double t, double[] row)
    {
        var x = (t - _t0) / _tScale; var j = 0;
        row[j++] = 1; row[j++] = x;
        foreach (var c in _cps) row[j++] = Math.Max(0, x - c);
        for (var k = 1; k <= _o.DailyOrder; k++) { var w = 2 * Math.PI * k * t / 86400; row[j++] = Math.Sin(w); row[j++] = Math.Cos(w); }
        for (var k = 1; k <= _o.WeeklyOrder; k++) { var w = 2 * Math.PI * k * t / 604800; row[j++] = Math.Sin(w); row[j++] = Math.Cos(w); }
        row[j] = _o.Calendar.BusinessHours(t) ? 1 : 0;
    }
}

internal static class LinearAlgebra
{
    /// <summary>Solves A x = b by Gaussian elimination with partial pivoting (A is small and symmetric positive definite).</summary>
    public static double[] Solve(double[,] a, double[] b)
    {
        var n = b.Length; var m = (double[,])a.Clone(); var x = (double[])b.Clone();
        for (var c = 0; c < n; c++)
        {
            var piv = c;
            for (var r = c + 1; r < n; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[piv, c])) piv = r;
            if (Math.Abs(m[piv, c]) < 1e-12) { m[piv, c] = 1e-12; }
            if (piv != c) { for (var k = 0; k < n; k++) (m[c, k], m[piv, k]) = (m[piv, k], m[c, k]); (x[c], x[piv]) = (x[piv], x[c]); }
            for (var r = c + 1; r < n; r++)
            {
                var f = m[r, c] / m[c, c];
                if (f == 0) continue;
                for (var k = c; k < n; k++) m[r, k] -= f * m[c, k];
                x[r] -= f * x[c];
            }
        }
        for (var r = n - 1; r >= 0; r--)
        {
            var s = x[r];
            for (var k = r + 1; k < n; k++) s -= m[r, k] * x[k];
            x[r] = s / m[r, r];
        }
        return x;
    }
}
