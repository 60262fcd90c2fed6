using Neuro.Autoscaling;
using Neuro.Autoscaling.Scalers;

namespace Neuro.Autoscaling.Tests;

public class TokenAwareScalerTests
{
    // 1000 prefill tokens/s per replica, planned at 50% → 500 tok/s per replica; 60 s cold start.
    private static readonly ReplicaCapacity Cap = new(1000, 100, 1_000_000, 0.01);
    private static TokenAwareOptions Opts(int min = 0, int max = 64, double prewarm = 20, bool forecast = false) => new()
    {
        Capacity = Cap, Bounds = new(min, max), TargetPrefillUtilization = 0.5, TargetMemoryUtilization = 1.0,
        ColdStartSeconds = 60, WarmStartSeconds = 5, DemandWindowSeconds = 1, PrewarmPercent = prewarm, UseForecast = forecast,
    };

    [Fact]
    public void No_data_at_zero_stays_at_zero_but_keeps_a_warm_standby()
    {
        var d = new TokenAwareScaler(Opts()).Decide(new ScalingSnapshot { NowSeconds = 15 });
        Assert.Equal(0, d.DesiredReplicas);
        Assert.Equal(1, d.WarmPoolReplicas);
    }

    [Fact]
    public void First_request_at_an_empty_pool_activates_one_replica()
    {
        var s = new TokenAwareScaler(Opts());
        Assert.True(s.ActivatesOnArrival);
        var d = s.Decide(new ScalingSnapshot { NowSeconds = 1, QueueDepth = 1, TokensInQueue = 10 });
        Assert.Equal(1, d.DesiredReplicas);
        Assert.Contains("scale-from-zero", d.Reason);
        Assert.False(new TokenAwareScaler(Opts(min: 1)).ActivatesOnArrival);
    }

    [Fact]
    public void Demand_is_counted_in_prompt_tokens_not_requests()
    {
        // 2000 tok/s over 500 tok/s planned per replica = 4 replicas; same request rate with 10x longer prompts = 40.
        var shortPrompts = new TokenAwareScaler(Opts()).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 1, ArrivalRatePerSecond = 2, PrefillTokensPerSecond = 2000 });
        var longPrompts = new TokenAwareScaler(Opts()).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 1, ArrivalRatePerSecond = 2, PrefillTokensPerSecond = 20000 });
        Assert.Equal(4, shortPrompts.DesiredReplicas);
        Assert.Equal(40, longPrompts.DesiredReplicas);
    }

    [Fact]
    public void Queued_backlog_is_planned_over_the_start_lead_time()
    {
        // backlog 120k tokens over a 60 s cold start at 500 tok/s per replica = 4 replicas; with a warm stand-by (5 s) = 48.
        var cold = new TokenAwareScaler(Opts()).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 1, QueueDepth = 10, TokensInQueue = 120_000 });
        var warm = new TokenAwareScaler(Opts()).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 1, WarmReplicas = 1, QueueDepth = 10, TokensInQueue = 120_000 });
        Assert.Equal(4, cold.DesiredReplicas);
        Assert.Equal(48, warm.DesiredReplicas);
    }

    [Fact]
    public void Decode_memory_bound_dominates_for_long_outputs()
    {
        // 50 req/s x 1000 output tokens x 0.01 s/token = 500 resident sequences / 100 slots = 5 replicas;
        // KV 500 x 1001 tokens / 1e6 = 0.5; prefill 50 tok/s x 60 s / (500 tok/s x 60 s) = 0.1.
        var d = new TokenAwareScaler(Opts()).Decide(new ScalingSnapshot
        {
            NowSeconds = 15, ReadyReplicas = 1, ArrivalRatePerSecond = 50, PrefillTokensPerSecond = 50, MeanContextTokens = 1, MeanOutputTokens = 1000,
        });
        Assert.Equal(5, d.DesiredReplicas);
        Assert.Contains("decode", d.Reason);
    }

    [Fact]
    public void Spike_scales_up_immediately_but_scale_down_is_stabilised_and_bounded()
    {
        var s = new TokenAwareScaler(Opts() with { ScaleDownWindowSeconds = 120, MaxScaleDownFraction = 0.2 });
        var up = s.Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 2, PrefillTokensPerSecond = 5000 });
        Assert.Equal(10, up.DesiredReplicas);
        // demand vanishes: hold for the window, then at most 20% (2 of 10) per decision
        var held = s.Decide(new ScalingSnapshot { NowSeconds = 30, ReadyReplicas = 10, PrefillTokensPerSecond = 500 });
        Assert.Equal(10, held.DesiredReplicas);
        var later = s.Decide(new ScalingSnapshot { NowSeconds = 200, ReadyReplicas = 10, PrefillTokensPerSecond = 500 });
        Assert.Equal(8, later.DesiredReplicas);
    }

    [Fact]
    public void Flapping_input_does_not_flap_the_pool()
    {
        var s = new TokenAwareScaler(Opts());
        var provisioned = 1; var changes = 0;
        for (var i = 1; i <= 40; i++)
        {
            var demand = i % 2 == 0 ? 4000 : 500;   // 8 replicas, then 1, alternating every tick
            var d = s.Decide(new ScalingSnapshot { NowSeconds = 15 * i, ReadyReplicas = provisioned, PrefillTokensPerSecond = demand });
            if (d.DesiredReplicas != provisioned) changes++;
            provisioned = d.DesiredReplicas;
        }
        Assert.Equal(1, changes);
        Assert.Equal(8, provisioned);
    }

    [Fact]
    public void Bounds_are_respected()
    {
        var hi = new TokenAwareScaler(Opts(min: 2, max: 6)).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 2, PrefillTokensPerSecond = 1e6 });
        Assert.Equal(6, hi.DesiredReplicas);
        var lo = new TokenAwareScaler(Opts(min: 2, max: 6)).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 2 });
        Assert.Equal(2, lo.DesiredReplicas);
    }

    [Fact]
    public void TTFT_guard_adds_replicas_when_waits_exceed_the_budget_under_saturation()
    {
        var o = Opts() with { QueueDelayBudgetSeconds = 1 };
        var calm = new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 8, QueueDepth = 3, TokensInQueue = 30, QueueWaitP95Seconds = 3, PrefillBusyFraction = 0.3 };
        Assert.Equal(1, new TokenAwareScaler(o).Decide(calm with { ReadyReplicas = 1 }).DesiredReplicas);
        var d = new TokenAwareScaler(o).Decide(calm with { PrefillBusyFraction = 0.95 });
        Assert.Equal(10, d.DesiredReplicas);   // 8 + ceil(25% of 8)
        Assert.Contains("guard", d.Reason);
    }

    [Fact]
    public void Forecast_gives_lead_only_when_enabled()
    {
        var snap = new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 1, ArrivalRatePerSecond = 1, PrefillTokensPerSecond = 500, MeanContextTokens = 500, ForecastRatePerSecond = 6, ForecastHorizonSeconds = 75 };
        Assert.Equal(1, new TokenAwareScaler(Opts()).Decide(snap).DesiredReplicas);
        Assert.Equal(6, new TokenAwareScaler(Opts(forecast: true)).Decide(snap).DesiredReplicas);   // 6 req/s x 500 tok / 500
    }
}

public class HpaScalerTests
{
    [Fact]
    public void Utilisation_above_target_scales_by_the_ratio()
    {
        var d = HpaScaler.Utilization(0.7, new HpaScaler.Options { Bounds = new(1, 100) }).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 10, Utilization = 0.9 });
        Assert.Equal(13, d.DesiredReplicas);   // ceil(10 x 0.9 / 0.7 = 12.86)
    }

    [Fact]
    public void Within_ten_percent_tolerance_keeps_replicas()
    {
        var d = HpaScaler.Utilization(0.7).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 10, Utilization = 0.75 });
        Assert.Equal(10, d.DesiredReplicas);
    }

    [Fact]
    public void No_ready_pods_means_no_metric_and_no_change()
    {
        var d = HpaScaler.Utilization(0.7).Decide(new ScalingSnapshot { NowSeconds = 15, StartingReplicas = 3 });
        Assert.Equal(3, d.DesiredReplicas);
    }

    [Fact]
    public void Scale_down_waits_for_the_300s_stabilisation_window()
    {
        var h = HpaScaler.Utilization(0.7, new HpaScaler.Options { Bounds = new(2, 100) });
        var n = 10;
        for (var t = 15; t <= 300; t += 15)
        {
            n = h.Decide(new ScalingSnapshot { NowSeconds = t, ReadyReplicas = n, Utilization = t == 15 ? 0.7 : 0.1 }).DesiredReplicas;
            Assert.Equal(10, n);
        }
        // the last recommendation of 10 (t=15) leaves the window at t > 315
        n = h.Decide(new ScalingSnapshot { NowSeconds = 330, ReadyReplicas = n, Utilization = 0.1 }).DesiredReplicas;
        Assert.Equal(2, n);   // ceil(10 x 0.1 / 0.7) = 2, the floor
    }

    [Fact]
    public void Scale_up_is_limited_to_double_or_plus_four_per_period()
    {
        var d = HpaScaler.Utilization(0.7, new HpaScaler.Options { Bounds = new(1, 100) }).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 2, Utilization = 10 });
        Assert.Equal(6, d.DesiredReplicas);   // max(2 x 2, 2 + 4)
    }

    [Fact]
    public void Keda_queue_scaler_targets_average_queue_per_replica()
    {
        var d = HpaScaler.KedaQueue(5, new HpaScaler.Options { Bounds = new(1, 100) }).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 2, QueueDepth = 23 });
        Assert.Equal(5, d.DesiredReplicas);   // ceil(23 / 5)
    }
}

public class SeedScalerTests
{
    [Theory]
    [InlineData(12, 4, 8)]   // > 10: double
    [InlineData(11, 40, 50)] // doubling capped at max
    [InlineData(1, 9, 4)]    // < 2: halve (integer division)
    [InlineData(0, 3, 2)]    // halving floored at min
    [InlineData(5, 7, 7)]    // between: keep
    [InlineData(10, 7, 7)]   // threshold itself is not "above"
    [InlineData(2, 7, 7)]    // threshold itself is not "below"
    public void Queue_based_scaler_doubles_and_halves_at_thresholds(int queue, int current, int expected)
    {
        var d = new QueueBasedScaler(new ReplicaBounds(2, 50)).Decide(new ScalingSnapshot { ReadyReplicas = current, QueueDepth = queue });
        Assert.Equal(expected, d.DesiredReplicas);
    }

    [Fact]
    public void Predictive_rule_scales_up_with_twenty_percent_margin()
    {
        var d = new SeedPredictiveScaler(new ReplicaBounds(2, 50), 1.0).Decide(new ScalingSnapshot { ReadyReplicas = 4, Utilization = 0.7, ForecastRatePerSecond = 5 });
        Assert.Equal(6, d.DesiredReplicas);   // max(4+1, ceil(5 x 1.2))
    }

    [Fact]
    public void Predictive_rule_needs_current_utilisation_too()
    {
        var d = new SeedPredictiveScaler(new ReplicaBounds(2, 50), 1.0).Decide(new ScalingSnapshot { ReadyReplicas = 4, Utilization = 0.5, ForecastRatePerSecond = 5 });
        Assert.Equal(4, d.DesiredReplicas);
    }

    [Fact]
    public void Predictive_rule_scales_down_one_at_a_time_and_not_right_after_a_scale_up()
    {
        var s = new SeedPredictiveScaler(new ReplicaBounds(2, 50), 1.0);
        Assert.Equal(9, s.Decide(new ScalingSnapshot { ReadyReplicas = 10, Utilization = 0.3, ForecastRatePerSecond = 2 }).DesiredReplicas);
        var s2 = new SeedPredictiveScaler(new ReplicaBounds(2, 50), 1.0);
        Assert.Equal(6, s2.Decide(new ScalingSnapshot { ReadyReplicas = 4, Utilization = 0.7, ForecastRatePerSecond = 5 }).DesiredReplicas);
        var after = s2.Decide(new ScalingSnapshot { ReadyReplicas = 6, Utilization = 0.3, ForecastRatePerSecond = 1 });
        Assert.Equal(6, after.DesiredReplicas);
        Assert.Contains("skipped", after.Reason);
    }
}

public class TokenAwareStartupTests
{
    [Fact]
    public void First_decision_does_not_scale_down_an_already_running_pool()
    {
        var s = new TokenAwareScaler(new TokenAwareOptions { Capacity = new(1000, 100, 1_000_000, 0.01), ScaleDownWindowSeconds = 120, DemandWindowSeconds = 1 });
        Assert.Equal(5, s.Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 5, PrefillTokensPerSecond = 100 }).DesiredReplicas);
        Assert.Equal(4, s.Decide(new ScalingSnapshot { NowSeconds = 150, ReadyReplicas = 5, PrefillTokensPerSecond = 100 }).DesiredReplicas);
    }
}
