using Neuro.Autoscaling.Simulation;

namespace Neuro.Autoscaling.Tests;

public class OracleTests
{
    private static readonly ServiceModel M = TestModels.Small;

    // Poisson arrivals, 6 req/s for the first 100 s of every 300 s and 1.5 req/s otherwise, for 900 s.
    private static List<TraceRequest> Bursty(int seed)
    {
        var rng = new Random(seed); var t = 0.0;
        var trace = new List<TraceRequest>();
        while (t < 900) { t += -Math.Log(1 - rng.NextDouble()) / (t % 300 < 100 ? 6 : 1.5); trace.Add(new TraceRequest(t, 100 + rng.Next(900), 1 + rng.Next(200))); }
        return trace;
    }

    [Fact]
    public void Schedule_with_look_ahead_asks_for_the_most_the_next_windows_need_and_keeps_the_stand_bys()
    {
        var s = new ScheduleScaler([1, 4, 2, 2, 6], 15, lookAheadWindows: 1, warmPool: 6);
        var asked = Enumerable.Range(0, 6).Select(k => s.Decide(new ScalingSnapshot { NowSeconds = 15 * k })).ToArray();
        Assert.Equal([4, 4, 2, 6, 6, 6], asked.Select(d => d.DesiredReplicas).ToArray());
        Assert.All(asked, d => Assert.Equal(6, d.WarmPoolReplicas));
        Assert.Equal([1, 4, 2, 2, 6, 6], Enumerable.Range(0, 6).Select(k => new ScheduleScaler([1, 4, 2, 2, 6], 15).Decide(new ScalingSnapshot { NowSeconds = 15 * k }).DesiredReplicas).ToArray());
    }

    [Fact]
    public void Oracle_paying_warm_starts_meets_the_target_and_bills_its_starts()
    {
        var trace = Bursty(7);
        var paying = HindsightOracle.Run(M, trace, 15, 0.99, warmupSeconds: 120, maxPruneSimulations: 200, payStarts: true);
        Assert.True(paying.Simulated.SloAttainment >= 0.99, $"{paying.Simulated.SloAttainment}");
        Assert.True(paying.Simulated.GpuHours >= paying.WorkBoundGpuHours - 1e-12);
        // its replicas start from stand-bys (warm, 5 s here) rather than instantly: the stand-by pool is held
        Assert.True(paying.Simulated.WarmReplicaHours > 0);
        // replaying its schedule instantly (no start to pay, same schedule) can only cost less
        var instant = new Simulator(M, trace, HindsightOracle.OracleOptions(null, 15, 1, 120) with { InitialReplicas = paying.Schedule[0] })
            .Run(new ScheduleScaler(paying.Schedule, 15));
        Assert.True(instant.GpuHours <= paying.Simulated.GpuHours + 1e-12, $"{instant.GpuHours} vs {paying.Simulated.GpuHours}");
    }

    [Theory]
    [InlineData(0.99)]
    [InlineData(0.95)]
    public void Pruned_schedule_meets_the_target_and_lies_between_the_work_bound_and_the_repaired_schedule(double target)
    {
        var trace = Bursty(7);
        var o = HindsightOracle.Run(M, trace, 15, target, warmupSeconds: 120, maxPruneSimulations: 400);
        Assert.NotNull(o.Repaired);
        Assert.True(o.Repaired!.SloAttainment >= target, $"repaired {o.Repaired.SloAttainment}");
        Assert.True(o.Simulated.SloAttainment >= target, $"pruned {o.Simulated.SloAttainment}");
        Assert.True(o.Simulated.GpuHours <= o.Repaired.GpuHours + 1e-12, $"{o.Simulated.GpuHours} vs repaired {o.Repaired.GpuHours}");
        Assert.True(o.Simulated.GpuHours >= o.WorkBoundGpuHours - 1e-12, $"{o.Simulated.GpuHours} < work bound {o.WorkBoundGpuHours}");
        Assert.True(o.PruneSimulations <= 400);

        // the reported result is the replay of the reported schedule, not a stale intermediate
        var replay = new Simulator(M, trace, HindsightOracle.OracleOptions(null, 15, 1, 120) with { InitialReplicas = o.Schedule[0] })
            .Run(new ScheduleScaler(o.Schedule, 15));
        Assert.Equal(replay.GpuHours, o.Simulated.GpuHours, 12);
        Assert.Equal(replay.SloAttainment, o.Simulated.SloAttainment, 12);
    }

    [Fact]
    public void Oracle_is_deterministic()
    {
        var trace = Bursty(11);
        var a = HindsightOracle.Run(M, trace, 15, 0.99, seed: 3, warmupSeconds: 120, maxPruneSimulations: 300);
        var b = HindsightOracle.Run(M, trace, 15, 0.99, seed: 3, warmupSeconds: 120, maxPruneSimulations: 300);
        Assert.Equal(a.Schedule, b.Schedule);
        Assert.Equal(a.Simulated.GpuHours, b.Simulated.GpuHours);
        Assert.Equal(a.Simulated.SloAttainment, b.Simulated.SloAttainment);
        Assert.Equal(a.PruneSimulations, b.PruneSimulations);
    }

    // k requests arrive together every second; each prefill takes exactly 1 s and the SLO is 1 s, so no request may
    // queue at all: exactly k replicas are needed in every window with arrivals, and k·T replica-seconds is the minimum.
    private static readonly ServiceModel OneSecond = M with
    {
        PrefillFixedSeconds = 1, PrefillSecondsPerToken = 0, DecodeSecondsPerToken = 0.01, TtftSloSeconds = 1, TtftSloScale = 0,
    };

    private static List<TraceRequest> Constant(int k, int seconds) =>
        Enumerable.Range(0, seconds).SelectMany(t => Enumerable.Repeat(new TraceRequest(t, 10, 1), k)).ToList();

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void Prune_finds_the_known_minimum_from_an_over_provisioned_schedule(int k)
    {
        const int seconds = 300;   // 20 windows of 15 s
        var trace = Constant(k, seconds);
        var start = Enumerable.Repeat(2 * k, 24).ToArray();
        var (schedule, sim, accepted, _) = HindsightOracle.PruneSchedule(OneSecond, trace, 15, start, 1.0);
        Assert.Equal(1.0, sim.SloAttainment);
        Assert.True(accepted > 0);
        Assert.Equal(Enumerable.Repeat(k, 20), schedule.Take(20));
        Assert.Equal(k * seconds / 3600.0, sim.GpuHours, 9);

        // and one replica fewer in any window with arrivals misses requests, so the minimum is tight
        var lower = schedule.ToArray(); lower[7]--;
        var r = new Simulator(OneSecond, trace, HindsightOracle.OracleOptions(null, 15, 1, 0) with { InitialReplicas = lower[0] })
            .Run(new ScheduleScaler(lower, 15));
        Assert.True(r.SloAttainment < 1.0);
    }

    [Fact]
    public void Oracle_finds_the_known_minimum_on_constant_load()
    {
        const int k = 4, seconds = 300;
        var o = HindsightOracle.Run(OneSecond, Constant(k, seconds), 15, 1.0, maxPruneSimulations: 200);
        Assert.Equal(1.0, o.Simulated.SloAttainment);
        Assert.Equal(k * seconds / 3600.0, o.Simulated.GpuHours, 9);
    }

    [Fact]
    public void A_lower_target_never_costs_more_than_the_repaired_schedule_at_that_target_and_a_zero_budget_keeps_the_repair()
    {
        var trace = Bursty(5);
        var repairOnly = HindsightOracle.Run(M, trace, 15, 0.9, warmupSeconds: 120, maxPruneSimulations: 0);
        Assert.Equal(0, repairOnly.PruneSimulations);
        Assert.Equal(repairOnly.Repaired!.GpuHours, repairOnly.Simulated.GpuHours, 12);
        Assert.Equal(repairOnly.RepairedSchedule, repairOnly.Schedule);
        var pruned = HindsightOracle.Run(M, trace, 15, 0.9, warmupSeconds: 120, maxPruneSimulations: 300);
        Assert.True(pruned.Simulated.SloAttainment >= 0.9);
        Assert.True(pruned.Simulated.GpuHours < repairOnly.Simulated.GpuHours, $"{pruned.Simulated.GpuHours} vs {repairOnly.Simulated.GpuHours}");
    }
}
