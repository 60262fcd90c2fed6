using Neuro.Autoscaling.Live;

namespace Neuro.Autoscaling.Tests;

public sealed class PoolSignalsTests
{
    [Fact]
    public void Rates_waits_and_work_come_from_the_trailing_window_only()
    {
        var signals = new PoolSignals(windowSeconds: 60);
        signals.Arrived(0, 1000); // falls out of the window by t = 100
        for (var t = 50; t < 100; t += 5)
        {
            signals.Arrived(t, 200);
            signals.Started(t, waitSeconds: t == 95 ? 9 : 1);
            signals.Finished(t, outputTokens: 0, seconds: 4); // an agent task: 4 s of work, no tokens
        }
        var s = signals.Snapshot(100, ready: 2, starting: 1, warm: 1, queueDepth: 3, oldestQueuedAge: 2.5, tokensInQueue: 600, inFlight: 3, slotsPerReplica: 2);

        Assert.Equal(10 / 60.0, s.ArrivalRatePerSecond, 6);
        Assert.Equal(2000 / 60.0, s.PrefillTokensPerSecond, 6);
        Assert.Equal(200, s.MeanContextTokens, 6);
        Assert.Equal(4, s.MeanOutputTokens, 6); // seconds of agent time stand in for output tokens
        Assert.Equal(9, s.QueueWaitP95Seconds); // 10 waits: the 95th percentile is the largest
        Assert.Equal(0.75, s.Utilization, 6);   // 3 in flight on 2 × 2 slots
        Assert.Equal(3, s.ProvisionedReplicas);
        Assert.Equal(600, s.TokensInQueue);
    }

    [Fact]
    public void No_data_is_no_wait_and_no_rate()
    {
        var s = new PoolSignals().Snapshot(10, 0, 0, 0, 0, 0, 0, 0, 1);
        Assert.Null(s.TtftP95Seconds);
        Assert.Equal(0, s.ArrivalRatePerSecond);
        Assert.Equal(0, s.Utilization);
    }

    [Fact]
    public void An_empty_pool_with_waiting_work_reads_as_saturated()
    {
        var signals = new PoolSignals();
        signals.Arrived(1, 0);
        var s = signals.Snapshot(2, ready: 0, starting: 0, warm: 0, queueDepth: 1, oldestQueuedAge: 1, tokensInQueue: 0, inFlight: 1, slotsPerReplica: 1);
        Assert.Equal(1, s.Utilization);
    }
}
