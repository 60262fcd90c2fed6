using Microsoft.ML;
using Microsoft.ML.Trainers.LightGbm;

namespace Neuro.Autoscaling.Forecasting;

/// <summary>
/// LightGbm on a log-ratio target: predicts log(y[t+h] / y[t]) from scale-free features of y[0..t], so the trees learn
/// how the series moves (reversion after a spike, the daily shape's step) rather than its level, which drifts and
/// shifts. Features at origin t: recent log-diffs log(y[t]/y[t-k]) for k = 1, 2, 3, 6; log of the last value over the
/// median of the last 3 and over an EWMA (α = 0.5); rolling volatility (mean |log-diff| over 1 h and 6 h); same time
/// yesterday and a week ago relative to y[t] and their one-step change; hour of day (sin/cos) and weekend.
/// </summary>
public sealed class LogDiffBoost(double stepSeconds, int horizonSteps, Calendar? calendar = null)
    : BoostedForecaster(stepSeconds, horizonSteps, calendar)
{
    private int Hour => Math.Max(1, (int)Math.Round(3600 / Step));

    public override int MinHistory => Math.Max(Day + 6 * Hour, 8);
    protected override int FeatureCount => 14;

    protected override float Label(double now, double next) => (float)Math.Log(next / now);

    protected override double Level(double now, float score) => Math.Max(now, 1e-6) * Math.Exp(score);

    // Small trees, strong leaf minimum, few rounds: the target is mostly noise, so the model must stay close to 0.
    protected override IEstimator<ITransformer> Estimator(MLContext ml) => ml.Regression.Trainers.LightGbm(new LightGbmRegressionTrainer.Options
    {
        NumberOfLeaves = 7, MinimumExampleCountPerLeaf = 40, LearningRate = 0.03, NumberOfIterations = 150,
        NumberOfThreads = 1, Seed = 1, Silent = true,
    });

    protected override float[] Features(double[] times, double[] v, int t)
    {
        double L(int i) => Math.Log(Math.Max(v[Math.Max(0, i)], 1e-6));
        var lt = L(t);
        double Vol(int k) { var s = 0.0; for (var i = t - k + 1; i <= t; i++) s += Math.Abs(L(i) - L(i - 1)); return s / k; }
        var med3 = new[] { v[t], v[t - 1], v[t - 2] }.Order().ElementAt(1);
        double ew = v[t - 20]; for (var i = t - 19; i <= t; i++) ew = 0.5 * v[i] + 0.5 * ew;
        var target = times[t] + H * Step;
        var hour = Cal.HourOfDay(target);
        var week = 7 * Day;
        var yest = t + H - Day; var lastWeek = t + H - week;
        return
        [
            (float)(lt - L(t - 1)), (float)(lt - L(t - 2)), (float)(lt - L(t - 3)), (float)(lt - L(t - 6)),
            (float)(lt - Math.Log(Math.Max(med3, 1e-6))), (float)(lt - Math.Log(Math.Max(ew, 1e-6))),
            (float)Vol(Hour), (float)Vol(6 * Hour),
            (float)(L(yest) - lt), (float)(L(yest) - L(t - Day)),
            lastWeek - H >= 0 ? (float)(L(lastWeek) - L(t - week)) : 0f,
            (float)Math.Sin(2 * Math.PI * hour / 24), (float)Math.Cos(2 * Math.PI * hour / 24),
            Cal.IsWeekend(target) ? 1 : 0,
        ];
    }
}
