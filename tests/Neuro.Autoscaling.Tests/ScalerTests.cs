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
        // these tests pin the token/utilisation arithmetic; the queueing view has its own tests below
        SloMissTarget = 0, UseMeasuredPrefillLoad = false,
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
        // backlog 120k tokens over a 60 s cold start at 500 tok/s per replica = 4 replicas; over a warm start (5 s) = 48,
        // but only as many replicas as there are stand-bys come that fast: with one, the rest is planned over the cold start
        var cold = new TokenAwareScaler(Opts()).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 1, QueueDepth = 10, TokensInQueue = 120_000 });
        var oneWarm = new TokenAwareScaler(Opts()).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 1, WarmReplicas = 1, QueueDepth = 10, TokensInQueue = 120_000 });
        var warm = new TokenAwareScaler(Opts()).Decide(new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 1, WarmReplicas = 60, QueueDepth = 10, TokensInQueue = 120_000 });
        Assert.Equal(4, cold.DesiredReplicas);
        Assert.Equal(4, oneWarm.DesiredReplicas);
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

public class QueueingSizingTests
{
    private static readonly ReplicaCapacity Cap = new(1000, 1000, 100_000_000, 0.001);
    private static TokenAwareOptions Q(double miss = 0.01, double budget = 1, int max = 64) => new()
    {
        Capacity = Cap, Bounds = new(0, max), QueueDelayBudgetSeconds = budget, SloMissTarget = miss, TargetPrefillUtilization = 0.95,
        DemandWindowSeconds = 1, PrewarmPercent = 0,
        // these tests pin the uncalibrated queueing view; the calibration has its own tests
        QueueingCalibrationWindowSeconds = 0,
    };

    /// <summary>Tail of the modelled wait, computed here independently from the M/M/c stationary distribution.</summary>
    private static double Tail(int c, double a, double t, double s)
    {
        double sum = 0, term = 1;
        for (var k = 0; k < c; k++) { sum += term; term *= a / (k + 1); }
        var wait = term * c / (c - a);              // a^c/c! · c/(c−a)
        return wait / (sum + wait) * Math.Exp(-(c - a) * t / s);
    }

    [Theory]
    [InlineData(0.5, 0.2, 1.0, 0.01)]
    [InlineData(1.6, 0.29, 1.7, 0.002)]
    [InlineData(12.0, 3.4, 3.0, 0.002)]
    [InlineData(40.0, 1.0, 0.5, 0.05)]
    public void Replicas_for_the_wait_tail_are_the_smallest_count_meeting_the_target(double a, double s, double t, double eps)
    {
        var c = TokenAwareScaler.ReplicasForWaitTail(a, s, t, eps);
        Assert.True(c > a);
        Assert.True(Tail(c, a, t, s) <= eps + 1e-12);
        if (c - 1 > a) Assert.True(Tail(c - 1, a, t, s) > eps);
        Assert.Equal(Tail(c, a, t, s), TokenAwareScaler.ErlangC(c, a) * Math.Exp(-(c - a) * t / s), 9);
    }

    [Fact]
    public void Erlang_c_matches_the_single_server_case_and_saturates()
    {
        Assert.Equal(0.3, TokenAwareScaler.ErlangC(1, 0.3), 12);    // M/M/1: P(wait) = ρ
        Assert.Equal(1.0, TokenAwareScaler.ErlangC(2, 2.5));
        Assert.Equal(0, TokenAwareScaler.ErlangC(3, 0));
        Assert.Equal(0, TokenAwareScaler.ReplicasForWaitTail(0, 1, 1, 0.01));
    }

    [Fact]
    public void Tighter_target_shorter_budget_or_more_load_never_need_fewer_replicas()
    {
        var prev = 0;
        for (var a = 0.1; a < 30; a += 0.7)
        {
            var c = TokenAwareScaler.ReplicasForWaitTail(a, 1, 1, 0.01);
            Assert.True(c >= prev); prev = c;
            Assert.True(TokenAwareScaler.ReplicasForWaitTail(a, 1, 1, 0.001) >= c);
            Assert.True(TokenAwareScaler.ReplicasForWaitTail(a, 1, 0.3, 0.01) >= c);
        }
    }

    [Fact]
    public void Large_pools_run_hotter_than_small_ones_for_the_same_wait_tail()
    {
        // square-root staffing: the headroom grows like √load, so planned utilisation rises with load
        double Util(double a) => a / TokenAwareScaler.ReplicasForWaitTail(a, 1, 1, 0.01);
        Assert.True(Util(1) < Util(10));
        Assert.True(Util(10) < Util(100));
    }

    [Fact]
    public void Scaler_sizes_prefill_from_the_queueing_view_with_its_service_time()
    {
        // 8 req/s of 500-token prompts: 4000 tok/s over 1000 tok/s = 4 replicas of work, 0.5 s each
        var snap = new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 4, ArrivalRatePerSecond = 8, PrefillTokensPerSecond = 4000, MeanContextTokens = 500 };
        var d = new TokenAwareScaler(Q()).Decide(snap);
        Assert.Equal(TokenAwareScaler.ReplicasForWaitTail(4, 0.5, 1, 0.01), d.DesiredReplicas);
        Assert.True(d.DesiredReplicas > 4);
        // same token rate in 10x fewer, 10x longer prompts: each waiter blocks a replica 10x longer → more headroom
        var lumpy = new TokenAwareScaler(Q()).Decide(snap with { ArrivalRatePerSecond = 0.8, MeanContextTokens = 5000 });
        Assert.True(lumpy.DesiredReplicas > d.DesiredReplicas);
    }

    [Fact]
    public void Measured_prefill_busy_time_counts_when_it_exceeds_the_token_estimate()
    {
        // tokens say 2 replicas of work, the engines were busy 90% of 5 replicas (long prompts cost more per token)
        var snap = new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 5, ArrivalRatePerSecond = 4, PrefillTokensPerSecond = 2000, PrefillBusyFraction = 0.9 };
        var measured = new TokenAwareScaler(Q()).Decide(snap).DesiredReplicas;
        var tokensOnly = new TokenAwareScaler(Q() with { UseMeasuredPrefillLoad = false }).Decide(snap).DesiredReplicas;
        Assert.True(measured > tokensOnly);
        Assert.Equal(TokenAwareScaler.ReplicasForWaitTail(4.5, 4.5 / 4, 1, 0.01), measured);
    }

    [Fact]
    public void No_arrivals_means_no_queueing_headroom()
    {
        var d = new TokenAwareScaler(Q()).Decide(new ScalingSnapshot { NowSeconds = 15 });
        Assert.Equal(0, d.DesiredReplicas);
    }

    [Fact]
    public void Backlog_burst_capacity_is_released_without_waiting_for_the_stabilisation_window()
    {
        var s = new TokenAwareScaler(Q() with { ScaleDownWindowSeconds = 300, MaxScaleDownFraction = 1, WarmStartSeconds = 10 });
        var steady = new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 3, WarmReplicas = 12, ArrivalRatePerSecond = 4, PrefillTokensPerSecond = 2000 };
        var baseCount = s.Decide(steady).DesiredReplicas;
        var burst = s.Decide(steady with { NowSeconds = 30, ReadyReplicas = baseCount, QueueDepth = 50, TokensInQueue = 100_000 });
        Assert.True(burst.DesiredReplicas >= baseCount + 5);   // 100k tokens over a 10 s warm start = 10 replicas of work
        Assert.Contains("backlog", burst.Reason);
        var after = s.Decide(steady with { NowSeconds = 45, ReadyReplicas = burst.DesiredReplicas });
        Assert.Equal(baseCount, after.DesiredReplicas);
        // a rise of the steady demand is different: it is held for the window
        var t = new TokenAwareScaler(Q() with { ScaleDownWindowSeconds = 300, MaxScaleDownFraction = 1 });
        var hi = t.Decide(steady with { PrefillTokensPerSecond = 8000, ArrivalRatePerSecond = 16 }).DesiredReplicas;
        Assert.Equal(hi, t.Decide(steady with { NowSeconds = 45, ReadyReplicas = hi }).DesiredReplicas);
    }

    [Fact]
    public void Scale_down_keeps_headroom_for_the_demand_of_the_next_cold_start()
    {
        // 40 req/s of 0.25 s prefills (10 replicas of work), then the demand drops to 5.8 replicas of work for good
        var hi = new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 20, ArrivalRatePerSecond = 40, PrefillTokensPerSecond = 10_000 };
        var lo = hi with { ArrivalRatePerSecond = 23.2, PrefillTokensPerSecond = 5800 };
        int Settle(double sigma)
        {
            var s = new TokenAwareScaler(Q() with { ScaleDownHeadroomSigma = sigma, ScaleDownWindowSeconds = 60, ColdStartSeconds = 60, MaxScaleDownFraction = 1 });
            var n = s.Decide(hi).DesiredReplicas;
            for (var i = 2; i <= 20; i++) n = s.Decide(lo with { NowSeconds = 15 * i, ReadyReplicas = n }).DesiredReplicas;
            return n;
        }
        var bare = TokenAwareScaler.ReplicasForWaitTail(5.8, 0.25, 1, 0.01);
        Assert.Equal(bare, Settle(0));
        // one σ of the work rate over 60 s: √(5.8 · 2 · 0.25 / 60) ≈ 0.22 replicas of work on top of 5.8 — one replica more here
        Assert.Equal(TokenAwareScaler.ReplicasForWaitTail(5.8 + Math.Sqrt(5.8 * 2 * 0.25 / 60), 0.25, 1, 0.01), Settle(1));
        Assert.True(Settle(1) > bare);
        Assert.True(Settle(3) >= Settle(1));
        // scale-up is not delayed by it: the first decision at high demand is the plain queueing count
        var up = new TokenAwareScaler(Q() with { ScaleDownHeadroomSigma = 3 }).Decide(hi with { ReadyReplicas = 1 });
        Assert.Equal(TokenAwareScaler.ReplicasForWaitTail(10, 0.25, 1, 0.01), up.DesiredReplicas);
    }

    [Fact]
    public void Queued_probability_is_erlang_c_times_utilisation_from_the_stationary_distribution()
    {
        // independent: P(N > c) of M/M/c from the birth-death stationary distribution
        foreach (var (c, a) in new[] { (1, 0.5), (3, 1.5), (10, 7.0) })
        {
            double sum = 0, term = 1;
            for (var k = 0; k < c; k++) { sum += term; term *= a / (k + 1); }
            var rho = a / c;
            var atLeastC = term / (1 - rho);                // Σ_{n≥c} a^c/c! ρ^(n−c)
            var aboveC = term * rho / (1 - rho);            // Σ_{n>c}
            Assert.Equal(aboveC / (sum + atLeastC), TokenAwareScaler.QueuedProbability(c, a), 9);
        }
        Assert.Equal(1, TokenAwareScaler.QueuedProbability(2, 2.5));
    }

    [Fact]
    public void Queueing_excess_is_never_below_one_and_is_capped()
    {
        Assert.Equal(1, TokenAwareScaler.QueueingExcess(0, 5, 20));
        Assert.Equal(1, TokenAwareScaler.QueueingExcess(3, 3, 20));
        Assert.Equal(5, TokenAwareScaler.QueueingExcess(9, 1, 20), 12);
        Assert.Equal(20, TokenAwareScaler.QueueingExcess(400, 1, 20));
    }

    [Fact]
    public void Requests_queued_more_often_than_modelled_tighten_the_target_and_only_then()
    {
        // 2 replicas of work, 0.25 s prefills, 4 ready replicas: the model expects a queue at ~9% of instants
        var snap = new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 4, ArrivalRatePerSecond = 8, PrefillTokensPerSecond = 2000 };
        var o = Q(miss: 0.02) with
        {
            QueueingCalibrationWindowSeconds = 600, QueueingCalibration = QueueingCalibrationSignal.FoundQueued,
            ScaleDownWindowSeconds = 15, MaxScaleDownFraction = 1, ScaleDownHeadroomSigma = 0,
        };
        int Run(Func<int, bool> queued, TokenAwareOptions opts)
        {
            var s = new TokenAwareScaler(opts); var n = 4;
            for (var i = 1; i <= 40; i++)
                n = s.Decide(snap with { NowSeconds = 15 * i, ReadyReplicas = n, QueueDepth = queued(i) ? 3 : 0 }).DesiredReplicas;
            return n;
        }
        var plain = TokenAwareScaler.ReplicasForWaitTail(2, 0.25, 1, 0.02);
        // never queued: the calibration does not loosen the target
        Assert.Equal(plain, Run(_ => false, o));
        // queued at every tick (clumped arrivals): the target shrinks by up to the cap and the pool grows
        var clumped = Run(_ => true, o);
        Assert.True(clumped > plain);
        Assert.True(clumped <= TokenAwareScaler.ReplicasForWaitTail(2, 0.25, 1, 0.02 / 20));
        Assert.Contains("ε", LastReason(o, snap));
        // with the calibration off the same observations change nothing
        Assert.Equal(plain, Run(_ => true, o with { QueueingCalibrationWindowSeconds = 0 }));
        // observations older than the window are forgotten
        var forgetting = new TokenAwareScaler(o with { QueueingCalibrationWindowSeconds = 150 }); var m = 4;
        for (var i = 1; i <= 40; i++)
            m = forgetting.Decide(snap with { NowSeconds = 15 * i, ReadyReplicas = m, QueueDepth = i <= 10 ? 3 : 0 }).DesiredReplicas;
        Assert.Equal(plain, m);
    }

    [Fact]
    public void Slo_misses_beyond_the_target_share_tighten_the_target_and_none_loosen_it_within_its_bound()
    {
        // 2 replicas of work, 0.25 s prefills; 120 requests get their first token per 15-s tick
        var snap = new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 4, ArrivalRatePerSecond = 8, PrefillTokensPerSecond = 2000, TtftSloScored = 120 };
        var o = Q(miss: 0.01) with
        {
            QueueingCalibrationWindowSeconds = 600, QueueingCalibration = QueueingCalibrationSignal.SloMisses, QueueingCalibrationMaxLoosening = 4,
            ScaleDownWindowSeconds = 15, MaxScaleDownFraction = 1, ScaleDownHeadroomSigma = 0,
        };
        int Run(int missesPerTick, TokenAwareOptions opts)
        {
            var s = new TokenAwareScaler(opts); var n = 4;
            for (var i = 1; i <= 40; i++)
                n = s.Decide(snap with { NowSeconds = 15 * i, ReadyReplicas = n, TtftSloMisses = missesPerTick }).DesiredReplicas;
            return n;
        }
        var plain = TokenAwareScaler.ReplicasForWaitTail(2, 0.25, 1, 0.01);
        // misses at the target share (1.2 of 120 per tick ~ 1 or 2): about the plain count
        Assert.InRange(Run(1, o), TokenAwareScaler.ReplicasForWaitTail(2, 0.25, 1, 0.04), plain);
        // 6 misses per tick = 5% against a 1% target: tightened about 5x (bounded by the cap), so the pool grows
        var missing = Run(6, o);
        Assert.True(missing > plain);
        Assert.True(missing <= TokenAwareScaler.ReplicasForWaitTail(2, 0.25, 1, 0.01 / 20));
        Assert.True(missing >= TokenAwareScaler.ReplicasForWaitTail(2, 0.25, 1, 0.01 / 4));
        // no misses: loosened, but never beyond the loosening bound
        var none = Run(0, o);
        Assert.True(none <= plain);
        Assert.True(none >= TokenAwareScaler.ReplicasForWaitTail(2, 0.25, 1, 0.04));
        // a pool that reports no scored requests (does not know its SLO) keeps the plain target
        var blind = new TokenAwareScaler(o); var m = 4;
        for (var i = 1; i <= 40; i++) m = blind.Decide(snap with { NowSeconds = 15 * i, ReadyReplicas = m, TtftSloScored = 0 }).DesiredReplicas;
        Assert.Equal(plain, m);
    }

    [Fact]
    public void Variable_arrivals_and_prompts_slow_the_modelled_wait_tail_and_need_more_replicas()
    {
        // one ready replica: the first decision scales straight up to the count asked for (no stabilisation involved)
        var snap = new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 1, ArrivalRatePerSecond = 8, PrefillTokensPerSecond = 2000 };
        var o = Q(miss: 0.01) with { UseMeasuredVariability = true, VariabilityWindowSeconds = 600 };
        int Decide(double? ca2, double? cs2, TokenAwareOptions opts) =>
            new TokenAwareScaler(opts).Decide(snap with { ArrivalGapCv2 = ca2, PrefillWorkCv2 = cs2 }).DesiredReplicas;
        // Poisson arrivals and exponential-like work: the M/M/c count
        Assert.Equal(TokenAwareScaler.ReplicasForWaitTail(2, 0.25, 1, 0.01), Decide(1, 1, o));
        // (Ca² + Cs²) / 2 = 3: the tail decays over 3x the service time
        Assert.Equal(TokenAwareScaler.ReplicasForWaitTail(2, 0.25 * 3, 1, 0.01), Decide(4, 2, o));
        Assert.True(Decide(4, 2, o) > Decide(1, 1, o));
        // only the prompts' variation when the arrivals' is switched off
        Assert.Equal(TokenAwareScaler.ReplicasForWaitTail(2, 0.25 * 1.5, 1, 0.01), Decide(4, 2, o with { UseArrivalVariability = false }));
        // off, or nothing measured yet: M/M/c
        Assert.Equal(Decide(1, 1, o), Decide(4, 2, o with { UseMeasuredVariability = false }));
        Assert.Equal(Decide(1, 1, o), Decide(null, null, o));
        // clamped: one absurd interval cannot take the pool to its maximum
        Assert.Equal(TokenAwareScaler.ReplicasForWaitTail(2, 0.25 * o.MaxVariability, 1, 0.01), Decide(1e6, 1, o));
    }

    [Fact]
    public void A_backlog_beyond_the_warm_stand_bys_is_planned_over_a_cold_start()
    {
        // 1 replica of steady work, 1 ready, 2 stand-bys; a backlog of 200,000 prompt tokens (200 replica-seconds)
        var snap = new ScalingSnapshot { NowSeconds = 15, ReadyReplicas = 1, WarmReplicas = 2, ArrivalRatePerSecond = 4, PrefillTokensPerSecond = 1000, QueueDepth = 50, TokensInQueue = 200_000 };
        var o = Q(miss: 0.01) with { WarmStartSeconds = 8, ColdStartSeconds = 60 };
        var d = new TokenAwareScaler(o).Decide(snap).DesiredReplicas;
        // over the warm start it would ask for ~1 + 200/8 = 26 replicas; only 2 can come that fast, so the rest is
        // planned over the cold start: ~1 + 200/60 ≈ 4.3 replicas of work, and never fewer than ready + stand-bys
        Assert.InRange(d, 3, TokenAwareScaler.ReplicasForWaitTail(1 + 200.0 / 60, 0.25, 1, 0.01) + 1);
        // with enough stand-bys the warm lead stands
        var many = new TokenAwareScaler(o).Decide(snap with { WarmReplicas = 40 }).DesiredReplicas;
        Assert.True(many >= 26);
    }

    private static string LastReason(TokenAwareOptions o, ScalingSnapshot snap)
    {
        var s = new TokenAwareScaler(o); var r = "";
        for (var i = 1; i <= 10; i++) r = s.Decide(snap with { NowSeconds = 15 * i, QueueDepth = 3 }).Reason;
        return r;
    }

    [Fact]
    public void Spikes_and_flapping_demand_keep_the_bounds_and_do_not_flap_the_pool()
    {
        var s = new TokenAwareScaler(Q(max: 12) with { ScaleDownWindowSeconds = 120 });
        var provisioned = 1; var changes = 0;
        for (var i = 1; i <= 60; i++)
        {
            var hi = i % 2 == 1;   // a spike first, then alternating every tick
            var d = s.Decide(new ScalingSnapshot
            {
                NowSeconds = 15 * i, ReadyReplicas = provisioned,
                ArrivalRatePerSecond = hi ? 40 : 2, PrefillTokensPerSecond = hi ? 40_000 : 2000,   // 40 vs 2 replicas of work
            });
            Assert.InRange(d.DesiredReplicas, 0, 12);
            if (d.DesiredReplicas != provisioned) changes++;
            provisioned = d.DesiredReplicas;
        }
        Assert.Equal(12, provisioned);
        Assert.Equal(1, changes);
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
