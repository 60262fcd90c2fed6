using Neuro.Autoscaling.Live;

namespace Neuro.Autoscaling.Tests;

public sealed class ModelPoolTests
{
    [Fact]
    public void Turn_signals_become_a_snapshot_in_real_tokens()
    {
        var p = new ModelPoolSignals(windowSeconds: 10, lostTurnSeconds: 60);
        p.Arrived(100, "a", "silo-1", 40);
        p.Arrived(100.5, "b", "silo-2", 60);
        p.FirstToken(101, "a", "silo-1", prefilledTokens: 45, ttftSeconds: 1.0); // a rebuilt cache prefills more than the prompt
        p.Finished(102, "a", "silo-1", outputTokens: 20, seconds: 1.0);
        p.Arrived(102, "c", "silo-1", 30);
        p.FirstToken(102.5, "c", "silo-1", 30, 0.5);

        var s = p.Snapshot(103, ready: 2, lastDesired: 3, maxSequences: 4);

        Assert.Equal(1, s.QueueDepth);            // b waits for its first token
        Assert.Equal(60, s.TokensInQueue);
        Assert.Equal(2.5, s.OldestQueuedAgeSeconds, 6);
        Assert.Equal(2, s.InFlightRequests);      // b waiting, c decoding
        Assert.Equal(75 / 10.0, s.PrefillTokensPerSecond, 6);
        Assert.Equal(37.5, s.MeanContextTokens, 6);
        Assert.Equal(20, s.MeanOutputTokens, 6);
        Assert.Equal(1.0, s.TtftP95Seconds);
        Assert.Equal(2, s.ReadyReplicas);
        Assert.Equal(1, s.StartingReplicas);     // asked for 3, 2 serve
        Assert.Equal((2L, 75L, 20L), (p.Turns, p.PrefilledTokens, p.OutputTokens));
    }

    [Fact]
    public void First_tokens_later_than_the_ttft_slo_are_counted_once_per_snapshot()
    {
        var p = new ModelPoolSignals(windowSeconds: 10, lostTurnSeconds: 60, ttftSloSeconds: 1.0);
        p.Arrived(100, "a", "silo-1", 40);
        p.Arrived(100, "b", "silo-1", 40);
        p.FirstToken(100.5, "a", "silo-1", 40, ttftSeconds: 0.5);
        p.FirstToken(101.5, "b", "silo-1", 40, ttftSeconds: 1.5);
        var first = p.Snapshot(102, ready: 1, lastDesired: 1, maxSequences: 4);
        Assert.Equal((2, 1), (first.TtftSloScored, first.TtftSloMisses));
        // the next snapshot starts counting afresh, so the scaler's calibration window does not count a turn twice
        var second = p.Snapshot(103, ready: 1, lastDesired: 1, maxSequences: 4);
        Assert.Equal((0, 0), (second.TtftSloScored, second.TtftSloMisses));
        // without an SLO nothing is scored
        var blind = new ModelPoolSignals(10, 60);
        blind.Arrived(100, "a", "silo-1", 40);
        blind.FirstToken(105, "a", "silo-1", 40, ttftSeconds: 5);
        Assert.Equal(0, blind.Snapshot(106, 1, 1, 4).TtftSloScored);
    }

    [Fact]
    public void Serving_silos_are_those_seen_in_the_window_or_with_a_turn_running_plus_loaded_copies()
    {
        var p = new ModelPoolSignals(windowSeconds: 10, lostTurnSeconds: 60);
        p.Arrived(0, "old", "silo-1", 10);
        p.Finished(1, "old", "silo-1", 5, 1);
        p.Arrived(2, "long", "silo-2", 10);
        p.FirstToken(3, "long", "silo-2", 10, 1);
        Assert.Equal(["silo-1", "silo-2"], p.ServingSilos(5, []));
        // silo-1 fell out of the window; silo-2 still decodes its long turn; silo-3 holds a loaded copy.
        Assert.Equal(["silo-2", "silo-3"], p.ServingSilos(20, ["silo-3"]));
    }

    [Fact]
    public void A_turn_whose_finish_never_comes_is_dropped_after_the_lost_turn_time()
    {
        var p = new ModelPoolSignals(windowSeconds: 10, lostTurnSeconds: 30);
        p.Arrived(0, "lost", "silo-1", 100);
        Assert.Equal(100, p.Snapshot(29, 1, null, 4).TokensInQueue);
        var later = p.Snapshot(31, 1, null, 4);
        Assert.Equal(0, later.TokensInQueue);
        Assert.Equal(0, later.InFlightRequests);
    }

    [Fact]
    public void Overrides_apply_to_their_model_only_and_bad_settings_name_their_key()
    {
        var o = new ModelPoolOptions { PrefillTokensPerSecond = 1000 };
        o.PerModel["big"] = new ModelPoolOverride { PrefillTokensPerSecond = 50, MaxReplicas = 3 };
        Assert.Equal(50, o.For("big").PrefillTokensPerSecond);
        Assert.Equal(3, o.For("big").MaxReplicas);
        Assert.Equal(1000, o.For("small").PrefillTokensPerSecond);
        Assert.Null(o.Validate());
        Assert.Equal("PrefillTokensPerSecond", new ModelPoolOptions { PrefillTokensPerSecond = 0 }.Validate()?.Field);
        Assert.Equal("SloMissTarget", new ModelPoolOptions { SloMissTarget = 0 }.Validate()?.Field);
        Assert.Equal("MaxReplicas", new ModelPoolOptions { MinReplicas = 4, MaxReplicas = 2 }.Validate()?.Field);
    }

    [Fact]
    public void The_scaler_sizes_a_model_pool_by_the_queueing_view_of_the_ttft_slo()
    {
        // 300 prompt tokens/s against 100 tokens/s per replica is 3 replicas of work; the queueing view wants headroom
        // beyond the plain 90 % utilisation cap (4 replicas) to keep waits within the budget.
        var o = new ModelPoolOptions { PrefillTokensPerSecond = 100, MinReplicas = 1, MaxReplicas = 20, WindowSeconds = 10, TtftSloSeconds = 1, ColdStartSeconds = 1 };
        var p = new ModelPoolSignals(o.WindowSeconds, o.LostTurnSeconds);
        for (var i = 0; i < 30; i++)
        {
            var t = i / 3.0;
            p.Arrived(t, $"t{i}", "silo-1", 100);
            p.FirstToken(t, $"t{i}", "silo-1", 100, 0.2);
            p.Finished(t, $"t{i}", "silo-1", 10, 0.1);
        }
        var decision = o.CreateScaler().Decide(p.Snapshot(10, ready: 1, lastDesired: null, maxSequences: o.MaxSequences));
        var plainCap = (int)Math.Ceiling(3 / 0.9);
        Assert.True(decision.DesiredReplicas > plainCap, decision.ToString());
        Assert.Contains("prefill", decision.Reason);

        // Without load, the same pool goes back to its floor.
        var idle = new ModelPoolOptions { MinReplicas = 1, WindowSeconds = 10, ScaleDownWindowSeconds = 0 }.CreateScaler()
            .Decide(new ModelPoolSignals(10, 60).Snapshot(100, ready: 1, lastDesired: 1, maxSequences: 16));
        Assert.Equal(1, idle.DesiredReplicas);
    }
}
