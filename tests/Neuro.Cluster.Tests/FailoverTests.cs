using System.Collections.Concurrent;
using Neuro.Abstractions;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Testing;

namespace Neuro.Cluster.Tests;

/// <summary>Two real silos with Redis membership and Redis grain storage. Clients keep writing turns while the silo that
/// hosts the sessions dies (or drains); afterwards every acknowledged turn must be there, served by the survivor.</summary>
[Collection(RedisCollection.Name)]
public sealed class FailoverTests(RedisServer redis)
{
    private const int Sessions = 4;
    private const int AcksBeforeFailure = 25;
    private const int AcksAfterFailure = 25;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task No_acknowledged_turn_is_lost_when_the_hosting_silo_dies_or_drains(bool kill)
    {
        var cluster = await Clusters.StartRedisAsync(redis.ConnectionString, silos: 2);
        try
        {
            var client = cluster.Client;
            var ids = Enumerable.Range(0, Sessions).Select(i => $"failover-{Guid.NewGuid():N}-{i}").ToArray();
            foreach (var id in ids)
            {
                await client.GetGrain<ISessionGrain>(id).OpenAsync(new SessionOpenRequest());
            }
            var victimName = (await client.GetGrain<ISessionGrain>(ids[0]).GetAsync())!.Silo;
            var victim = cluster.Silos.Single(s => s.Name == victimName);
            var survivor = cluster.Silos.Single(s => s.Name != victimName);

            var acked = ids.ToDictionary(id => id, _ => new ConcurrentQueue<Turn>());
            var failedCalls = 0;
            var failed = new TaskCompletionSource();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));

            async Task Writer(string id)
            {
                var session = client.GetGrain<ISessionGrain>(id);
                var ackedAfterFailure = 0;
                for (var n = 0; ackedAfterFailure < AcksAfterFailure; n++)
                {
                    deadline.Token.ThrowIfCancellationRequested();
                    try
                    {
                        var input = new TurnInput("user", $"{id}#{n}", PromptTokens: 1);
                        acked[id].Enqueue(input.Stored(await session.AppendTurnAsync(input).WaitAsync(TimeSpan.FromSeconds(5))));
                        if (failed.Task.IsCompleted)
                        {
                            ackedAfterFailure++;
                        }
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !deadline.IsCancellationRequested)
                    {
                        // Not acknowledged: the turn may or may not be stored. A new turn (new content) is tried next.
                        Interlocked.Increment(ref failedCalls);
                        await Task.Delay(50, deadline.Token);
                    }
                }
            }

            var writers = ids.Select(id => Task.Run(() => Writer(id))).ToArray();
            while (acked[ids[0]].Count < AcksBeforeFailure)
            {
                await Task.Delay(10, deadline.Token);
            }
            if (kill)
            {
                await cluster.KillSiloAsync(victim);
            }
            else
            {
                await cluster.StopSiloAsync(victim);
            }
            failed.SetResult();
            await Task.WhenAll(writers);

            foreach (var id in ids)
            {
                var snapshot = await client.GetGrain<ISessionGrain>(id).GetAsync();
                Assert.NotNull(snapshot);
                Assert.Equal(survivor.Name, snapshot.Silo);
                var stored = snapshot.Turns.ToDictionary(t => t.Seq);
                var missing = acked[id].Where(a => !stored.TryGetValue(a.Seq, out var s) || s.Content != a.Content).ToList();
                Assert.True(missing.Count == 0, $"{id}: {missing.Count} acknowledged turns lost, e.g. #{missing.FirstOrDefault()?.Seq}");
                Assert.True(acked[id].Count >= AcksAfterFailure);
                Assert.Equal(snapshot.Turns.Select(t => t.Seq).Order(), snapshot.Turns.Select(t => t.Seq));
            }
            Console.WriteLine($"failover ({(kill ? "kill" : "drain")}): {acked.Values.Sum(q => q.Count)} acknowledged turns, 0 lost, {failedCalls} unacknowledged calls during handoff");
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task Idle_expiry_clears_the_stored_state_in_redis()
    {
        var cluster = await Clusters.StartRedisAsync(redis.ConnectionString, silos: 1);
        try
        {
            var id = $"expiry-{Guid.NewGuid():N}";
            var session = cluster.Client.GetGrain<ISessionGrain>(id);
            await session.OpenAsync(new SessionOpenRequest(IdleTtl: TimeSpan.FromMinutes(5)));
            await session.AppendTurnAsync(new TurnInput("user", "remember me"));
            Assert.NotEmpty(await redis.KeysContainingAsync(id));

            TestClock.Fake.Advance(TimeSpan.FromMinutes(6));
            // What the idle-expiry reminder does when it fires on a session nobody calls any more.
            await session.AsReference<IRemindable>().ReceiveReminder("idle-expiry", default);

            Assert.Empty(await redis.KeysContainingAsync(id));
            Assert.Null(await session.GetAsync());
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }
}
