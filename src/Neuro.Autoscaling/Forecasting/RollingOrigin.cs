namespace Neuro.Autoscaling.Forecasting;

public sealed record ForecastEvalOptions
{
    /// <summary>Trailing days held out; each of their windows is one forecast origin.</summary>
    public double TestDays { get; init; } = 4;
    public double HorizonSeconds { get; init; } = 600;
    /// <summary>Prophet-like model refit cadence in steps (1 = refit at every origin).</summary>
    public int ProphetRefitSteps { get; init; } = 1;
    /// <summary>Boosted model refit cadence in steps (default: once per day); lag features always use data up to the origin.</summary>
    public int? BoostRefitSteps { get; init; }
    public LagBoost.Trainer Trainer { get; init; } = LagBoost.Trainer.LightGbm;
    public ProphetLike.Options Prophet { get; init; } = new();
    /// <summary>Windows below this fraction of the series median are collection gaps (outages): they are forward-filled
    /// as model inputs, skipped as training targets and not scored. 0 disables.</summary>
    public double GapFraction { get; init; } = 0.05;
}

public sealed record MethodScore(string Method, double Mae, double MapePercent, int Points);

public sealed record ForecastEvaluation(
    IReadOnlyList<MethodScore> Scores, int HorizonSteps, int FirstTarget, double[] Times, double[] Actual,
    IReadOnlyDictionary<string, double[]> Forecasts, bool[] Gaps);

/// <summary>
/// Rolling-origin evaluation: for every target window in the last <c>TestDays</c>, forecast it from the data up to
/// <c>HorizonSeconds</c> before it (models fitted only on data before the origin), and score MAE and MAPE against
/// last-value and seasonal-naive (same window yesterday / last week) baselines. Methods:
/// prophet (ridge LS, trend + daily/weekly Fourier + business hours), boost (LightGbm/FastTree on lags),
/// seed-blend (seed 004 §5.3: 0.7·prophet + 0.3·boost on weekdays, 0.4/0.6 on weekends), and
/// ewma (α = 0.5 of the last values), and ours-blend (convex prophet/boost/ewma weights chosen each test day on the
/// previous day's out-of-sample forecasts).
/// </summary>
public static class RollingOrigin
{
    public static ForecastEvaluation Evaluate(RateSeries s, ForecastEvalOptions? options = null)
    {
        var o = options ?? new ForecastEvalOptions();
        var n = s.Count; var step = s.StepSeconds;
        var h = Math.Max(1, (int)Math.Round(o.HorizonSeconds / step));
        var d = (int)Math.Round(86400 / step);
        var firstTarget = n - (int)Math.Round(o.TestDays * d);
        var valStart = firstTarget - d;
        var boostRefit = o.BoostRefitSteps ?? d;
        var boost = new LagBoost(step, h, o.Prophet.Calendar, o.Trainer);
        if (valStart - h < boost.MinHistory + 50 + h)
            throw new ArgumentException($"series too short: {n} windows, need more than {o.TestDays + 1} days plus {boost.MinHistory + 50} windows of history");

        // gaps: forward-fill as inputs; never a training target or a scored target
        var gap = new bool[n];
        var median = s.Values.Order().ElementAt(n / 2);
        for (var i = 0; i < n; i++) gap[i] = o.GapFraction > 0 && s.Values[i] < o.GapFraction * median;
        var x = (double[])s.Values.Clone();
        for (var i = 1; i < n; i++) if (gap[i]) x[i] = x[i - 1];
        var names = new[] { "last-value", "seasonal-naive-day", "seasonal-naive-week", "prophet", "boost", "ewma", "seed-blend", "ours-blend" };
        var f = names.ToDictionary(x => x, _ => Enumerable.Repeat(double.NaN, n).ToArray());
        var prophet = new ProphetLike(o.Prophet);
        int lastProphetFit = -1_000_000, lastBoostFit = -1_000_000;
        var cal = o.Prophet.Calendar;
        (double P, double B) oursWeight = (1 / 3.0, 1 / 3.0); int oursDay = -1;
        var ewma = new double[n]; ewma[0] = x[0];
        for (var i = 1; i < n; i++) ewma[i] = 0.5 * x[i] + 0.5 * ewma[i - 1];

        for (var j = valStart; j < n; j++)
        {
            var t = j - h;
            f["last-value"][j] = x[t];
            f["seasonal-naive-day"][j] = j - d >= 0 ? x[j - d] : double.NaN;
            f["seasonal-naive-week"][j] = j - 7 * d >= 0 ? x[j - 7 * d] : double.NaN;
            if (t - lastProphetFit >= o.ProphetRefitSteps)
            {
                var keep = Enumerable.Range(0, t + 1).Where(i => !gap[i]).ToArray();
                prophet.Fit(keep.Select(i => s.Times[i]).ToArray(), keep.Select(i => s.Values[i]).ToArray());
                lastProphetFit = t;
            }
            if (t - lastBoostFit >= boostRefit) { boost.Fit(s.Times, x, t + 1, gap); lastBoostFit = t; }
            var pr = prophet.Predict(s.Times[j]);
            var bo = boost.Predict(s.Times, x, t);
            f["prophet"][j] = pr; f["boost"][j] = bo; f["ewma"][j] = ewma[t];
            var w = cal.IsWeekend(s.Times[j]) ? 0.4 : 0.7;
            f["seed-blend"][j] = w * pr + (1 - w) * bo;
            if (j >= firstTarget)
            {
                var day = (j - firstTarget) / d;
                if (day != oursDay)
                {
                    oursDay = day;
                    var from = firstTarget + (day - 1) * d; // previous day's targets (all out-of-sample, origins before this day)
                    oursWeight = BestWeights(s.Values, f["prophet"], f["boost"], f["ewma"], from, from + d, j - h, gap);
                }
                f["ours-blend"][j] = oursWeight.P * pr + oursWeight.B * bo + (1 - oursWeight.P - oursWeight.B) * ewma[t];
            }
        }

        var scores = names.Select(m => Score(m, s.Values, f[m], firstTarget, n, gap)).ToList();
        return new ForecastEvaluation(scores, h, firstTarget, s.Times, s.Values, f, gap);
    }

    /// <summary>Convex weights (step 0.05) of a, b and c = 1 − wa − wb minimising MAE over targets [from, to) known by <paramref name="knownUpTo"/>.</summary>
    internal static (double A, double B) BestWeights(double[] y, double[] a, double[] b, double[] c, int from, int to, int knownUpTo, bool[]? skip = null)
    {
        (double, double) best = (1 / 3.0, 1 / 3.0); var bestErr = double.MaxValue;
        for (var i = 0; i <= 20; i++)
            for (var k = 0; k <= 20 - i; k++)
            {
                double wa = i / 20.0, wb = k / 20.0, err = 0; var cnt = 0;
                for (var j = from; j < Math.Min(to, knownUpTo + 1); j++)
                {
                    if (double.IsNaN(a[j]) || double.IsNaN(b[j]) || double.IsNaN(c[j]) || (skip?[j] ?? false)) continue;
                    err += Math.Abs(y[j] - (wa * a[j] + wb * b[j] + (1 - wa - wb) * c[j])); cnt++;
                }
                if (cnt > 0 && err < bestErr - 1e-12) { bestErr = err; best = (wa, wb); }
            }
        return best;
    }

    /// <summary>Prophet weight in [0,1] (step 0.05) minimising MAE over targets [from, to) whose values are known by <paramref name="knownUpTo"/>.</summary>
    internal static double BestWeight(double[] y, double[] a, double[] b, int from, int to, int knownUpTo, bool[]? skip = null)
    {
        var best = 0.5; var bestErr = double.MaxValue;
        for (var k = 0; k <= 20; k++)
        {
            var w = k / 20.0; var err = 0.0; var cnt = 0;
            for (var j = from; j < Math.Min(to, knownUpTo + 1); j++)
            {
                if (double.IsNaN(a[j]) || double.IsNaN(b[j]) || (skip?[j] ?? false)) continue;
                err += Math.Abs(y[j] - (w * a[j] + (1 - w) * b[j])); cnt++;
            }
            if (cnt > 0 && err < bestErr) { bestErr = err; best = w; }
        }
        return best;
    }

    public static MethodScore Score(string name, double[] actual, double[] forecast, int from, int to, bool[]? skip = null)
    {
        double abs = 0, pct = 0; int n = 0, np = 0;
        for (var j = from; j < to; j++)
        {
            if (double.IsNaN(forecast[j]) || (skip?[j] ?? false)) continue;
            var e = Math.Abs(actual[j] - forecast[j]);
            abs += e; n++;
            if (actual[j] > 0) { pct += e / actual[j]; np++; }
        }
        return new MethodScore(name, n > 0 ? abs / n : double.NaN, np > 0 ? 100 * pct / np : double.NaN, n);
    }
}
