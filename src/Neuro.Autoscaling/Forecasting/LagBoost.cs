using Microsoft.ML;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;

namespace Neuro.Autoscaling.Forecasting;

/// <summary>
/// Gradient-boosted trees (Microsoft.ML LightGbm, or FastTree) on lag and rolling features, predicting h steps ahead.
/// Scale-free: lags are divided by the latest value and the label is y[t+h] / y[t], so trees need not extrapolate levels.
/// Features at origin t: y[t-1..t-3]/y[t], rolling means over 1 h and 3 h, same time yesterday and the day before
/// (y[t+h-d], y[t+h-2d]) and their step from y[t-d], hour-of-day (sin/cos), day-of-week, weekend, business hours.
/// </summary>
public sealed class LagBoost(double stepSeconds, int horizonSteps, Calendar? calendar = null, LagBoost.Trainer trainer = LagBoost.Trainer.LightGbm)
    : BoostedForecaster(stepSeconds, horizonSteps, calendar)
{
    public enum Trainer { LightGbm, FastTree }

    public override int MinHistory => 2 * Day + 1;
    protected override int FeatureCount => 15;

    protected override float Label(double now, double next) => (float)(next / now);

    protected override double Level(double now, float score) => Math.Max(0, now * score);

    protected override IEstimator<ITransformer> Estimator(MLContext ml) => trainer == LagBoost.Trainer.LightGbm
        ? ml.Regression.Trainers.LightGbm(new LightGbmRegressionTrainer.Options
        {
            NumberOfLeaves = 15, MinimumExampleCountPerLeaf = 20, LearningRate = 0.05, NumberOfIterations = 300,
            NumberOfThreads = 1, Seed = 1, Silent = true,
        })
        : ml.Regression.Trainers.FastTree(new FastTreeRegressionTrainer.Options
        {
            NumberOfLeaves = 15, MinimumExampleCountPerLeaf = 20, LearningRate = 0.05, NumberOfTrees = 300, NumberOfThreads = 1,
        });

    protected override float[] Features(double[] times, double[] v, int t)
    {
        var y = Math.Max(v[t], 1e-6);
        double Mean(int k) { var s = 0.0; for (var i = t - k + 1; i <= t; i++) s += v[i]; return s / k; }
        var target = times[t] + H * Step;
        var hour = Cal.HourOfDay(target);
        var yest = v[t + H - Day]; var yest2 = v[t + H - 2 * Day];
        return
        [
            (float)(v[t - 1] / y), (float)(v[t - 2] / y), (float)(v[t - 3] / y),
            (float)(Mean(Math.Max(1, (int)(3600 / Step))) / y), (float)(Mean(Math.Max(1, (int)(10800 / Step))) / y),
            (float)(yest / y), (float)(yest2 / y),
            (float)(yest / Math.Max(v[t - Day], 1e-6)), (float)(yest2 / Math.Max(v[t - 2 * Day], 1e-6)),
            (float)Math.Sin(2 * Math.PI * hour / 24), (float)Math.Cos(2 * Math.PI * hour / 24),
            Cal.DayOfWeek(target), Cal.IsWeekend(target) ? 1 : 0, Cal.BusinessHours(target) ? 1 : 0,
            (float)Math.Log(y),
        ];
    }
}
