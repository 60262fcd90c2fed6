using Microsoft.ML;
using Microsoft.ML.Data;

namespace Neuro.Autoscaling.Forecasting;

/// <summary>
/// The Microsoft.ML plumbing the tree forecasters share: training rows from every origin t whose features exist, a
/// fixed-width feature vector, and a scale-free label of (y[t], y[t+h]) turned back into a level when predicting.
/// Subclasses say what the features, the label and the trainer are.
/// </summary>
public abstract class BoostedForecaster
{
    private sealed class Row { public float Label { get; set; } public float[] Features { get; set; } = []; }
    private sealed class Pred { public float Score { get; set; } }

    private readonly MLContext _ml = new(seed: 1);
    private PredictionEngine<Row, Pred>? _engine;

    protected BoostedForecaster(double stepSeconds, int horizonSteps, Calendar? calendar)
    {
        Step = stepSeconds; H = horizonSteps; Cal = calendar ?? new Calendar();
        Day = (int)Math.Round(86400 / stepSeconds);
    }

    protected double Step { get; }
    protected int H { get; }
    protected int Day { get; }
    protected Calendar Cal { get; }

    /// <summary>Earliest origin whose features exist.</summary>
    public abstract int MinHistory { get; }

    protected abstract int FeatureCount { get; }

    protected abstract float[] Features(double[] times, double[] v, int t);

    /// <summary>The training target for origin value <paramref name="now"/> and later value <paramref name="next"/>.</summary>
    protected abstract float Label(double now, double next);

    /// <summary>The forecast level from the origin value and the model's score (the inverse of <see cref="Label"/>).</summary>
    protected abstract double Level(double now, float score);

    protected abstract IEstimator<ITransformer> Estimator(MLContext ml);

    /// <summary>Trains on all origins t (with t+h &lt; end) whose features exist within values[0..end); labels at
    /// <paramref name="skipLabel"/> windows (gaps) are skipped.</summary>
    public void Fit(double[] times, double[] values, int end, bool[]? skipLabel = null)
    {
        var rows = new List<Row>();
        for (var t = MinHistory; t + H < end; t++)
        {
            if (values[t] <= 0 || values[t + H] <= 0 || (skipLabel?[t + H] ?? false)) continue;
            rows.Add(new Row { Label = Label(values[t], values[t + H]), Features = Features(times, values, t) });
        }
        if (rows.Count < 50) throw new InvalidOperationException($"{GetType().Name} needs more history (got {rows.Count} rows)");
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, FeatureCount);
        var data = _ml.Data.LoadFromEnumerable(rows, schema);
        _engine = _ml.Model.CreatePredictionEngine<Row, Pred>(Estimator(_ml).Fit(data), inputSchemaDefinition: schema);
    }

    /// <summary>Forecast of values[t+h] from values[0..t].</summary>
    public double Predict(double[] times, double[] values, int t)
    {
        if (_engine is null) throw new InvalidOperationException("Fit first");
        return Level(values[t], _engine.Predict(new Row { Features = Features(times, values, t) }).Score);
    }
}
