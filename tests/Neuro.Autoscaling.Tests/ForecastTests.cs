using Neuro.Autoscaling.Forecasting;

namespace Neuro.Autoscaling.Tests;

public class ForecastTests
{
    private static RateSeries Synthetic(int days, Func<double, double> f, double step = 600)
    {
        var n = (int)(days * 86400 / step);
        var t = Enumerable.Range(0, n).Select(i => i * step).ToArray();
        return new RateSeries(t, t.Select(f).ToArray());
    }

    private static double Daily(double t) => 100 + 40 * Math.Sin(2 * Math.PI * t / 86400) + 0.0001 * t;

    [Fact]
    public void Prophet_like_recovers_trend_plus_daily_seasonality()
    {
        var s = Synthetic(8, Daily);
        var train = 7 * 144;
        var m = new ProphetLike(new ProphetLike.Options { Multiplicative = false, ChangepointPenalty = 10 });
        m.Fit(s.Times.AsSpan(0, train), s.Values.AsSpan(0, train));
        var mape = Enumerable.Range(train, 144).Average(j => Math.Abs(m.Predict(s.Times[j]) - s.Values[j]) / s.Values[j]);
        Assert.True(mape < 0.01, $"MAPE {mape:P2}");
    }

    [Fact]
    public void Linear_solve()
    {
        var x = LinearAlgebra.Solve(new double[,] { { 4, 1, 0 }, { 1, 3, 1 }, { 0, 1, 2 } }, [1, 2, 3]);
        // hand-solved: x = (1/6, 1/3, 4/3)... check by substitution instead of trusting the digits
        Assert.Equal(1, 4 * x[0] + x[1], 9);
        Assert.Equal(2, x[0] + 3 * x[1] + x[2], 9);
        Assert.Equal(3, x[1] + 2 * x[2], 9);
    }

    [Fact]
    public void Rolling_origin_scores_baselines_exactly_on_a_periodic_series()
    {
        // purely daily-periodic: same-time-yesterday is exact, last-value is not
        var s = Synthetic(6, t => 100 + 40 * Math.Sin(2 * Math.PI * t / 86400));
        var ev = RollingOrigin.Evaluate(s, new ForecastEvalOptions { TestDays = 1, Trainer = LagBoost.Trainer.FastTree, ProphetRefitSteps = 24 });
        var naive = ev.Scores.Single(x => x.Method == "seasonal-naive-day");
        var last = ev.Scores.Single(x => x.Method == "last-value");
        Assert.Equal(144, naive.Points);
        Assert.True(naive.Mae < 1e-9);
        // last-value error of a sinusoid 40·sin over a 600 s step: mean |Δ| = 40 · 2π/144 · (2/π) ≈ 1.11
        Assert.Equal(40 * 2 * Math.PI / 144 * 2 / Math.PI, last.Mae, 1);
        Assert.True(ev.Scores.Single(x => x.Method == "prophet").MapePercent < 2);
    }

    [Fact]
    public void Gaps_are_not_scored_and_do_not_poison_the_models()
    {
        var s = Synthetic(6, t => 100 + 40 * Math.Sin(2 * Math.PI * t / 86400));
        for (var j = 5 * 144 + 10; j < 5 * 144 + 20; j++) s.Values[j] = 0;   // a collection outage in the test day
        var ev = RollingOrigin.Evaluate(s, new ForecastEvalOptions { TestDays = 1, Trainer = LagBoost.Trainer.FastTree, ProphetRefitSteps = 24 });
        Assert.All(ev.Scores.Where(x => x.Method != "seasonal-naive-week"), x => Assert.Equal(134, x.Points));   // 6 days: no week-ago value
        Assert.True(ev.Scores.Single(x => x.Method == "prophet").MapePercent < 2);
        Assert.True(ev.Scores.Single(x => x.Method == "last-value").MapePercent < 5);
    }

    [Fact]
    public void LightGbm_lag_model_learns_a_weekly_ramp_better_than_last_value()
    {
        var s = Synthetic(7, t => 200 + 100 * Math.Sin(2 * Math.PI * t / 86400) + 30 * Math.Sin(2 * Math.PI * t / 3600 / 3));
        var ev = RollingOrigin.Evaluate(s, new ForecastEvalOptions { TestDays = 1, ProphetRefitSteps = 24 });
        var boost = ev.Scores.Single(x => x.Method == "boost");
        var last = ev.Scores.Single(x => x.Method == "last-value");
        Assert.True(boost.Mae < last.Mae, $"boost {boost.Mae} vs last {last.Mae}");
    }

    [Fact]
    public void Rate_file_with_header_and_two_columns_loads()
    {
        var p = Path.GetTempFileName();
        File.WriteAllText(p, "window_start_s,requests_per_s\n0,986.5\n600,1044.08\n1200,1.5\n");
        var s = RateSeries.Load(p);
        File.Delete(p);
        Assert.Equal([0.0, 600, 1200], s.Times);
        Assert.Equal(600, s.StepSeconds);
        Assert.Equal(1044.08, s.Values[1]);
    }

    [Theory]
    [InlineData(0, 9 * 3600, true)]             // Monday 09:00
    [InlineData(0, 17 * 3600, false)]           // Monday 17:00 is outside [9, 17)
    [InlineData(0, 5 * 86400 + 10 * 3600, false)] // Saturday 10:00
    [InlineData(5, 2 * 86400 + 10 * 3600, true)]  // series starts Saturday: day 2 is Monday
    public void Business_hours_regressor(int startDow, double t, bool expected) =>
        Assert.Equal(expected, new Calendar(startDow).BusinessHours(t));
}
