using System.Diagnostics;
using System.Text.Json;
using Neuro.Abstractions;
using Neuro.Cluster.Tests.Infrastructure;

namespace Neuro.Cluster.Tests;

/// <summary>Tasks in Redis: a task queued before its silo stops is still there on the next silo and then runs exactly once.</summary>
[Collection(RedisCollection.Name)]
public sealed class TaskDurabilityTests(RedisServer redis)
{
    private static async Task<T> Retry<T>(Func<Task<T>> call, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await call().WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception) when (clock.Elapsed < within)
            {
                await Task.Delay(200);
            }
        }
    }

    [Fact]
    public async Task A_queued_task_survives_a_silo_restart_and_then_runs_once()
    {
        var cluster = await Clusters.StartRedisAsync(redis.ConnectionString, silos: 1);
        try
        {
            var pool = $"durable-{Guid.NewGuid():N}"[..20];
            var id = $"t-{Guid.NewGuid():N}";
            await cluster.Client.GetGrain<IAgentPoolGrain>(pool).ConfigureAsync(new AgentPoolSpec("chromium-local", 0, 1, 0, 0, 1, PushToWorkers: true));
            // No ready replicas yet: the task must wait in the queue.
            var actions = new[]
            {
                JsonSerializer.Serialize(new { action = "HOVER", value = (string?)null, position = new[] { 0.5, 0.5 } }),
                JsonSerializer.Serialize(new { action = "ANSWER", value = "ran", position = (double[]?)null }),
            };
            var submitted = await cluster.Client.GetGrain<IAgentTaskGrain>(id).SubmitAsync(new AgentTaskSpec("survive", Width: 640, Height: 480, Pool: pool, Actions: actions));
            Assert.Equal("queued", submitted.Status);

            var old = cluster.Silos[0];
            await cluster.StopSiloAsync(old);
            await cluster.StartAdditionalSiloAsync();

            var task = cluster.Client.GetGrain<IAgentTaskGrain>(id);
            var afterRestart = await Retry(() => task.GetAsync(), TimeSpan.FromSeconds(60));
            Assert.Equal("queued", afterRestart!.Status);
            Assert.Equal(1, (await Retry(() => cluster.Client.GetGrain<IAgentPoolGrain>(pool).GetStatusAsync(), TimeSpan.FromSeconds(30)))!.QueueDepth);

            await cluster.Client.GetGrain<IAgentPoolGrain>(pool).SetReplicasAsync(1, 0);
            var clock = Stopwatch.StartNew();
            AgentTaskView view;
            do
            {
                await Task.Delay(50);
                view = (await task.GetAsync())!;
            }
            while (view.Status is "queued" or "running" && clock.Elapsed < TimeSpan.FromSeconds(60));

            Assert.Equal("completed", view.Status);
            Assert.Equal("ran", view.Answer);
            Assert.Equal(1, view.Attempts);
            Assert.Equal(2, (await task.GetStepsAsync()).Count);
            // The worker frees its slot right after reporting the result.
            AgentPoolStatus status;
            clock.Restart();
            do
            {
                status = (await cluster.Client.GetGrain<IAgentPoolGrain>(pool).GetStatusAsync())!;
            }
            while (status.InFlight > 0 && clock.Elapsed < TimeSpan.FromSeconds(5) && await Task.Delay(20).ContinueWith(_ => true));
            Assert.Equal(0, status.QueueDepth);
            Assert.Equal(0, status.InFlight);
            Assert.Equal(1, status.CompletedItems);
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }
}
