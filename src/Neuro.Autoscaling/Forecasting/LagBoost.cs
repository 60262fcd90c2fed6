using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;

namespace Neuro.Autoscaling.Forecasting;

/// <summary>
/// Gradient-boosted trees (Microsoft.ML LightGbm, or FastTree) on lag and rolling features, predicting h steps ahead.
/// Scale-free: lags are divided by the latest value and the label is y[t+h] / y[t], so trees need not extrapolate levels.
/// Features at origin t: y[t-1..t-3]/y[t], rolling means over 1 h and 3 h, same time yesterday and the day before
/// (y[t+h-d], y[t+h-2d]) and their step from y[t-d], hour-of-day (sin/cos), day-of-week, weekend, business hours.
/// </summary>
public sealed class LagBoost
{
    public enum Trainer { LightGbm, FastTree }

    private sealed class Row { public float Label { get; set; } public float[] Features { get; set; } = []; }
    private sealed class Pred { public float Score { get; set; } }

    private readonly MLContext _ml = new(seed: 1);
    private readonly Trainer _trainer;
    private readonly int _h, _day;
    private readonly double _step;
    private readonly Calendar _cal;
    private PredictionEngine<Row, Pred>? _engine;
    private SchemaDefinition? _schema;

    public LagBoost(double stepSeconds, int horizonSteps, Calendar? calendar = null, Trainer trainer = Trainer.LightGbm)
    {
        _step = stepSeconds; _h = horizonSteps; _cal = calendar ?? new Calendar(); _trainer = trainer;
        _day = (int)Math.Round(86400 / stepSeconds);
    }

    public int MinHistory => 2 * _day + 1;
    public const int FeatureCount = 15;

    /// <summary>Trains on all origins t (with t+h &lt; end) whose features exist within values[0..end).</summary>
    public void Fit(double[] times, double[] values, int end, bool[]? skipLabel = null)
    {
        var rows = new List<Row>();
        for (var t = MinHistory; t + _h < end; t++)
        {
            if (values[t] <= 0 || values[t + _h] <= 0 || (skipLabel?[t + _h] ?? false)) continue;
            rows.Add(new Row { Label = (float)(values[t + _h] / values[t]), Features = Features(times, values, t) });
        }
        if (rows.Count < 50) throw new InvalidOperationException($"LagBoost needs more history (got {rows.Count} rows)");
        _schema = SchemaDefinition.Create(typeof(Row));
        _schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, FeatureCount);
        var data = _ml.Data.LoadFromEnumerable(rows, _schema);
        IEstimator<ITransformer> est = _trainer == Trainer.LightGbm
            ? _ml.Regression.Trainers.LightGbm(new LightGbmRegressionTrainer.Options
            {
                NumberOfLeaves = 15, MinimumExampleCountPerLeaf = 20, LearningRate = 0.05, NumberOfIterations = 300,
                NumberOfThreads = 1, Seed = 1, Silent = true,
            })
            : _ml.Regression.Trainers.FastTree(new FastTreeRegressionTrainer.Options
            {
                NumberOfLeaves = 15, MinimumExampleCountPerLeaf = 20, LearningRate = 0.05, NumberOfTrees = 300, NumberOfThreads = 1,
            });
        var model = est.Fit(data);
        _engine = _ml.Model.CreatePredictionEngine<Row, Pred>(model, inputSchemaDefinition: _schema);
    }

    /// <summary>Forecast of values[t+h] from values[0..t].</summary>
    public double Predict(double[] times, double[] values, int t)
    {
        if (_engine is null) throw new InvalidOperationException("Fit first");
        var p = _engine.Predict(new Row { Features = Features(times, values, t) });
        return Math.Max(0, values[t] * p.Score);
    }

    private float[] Features(double[] times, double[] v, int t)
    {
        var y = Math.Max(v[t], 1e-6);
        double Mean(int k) { var s = 0.0; for (var i = t - k + 1; i <= t; i++) s += v[i]; return s / k; }
        var target = times[t] + _h * _step;
        var hour = _cal.HourOfDay(target);
        var yest = v[t + _h - _day]; var yest2 = v[t + _h - 2 * _day];
        return
        [
            (float)(v[t - 1] / y), (float)(v[t - 2] / y), (float)(v[t - 3] / y),
            (float)(Mean(Math.Max(1, (int)(3600 / _step))) / y), (float)(Mean(Math.Max(1, (int)(10800 / _step))) / y),
            (float)(yest / y), (float)(yest2 / y),
            (float)(yest / Math.Max(v[t - _day], 1e-6)), (float)(yest2 / Math.Max(v[t - 2 * _day], 1e-6)),
            (float)Math.Sin(2 * Math.PI * hour / 24), (float)Math.Cos(2 * Math.PI * hour / 24),
            _cal.DayOfWeek(target), _cal.IsWeekend(target) ? 1 : 0, _cal.BusinessHours(target) ? 1 : 0,
            (float)Math.Log(y),
        ];
    }
}
