using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Core.Tasks;
using Neuro.Storage;
using StackExchange.Redis;

namespace Neuro.Cluster.Tests;

/// <summary>The <see cref="ITaskIndexStore"/> contract against the Redis store (real redis-server) and the in-memory one:
/// listing order, filters, cursors, and the atomic active-task reservation tenant quotas rely on.</summary>
[Collection(RedisCollection.Name)]
public sealed class TaskIndexStoreTests(RedisServer redis) : IAsyncLifetime
{
    private ConnectionMultiplexer _connection = null!;

    public async Task InitializeAsync() => _connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);

    public async Task DisposeAsync() => await _connection.DisposeAsync();

    public static TheoryData<string> Stores => ["redis", "memory"];

    private ITaskIndexStore Store(string kind) =>
        kind == "redis" ? new RedisTaskIndexStore(Task.FromResult<IConnectionMultiplexer>(_connection), $"svc-{Guid.NewGuid():N}") : new InMemoryTaskIndexStore();

    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>150 tasks over 3 tenants and 2 pools; every 7th shares its millisecond with the previous one (ties).</summary>
    private static List<IndexedTask> Corpus()
    {
        var tasks = new List<IndexedTask>();
        var ms = 0;
        for (var i = 0; i < 150; i++)
        {
            ms += i % 7 == 0 ? 0 : 3;
            tasks.Add(new IndexedTask($"t{i:D3}", i % 5 == 0 ? "completed" : "queued", T0.AddMilliseconds(ms), i % 2 == 0 ? "a" : "b", $"tenant{i % 3}"));
        }
        return tasks;
    }

    private static async Task<List<IndexedTask>> ReadAll(ITaskIndexStore store, TaskFilter filter)
    {
        var all = new List<IndexedTask>();
        TaskCursor? after = null;
        for (var pages = 0; pages < 1000; pages++)
        {
            var page = await store.QueryAsync(filter with { After = after });
            Assert.True(page.Tasks.Count <= filter.PageSize);
            all.AddRange(page.Tasks);
            if (page.Next is null)
            {
                return all;
            }
            // A cursor survives the round trip through its opaque form.
            after = TaskCursor.TryDecode(page.Next.Value.Encode());
        }
        throw new InvalidOperationException("paging did not end");
    }

    private static IEnumerable<IndexedTask> NewestFirst(IEnumerable<IndexedTask> tasks) =>
        tasks.OrderByDescending(t => t.CreatedMs).ThenByDescending(t => t.TaskId, StringComparer.Ordinal);

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Paging_returns_every_match_once_newest_first(string kind)
    {
        var store = Store(kind);
        var corpus = Corpus();
        foreach (var t in corpus.OrderBy(_ => Random.Shared.Next()))
        {
            await store.UpsertAsync(t);
        }

        var filters = new[]
        {
            new TaskFilter(PageSize: 7),
            new TaskFilter(Tenant: "tenant1", PageSize: 10),
            new TaskFilter(Status: "completed", Pool: "a", PageSize: 4),
            new TaskFilter(CreatedAfter: T0.AddMilliseconds(60), CreatedBefore: T0.AddMilliseconds(240), Tenant: "tenant2", PageSize: 3),
        };
        foreach (var filter in filters)
        {
            var expected = NewestFirst(corpus.Where(filter.Admits)).Select(t => t.TaskId).ToArray();
            var actual = (await ReadAll(store, filter)).Select(t => t.TaskId).ToArray();
            Assert.NotEmpty(expected);
            Assert.Equal(expected, actual);
        }
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Upsert_replaces_the_entry_and_a_new_task_does_not_shift_later_pages(string kind)
    {
        var store = Store(kind);
        foreach (var t in Corpus())
        {
            await store.UpsertAsync(t);
        }
        var first = await store.QueryAsync(new TaskFilter(PageSize: 10));
        await store.UpsertAsync(new IndexedTask("newest", "queued", T0.AddHours(1), "a", "tenant0"));
        await store.UpsertAsync(first.Tasks[0] with { Status = "running" });
        var second = await store.QueryAsync(new TaskFilter(PageSize: 10, After: first.Next));
        var expected = NewestFirst(Corpus()).Skip(10).Take(10).Select(t => t.TaskId);
        Assert.Equal(expected, second.Tasks.Select(t => t.TaskId));
        var running = await store.QueryAsync(new TaskFilter(Status: "running"));
        Assert.Equal([first.Tasks[0].TaskId], running.Tasks.Select(t => t.TaskId));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Reservations_never_exceed_the_limit_under_concurrency_and_terminal_status_frees_a_slot(string kind)
    {
        var store = Store(kind);
        var granted = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(() => store.TryReserveActiveAsync("acme", $"t{i}", 10))));
        Assert.Equal(10, granted.Count(g => g));
        Assert.Equal(10, await store.CountActiveAsync("acme"));
        var holder = Enumerable.Range(0, 100).First(i => granted[i]);
        Assert.True(await store.TryReserveActiveAsync("acme", $"t{holder}", 10)); // holding one already: still true, not twice
        Assert.Equal(10, await store.CountActiveAsync("acme"));
        Assert.False(await store.TryReserveActiveAsync("acme", "late", 10));
        Assert.True(await store.TryReserveActiveAsync("other", "late", 10)); // quotas are per tenant

        await store.UpsertAsync(new IndexedTask($"t{holder}", "completed", T0, "a", "acme"));
        Assert.Equal(9, await store.CountActiveAsync("acme"));
        Assert.True(await store.TryReserveActiveAsync("acme", "late", 10));
        await store.ReleaseActiveAsync("acme", "late");
        Assert.Equal(9, await store.CountActiveAsync("acme"));
    }

    [Fact]
    public void A_cursor_that_is_not_ours_does_not_decode()
    {
        Assert.Null(TaskCursor.TryDecode("not base64!"));
        Assert.Null(TaskCursor.TryDecode(Convert.ToBase64String("nobar"u8.ToArray())));
        Assert.Equal(new TaskCursor(5, "a|b"), TaskCursor.TryDecode(new TaskCursor(5, "a|b").Encode()));
    }
}

/// <summary>The <see cref="Neuro.Core.Pools.IWorkQueueStore"/> contract against Redis and memory: what a pool grain
/// reloads after each kind of change.</summary>
[Collection(RedisCollection.Name)]
public sealed class WorkQueueStoreTests(RedisServer redis) : IAsyncLifetime
{
    private ConnectionMultiplexer _connection = null!;

    public async Task InitializeAsync() => _connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);

    public async Task DisposeAsync() => await _connection.DisposeAsync();

    public static TheoryData<string> Stores => ["redis", "memory"];

    private Neuro.Core.Pools.IWorkQueueStore Store(string kind) => kind == "redis"
        ? new RedisWorkQueueStore(Task.FromResult<IConnectionMultiplexer>(_connection), $"svc-{Guid.NewGuid():N}")
        : new Neuro.Core.Pools.InMemoryWorkQueueStore();

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Each_change_is_what_a_reload_sees(string kind)
    {
        var store = Store(kind);
        var t0 = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        var items = Enumerable.Range(0, 5).Select(i => new Neuro.Core.Pools.QueuedWork($"w{i}", i == 0 ? "s" : null, i % 2, i, 2 * i, t0.AddSeconds(i), i)).ToArray();
        foreach (var item in items)
        {
            await store.EnqueueAsync("p", item);
        }
        await store.StartAsync("p", items[1] with { Worker = "p/0" });
        await store.StartAsync("p", items[2]);
        await store.CompleteAsync("p", "w2");
        await store.RemoveQueuedAsync("p", "w3");
        await store.StartAsync("p", items[4] with { Worker = "p/1" });
        await store.RequeueAsync("p", items[4] with { Worker = "p/1" });

        var (queued, inFlight) = await store.LoadAsync("p");
        Assert.Equal(new[] { items[0], items[4] }, queued.OrderBy(w => w.Seq));
        Assert.Equal(new[] { items[1] with { Worker = "p/0" } }, inFlight);
        var (otherQueued, otherInFlight) = await store.LoadAsync("another-pool");
        Assert.Empty(otherQueued);
        Assert.Empty(otherInFlight);
    }

    [Fact]
    public void Dispatch_order_is_priority_first_then_arrival()
    {
        var t0 = DateTimeOffset.UnixEpoch;
        var a = new Neuro.Core.Pools.QueuedWork("a", null, 0, 0, 0, t0, 1);
        var b = new Neuro.Core.Pools.QueuedWork("b", null, 5, 0, 0, t0, 2);
        var c = new Neuro.Core.Pools.QueuedWork("c", null, 0, 0, 0, t0, 0);
        Assert.Equal(new[] { b, c, a }, new[] { a, b, c }.Order(Neuro.Core.Pools.QueuedWork.DispatchOrder));
    }
}
