using Neuro.Abstractions;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Testing;

namespace Neuro.Cluster.Tests;

[Collection(MemoryClusterCollection.Name)]
public sealed class AgentPoolGrainTests(MemoryClusterFixture fixture)
{
    private static readonly AgentPoolSpec Spec = new("showui-web", MinReplicas: 1, MaxReplicas: 8, PrewarmPercent: 25, TokensPerSecondBudget: 5000, MaxConcurrencyPerReplica: 2);

    private IAgentPoolGrain NewPool() => fixture.Grains.GetGrain<IAgentPoolGrain>($"pool-{Guid.NewGuid():N}");

    [Fact]
    public async Task Unconfigured_pool_reports_nothing_and_refuses_work()
    {
        var pool = NewPool();
        Assert.Null(await pool.GetStatusAsync());
        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => pool.EnqueueAsync(new WorkItem("w1", null, 0, 10, 10)));
        Assert.Equal(NeuroErrorKind.NotFound, error.Kind);
    }

    [Theory]
    [InlineData("", 1, 2, 0, "agent_class")]
    [InlineData("a", 3, 2, 0, "max_replicas")]
    [InlineData("a", 0, 2, 101, "prewarm_percent")]
    [InlineData("a", -1, 2, 0, "min_replicas")]
    public async Task Invalid_spec_is_refused_and_changes_nothing(string agentClass, int min, int max, int prewarm, string field)
    {
        var pool = NewPool();
        await pool.ConfigureAsync(Spec);
        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => pool.ConfigureAsync(new AgentPoolSpec(agentClass, min, max, prewarm, 100)));
        Assert.Equal(field, error.Field);
        Assert.Equal(Spec, (await pool.GetStatusAsync())!.Spec);
    }

    [Fact]
    public async Task Queue_is_fifo_within_priority_and_higher_priority_first()
    {
        var pool = NewPool();
        await pool.ConfigureAsync(Spec);
        await pool.SetReplicasAsync(ready: 4, warming: 0);
        Assert.Equal(1, await pool.EnqueueAsync(new WorkItem("low-1", null, 0, 100, 50)));
        Assert.Equal(2, await pool.EnqueueAsync(new WorkItem("low-2", null, 0, 100, 50)));
        Assert.Equal(1, await pool.EnqueueAsync(new WorkItem("high-1", null, 5, 100, 50)));
        Assert.Equal(2, await pool.EnqueueAsync(new WorkItem("high-2", null, 5, 100, 50)));
        Assert.Equal(2, await pool.EnqueueAsync(new WorkItem("high-2", null, 5, 100, 50))); // retry is not queued twice

        var order = new List<string>();
        while (await pool.DequeueAsync() is { } item)
        {
            order.Add(item.WorkId);
        }
        Assert.Equal(["high-1", "high-2", "low-1", "low-2"], order);
    }

    [Fact]
    public async Task Status_exposes_the_numbers_a_scaler_needs()
    {
        var pool = NewPool();
        await pool.ConfigureAsync(Spec);
        await pool.SetReplicasAsync(ready: 1, warming: 2);
        await pool.EnqueueAsync(new WorkItem("a", null, 0, 100, 20));
        await pool.EnqueueAsync(new WorkItem("b", null, 0, 300, 40));
        await pool.EnqueueAsync(new WorkItem("c", null, 0, 1, 1));
        TestClock.Fake.Advance(TimeSpan.FromSeconds(7));

        var first = await pool.DequeueAsync();
        var second = await pool.DequeueAsync();
        Assert.Null(await pool.DequeueAsync()); // 1 ready replica x 2 slots: no free slot left
        await pool.CompleteAsync(first!.WorkId, outputTokens: 17);

        var status = (await pool.GetStatusAsync())!;
        Assert.Equal(1, status.ReadyReplicas);
        Assert.Equal(2, status.WarmingReplicas);
        Assert.Equal(1, status.QueueDepth);
        Assert.Equal(2, status.QueuedTokens);
        Assert.Equal(TimeSpan.FromSeconds(7), status.OldestQueuedAge);
        Assert.Equal(1, status.InFlight);
        Assert.Equal(1, status.CompletedItems);
        Assert.Equal(17, status.CompletedOutputTokens);
        Assert.Equal(1, status.FreeSlots);
        Assert.Equal(2, status.WarmTarget); // 1 ready + ceil(25% of 1)
        Assert.Equal("b", second!.WorkId);
    }

    [Fact]
    public async Task Completing_unknown_work_is_not_found()
    {
        var pool = NewPool();
        await pool.ConfigureAsync(Spec);
        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => pool.CompleteAsync("nope", 1));
        Assert.Equal("work_id", error.Field);
    }
}
