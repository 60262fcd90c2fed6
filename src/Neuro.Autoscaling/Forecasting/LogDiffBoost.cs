using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;

namespace Neuro.Autoscaling.Forecasting;

/// <summary>
/// LightGbm on a log-ratio target: predicts log(y[t+h] / y[t]) from scale-free features of y[0..t], so the trees learn
/// how the series moves (reversion after a spike, the daily shape's step) rather than its level, which drifts and
/// shifts. Features at origin t: recent log-diffs log(y[t]/y[t-k]) for k = 1, 2, 3, 6; log of the last value over the
/// median of the last 3 and over an EWMA (α = 0.5); rolling volatility (mean |log-diff| over 1 h and 6 h); same time
/// yesterday and a week ago relative to y[t] and their one-step change; hour of day (sin/cos) and weekend.
/// </summary>
public sealed class LogDiffBoost
{
    private sealed class Row { public float Label { get; set; } public float[] Features { get; set; } = []; }
    private sealed class Pred { public float Score { get; set; } }

    private readonly MLContext _ml = new(seed: 1);
    private readonly int _h, _day, _hour;
    private readonly double _step;
    private readonly Calendar _cal;
    private PredictionEngine<Row, Pred>? _engine;

    public LogDiffBoost(double stepSeconds, int horizonSteps, Calendar? calendar = null)
    {
        _step = stepSeconds; _h = horizonSteps; _cal = calendar ?? new Calendar();
        _day = (int)Math.Round(86400 / stepSeconds); _hour = Math.Max(1, (int)Math.Round(3600 / stepSeconds));
    }

    public int MinHistory => Math.Max(_day + 6 * _hour, 8);
    public const int FeatureCount = 14;

    /// <summary>Trains on all origins t (with t+h &lt; end) whose features exist within values[0..end); labels at
    /// <paramref name="skipLabel"/> windows (gaps) are skipped.</summary>
    public void Fit(double[] times, double[] values, int end, bool[]? skipLabel = null)
    {
        var rows = new List<Row>();
        for (var t = MinHistory; t + _h < end; t++)
        {
            if (values[t] <= 0 || values[t + _h] <= 0 || (skipLabel?[t + _h] ?? false)) continue;
            rows.Add(new Row { Label = (float)Math.Log(values[t + _h] / values[t]), Features = Features(times, values, t) });
        }
        if (rows.Count < 50) throw new InvalidOperationException($"LogDiffBoost needs more history (got {rows.Count} rows)");
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, FeatureCount);
        var data = _ml.Data.LoadFromEnumerable(rows, schema);
        // Small trees, strong leaf minimum, few rounds: the target is mostly noise, so the model must stay close to 0.
        var est = _ml.Regression.Trainers.LightGbm(new LightGbmRegressionTrainer.Options
        {
            NumberOfLeaves = 7, MinimumExampleCountPerLeaf = 40, LearningRate = 0.03, NumberOfIterations = 150,
            NumberOfThreads = 1, Seed = 1, Silent = true,
        });
        _engine = _ml.Model.CreatePredictionEngine<Row, Pred>(est.Fit(data), inputSchemaDefinition: schema);
    }

    /// <summary>Forecast of values[t+h] from values[0..t].</summary>
    public double Predict(double[] times, double[] values, int t)
    {
        if (_engine is null) throw new InvalidOperationException("Fit first");
        var p = _engine.Predict(new Row { Features = Features(times, values, t) });
        return Math.Max(values[t], 1e-6) * Math.Exp(p.Score);
    }

    private float[] Features(double[] times, double[] v, int t)
    {
        double L(int i) => Math.Log(Math.Max(v[Math.Max(0, i)], 1e-6));
        var lt = L(t);
        double Vol(int k) { var s = 0.0; for (var i = t - k + 1; i <= t; i++) s += Math.Abs(L(i) - L(i - 1)); return s / k; }
        var med3 = new[] { v[t], v[t - 1], v[t - 2] }.Order().ElementAt(1);
        double ew = v[t - 20]; for (var i = t - 19; i <= t; i++) ew = 0.5 * v[i] + 0.5 * ew;
        var target = times[t] + _h * _step;
        var hour = _cal.HourOfDay(target);
        var week = 7 * _day;
        var yest = t + _h - _day; var lastWeek = t + _h - week;
        return
        [
            (float)(lt - L(t - 1)), (float)(lt - L(t - 2)), (float)(lt - L(t - 3)), (float)(lt - L(t - 6)),
            (float)(lt - Math.Log(Math.Max(med3, 1e-6))), (float)(lt - Math.Log(Math.Max(ew, 1e-6))),
            (float)Vol(_hour), (float)Vol(6 * _hour),
            (float)(L(yest) - lt), (float)(L(yest) - L(t - _day)),
            lastWeek - _h >= 0 ? (float)(L(lastWeek) - L(t - week)) : 0f,
            (float)Math.Sin(2 * Math.PI * hour / 24), (float)Math.Cos(2 * Math.PI * hour / 24),
            _cal.IsWeekend(target) ? 1 : 0,
        ];
    }
}
