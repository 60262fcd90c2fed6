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
    /// <summary>Windows below this fraction of the median are collection gaps (outages). As model inputs and training
    /// targets the test is causal (<see cref="RollingOrigin.CausalGaps"/>: median of the trailing week up to the window);
    /// such windows are forward-filled as inputs and skipped as targets. The scored set uses the whole-series median: it
    /// only decides which targets are scored, identically for every method. 0 disables.</summary>
    public double GapFraction { get; init; } = 0.05;
    /// <summary>ours-hedge: memory of the exponentially weighted error, in days (one day: the blend follows the recent
    /// noise regime without forgetting it within an hour).</summary>
    public double HedgeMemoryDays { get; init; } = 1;
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
/// previous day's out-of-sample forecasts), and ours-hedge (online inverse-error blend of a pool of level smoothers —
/// EWMA and log-EWMA over α = 0.3 … 1 — plus prophet, boost and boost-logdiff (LightGbm on log(y[j]/y[t]), see
/// <see cref="LogDiffBoost"/>), weights from each member's exponentially weighted
/// percentage error on targets already known at the origin).
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
        var logBoost = new LogDiffBoost(step, h, o.Prophet.Calendar);
        if (valStart - h < boost.MinHistory + 50 + h)
            throw new ArgumentException($"series too short: {n} windows, need more than {o.TestDays + 1} days plus {boost.MinHistory + 50} windows of history");

        // Scored set: gaps by the whole-series median. It uses the targets themselves, but only to choose which targets
        // are scored, the same for every method; no forecast reads it.
        var gap = new bool[n];
        var median = s.Values.Order().ElementAt(n / 2);
        for (var i = 0; i < n; i++) gap[i] = o.GapFraction > 0 && s.Values[i] < o.GapFraction * median;
        // Model inputs: causal gap flags (window i judged from windows up to i), forward-filled; never a training target.
        var inGap = CausalGaps(s.Values, o.GapFraction, 7 * d);
        var x = (double[])s.Values.Clone();
        for (var i = 1; i < n; i++) if (inGap[i]) x[i] = x[i - 1];
        var names = new[] { "last-value", "seasonal-naive-day", "seasonal-naive-week", "prophet", "boost", "ewma", "seed-blend", "ours-blend", "boost-logdiff", "ours-hedge" };
        var f = names.ToDictionary(x => x, _ => Enumerable.Repeat(double.NaN, n).ToArray());
        var prophet = new ProphetLike(o.Prophet);
        int lastProphetFit = -1_000_000, lastBoostFit = -1_000_000;
        var cal = o.Prophet.Calendar;
        (double P, double B) oursWeight = (1 / 3.0, 1 / 3.0); int oursDay = -1;
        var ewma = new double[n]; ewma[0] = x[0];
        for (var i = 1; i < n; i++) ewma[i] = 0.5 * x[i] + 0.5 * ewma[i - 1];
        var hedge = new Hedge(x, Math.Exp(-1 / (o.HedgeMemoryDays * d)), models: 3);

        for (var j = valStart; j < n; j++)
        {
            var t = j - h;
            f["last-value"][j] = x[t];
            f["seasonal-naive-day"][j] = j - d >= 0 ? x[j - d] : double.NaN;
            f["seasonal-naive-week"][j] = j - 7 * d >= 0 ? x[j - 7 * d] : double.NaN;
            if (t - lastProphetFit >= o.ProphetRefitSteps)
            {
                var keep = Enumerable.Range(0, t + 1).Where(i => !inGap[i]).ToArray();
                prophet.Fit(keep.Select(i => s.Times[i]).ToArray(), keep.Select(i => s.Values[i]).ToArray());
                lastProphetFit = t;
            }
            if (t - lastBoostFit >= boostRefit) { boost.Fit(s.Times, x, t + 1, inGap); logBoost.Fit(s.Times, x, t + 1, inGap); lastBoostFit = t; }
            var pr = prophet.Predict(s.Times[j]);
            var bo = boost.Predict(s.Times, x, t);
            var lb = logBoost.Predict(s.Times, x, t);
            f["prophet"][j] = pr; f["boost"][j] = bo; f["boost-logdiff"][j] = lb; f["ewma"][j] = ewma[t];
            var w = cal.IsWeekend(s.Times[j]) ? 0.4 : 0.7;
            f["seed-blend"][j] = w * pr + (1 - w) * bo;
            // targets up to the origin t are known now: fold target t into the members' errors, then blend for j
            hedge.Observe(t, s.Values[t], inGap[t]);
            f["ours-hedge"][j] = hedge.Forecast(j, t, [pr, bo, lb]);
            if (j >= firstTarget)
            {
                var day = (j - firstTarget) / d;
                if (day != oursDay)
                {
                    oursDay = day;
                    var from = firstTarget + (day - 1) * d; // previous day's targets (all out-of-sample, origins before this day)
                    oursWeight = BestWeights(s.Values, f["prophet"], f["boost"], f["ewma"], from, from + d, j - h, inGap);
                }
                f["ours-blend"][j] = oursWeight.P * pr + oursWeight.B * bo + (1 - oursWeight.P - oursWeight.B) * ewma[t];
            }
        }

        var scores = names.Select(m => Score(m, s.Values, f[m], firstTarget, n, gap)).ToList();
        return new ForecastEvaluation(scores, h, firstTarget, s.Times, s.Values, f, gap);
    }

    /// <summary>
    /// Causal gap flags: window i is a gap if its value is below <paramref name="fraction"/> × the median of the non-gap
    /// windows among the <paramref name="trailing"/> windows up to i (itself included; the first window is never a gap).
    /// Non-gap windows only, so a long outage cannot drag the median to zero and hide itself.
    /// </summary>
    public static bool[] CausalGaps(IReadOnlyList<double> values, double fraction, int trailing)
    {
        var n = values.Count; var gap = new bool[n];
        if (fraction <= 0) return gap;
        var buf = new List<double>(trailing);
        for (var i = 1; i < n; i++)
        {
            buf.Clear();
            for (var k = Math.Max(0, i - trailing + 1); k <= i; k++) if (k == i || !gap[k]) buf.Add(values[k]);
            buf.Sort();
            gap[i] = values[i] < fraction * buf[buf.Count / 2];
        }
        return gap;
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

    /// <summary>
    /// ours-hedge: a weighted mean of several one-step-ahead forecasters, weights ∝ 1 / (exponentially weighted mean
    /// absolute percentage error). Why: the series switches between calm stretches (where a slow smoother wins) and
    /// noisy or shifting ones (where the last value wins), so no fixed α is best over the test days; weighting by recent
    /// out-of-sample error follows that regime. Inverse error rather than follow-the-leader: members are highly
    /// correlated, so picking one flips on noise. Members: EWMA and geometric (log) EWMA of the gap-filled inputs for
    /// α ∈ {0.3, …, 1.0} (α = 1 is last-value), plus prophet, boost and boost-logdiff at the current origin. Only targets up to the origin enter
    /// the errors, and each member's error for a target is that of its forecast made before the target was seen.
    /// The pool is for a one-step horizon: a member's forecast for j is its smoothed value at the origin t = j − h.
    /// </summary>
    private sealed class Hedge
    {
        private static readonly double[] Alphas = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
        private readonly double[] _x;
        private readonly double _decay;
        private readonly int _m;
        private readonly double[] _lin, _log, _loss;   // smoother states at the last observed index; members' EW errors
        private readonly Dictionary<int, double[]> _pending = new();   // forecasts made for a target, kept until it is seen
        private int _smoothedTo = -1;
        private bool _anyLoss;

        public Hedge(double[] x, double decay, int models)
        {
            _x = x; _decay = decay; _m = 2 * Alphas.Length + models;
            _lin = new double[Alphas.Length]; _log = new double[Alphas.Length]; _loss = new double[_m];
        }

        private void Advance(int t)
        {
            for (var i = _smoothedTo + 1; i <= t; i++)
                for (var a = 0; a < Alphas.Length; a++)
                {
                    var lx = Math.Log(Math.Max(_x[i], 1e-9));
                    if (i == 0) { _lin[a] = _x[0]; _log[a] = lx; continue; }
                    _lin[a] = Alphas[a] * _x[i] + (1 - Alphas[a]) * _lin[a];
                    _log[a] = Alphas[a] * lx + (1 - Alphas[a]) * _log[a];
                }
            _smoothedTo = Math.Max(_smoothedTo, t);
        }

        /// <summary>Target <paramref name="i"/> has been seen (value <paramref name="y"/>): update the errors of the forecasts made for it.</summary>
        public void Observe(int i, double y, bool gap)
        {
            if (!_pending.Remove(i, out var p) || gap || y <= 0) return;
            for (var k = 0; k < _m; k++) _loss[k] = _decay * _loss[k] + (1 - _decay) * Math.Abs(y - p[k]) / y;
            _anyLoss = true;
        }

        /// <summary>Blend for target <paramref name="j"/> from origin <paramref name="t"/>; <paramref name="models"/> are the
        /// model-based members' forecasts for j (always the same members in the same order).</summary>
        public double Forecast(int j, int t, double[] models)
        {
            Advance(t);
            var p = new double[_m];
            for (var a = 0; a < Alphas.Length; a++) { p[a] = _lin[a]; p[Alphas.Length + a] = Math.Exp(_log[a]); }
            models.CopyTo(p, 2 * Alphas.Length);
            _pending[j] = p;
            // before any error is known: plain mean of the members
            double num = 0, den = 0;
            for (var k = 0; k < _m; k++)
            {
                if (double.IsNaN(p[k])) continue;
                var w = _anyLoss ? 1 / Math.Max(_loss[k], 1e-12) : 1;
                num += w * p[k]; den += w;
            }
            return num / den;
        }
    }
}
