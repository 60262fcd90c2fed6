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
}

public sealed record MethodScore(string Method, double Mae, double MapePercent, int Points);

public sealed record ForecastEvaluation(
    IReadOnlyList<MethodScore> Scores, int HorizonSteps, int FirstTarget, double[] Times, double[] Actual,
    IReadOnlyDictionary<string, double[]> Forecasts);

/// <summary>
/// Rolling-origin evaluation: for every target window in the last <c>TestDays</c>, forecast it from the data up to
/// <c>HorizonSeconds</c> before it (models fitted only on data before the origin), and score MAE and MAPE against
/// last-value and seasonal-naive (same window yesterday / last week) baselines. Methods:
/// prophet (ridge LS, trend + daily/weekly Fourier + business hours), boost (LightGbm/FastTree on lags),
/// seed-blend (seed 004 §5.3: 0.7·prophet + 0.3·boost on weekdays, 0.4/0.6 on weekends), and
/// ours-blend (prophet/boost weight chosen each test day on the previous day's out-of-sample forecasts).
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

        var names = new[] { "last-value", "seasonal-naive-day", "seasonal-naive-week", "prophet", "boost", "seed-blend", "ours-blend" };
        var f = names.ToDictionary(x => x, _ => Enumerable.Repeat(double.NaN, n).ToArray());
        var prophet = new ProphetLike(o.Prophet);
        int lastProphetFit = int.MinValue, lastBoostFit = int.MinValue;
        var cal = o.Prophet.Calendar;
        double oursWeight = 0.5; int oursDay = -1;

        for (var j = valStart; j < n; j++)
        {
            var t = j - h;
            f["last-value"][j] = s.Values[t];
            f["seasonal-naive-day"][j] = j - d >= 0 ? s.Values[j - d] : double.NaN;
            f["seasonal-naive-week"][j] = j - 7 * d >= 0 ? s.Values[j - 7 * d] : double.NaN;
            if (t - lastProphetFit >= o.ProphetRefitSteps)
            {
                prophet.Fit(s.Times.AsSpan(0, t + 1), s.Values.AsSpan(0, t + 1));
                lastProphetFit = t;
            }
            if (t - lastBoostFit >= boostRefit) { boost.Fit(s.Times, s.Values, t + 1); lastBoostFit = t; }
            var pr = prophet.Predict(s.Times[j]);
            var bo = boost.Predict(s.Times, s.Values, t);
            f["prophet"][j] = pr; f["boost"][j] = bo;
            var w = cal.IsWeekend(s.Times[j]) ? 0.4 : 0.7;
            f["seed-blend"][j] = w * pr + (1 - w) * bo;
            if (j >= firstTarget)
            {
                var day = (j - firstTarget) / d;
                if (day != oursDay)
                {
                    oursDay = day;
                    var from = firstTarget + (day - 1) * d; // previous day's targets (all out-of-sample, origins before this day)
                    oursWeight = BestWeight(s.Values, f["prophet"], f["boost"], from, from + d, j - h);
                }
                f["ours-blend"][j] = oursWeight * pr + (1 - oursWeight) * bo;
            }
        }

        var scores = names.Select(m => Score(m, s.Values, f[m], firstTarget, n)).ToList();
        return new ForecastEvaluation(scores, h, firstTarget, s.Times, s.Values, f);
    }

    /// <summary>Prophet weight in [0,1] (step 0.05) minimising MAE over targets [from, to) whose values are known by <paramref name="knownUpTo"/>.</summary>
    internal static double BestWeight(double[] y, double[] a, double[] b, int from, int to, int knownUpTo)
    {
        var best = 0.5; var bestErr = double.MaxValue;
        for (var k = 0; k <= 20; k++)
        {
            var w = k / 20.0; var err = 0.0; var cnt = 0;
            for (var j = from; j < Math.Min(to, knownUpTo + 1); j++)
            {
                if (double.IsNaN(a[j]) || double.IsNaN(b[j])) continue;
                err += Math.Abs(y[j] - (w * a[j] + (1 - w) * b[j])); cnt++;
            }
            if (cnt > 0 && err < bestErr) { bestErr = err; best = w; }
        }
        return best;
    }

    public static MethodScore Score(string name, double[] actual, double[] forecast, int from, int to)
    {
        double abs = 0, pct = 0; int n = 0, np = 0;
        for (var j = from; j < to; j++)
        {
            if (double.IsNaN(forecast[j])) continue;
            var e = Math.Abs(actual[j] - forecast[j]);
            abs += e; n++;
            if (actual[j] > 0) { pct += e / actual[j]; np++; }
        }
        return new MethodScore(name, n > 0 ? abs / n : double.NaN, np > 0 ? 100 * pct / np : double.NaN, n);
    }
}
