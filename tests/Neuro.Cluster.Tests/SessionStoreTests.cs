using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Core.Sessions;
using Neuro.Storage;
using StackExchange.Redis;

namespace Neuro.Cluster.Tests;

/// <summary>The <see cref="ISessionStore"/> contract, run against the Redis store (real redis-server) and the in-memory one.</summary>
[Collection(RedisCollection.Name)]
public sealed class SessionStoreTests(RedisServer redis) : IAsyncLifetime
{
    private ConnectionMultiplexer _connection = null!;

    public async Task InitializeAsync() => _connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);

    public async Task DisposeAsync() => await _connection.DisposeAsync();

    public static TheoryData<string> Stores => ["redis", "memory"];

    private ISessionStore Store(string kind) => kind == "redis" ? new RedisSessionStore(_connection, $"svc-{Guid.NewGuid():N}") : new InMemorySessionStore();

    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    private static SessionMeta Meta() => new() { Pool = "p", CreatedAt = T0, LastActivityAt = T0, IdleTtl = TimeSpan.FromMinutes(5) };

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Round_trip_keeps_meta_and_turns_in_order(string kind)
    {
        var store = Store(kind);
        var meta = Meta();
        meta.Scratch["k"] = new ScratchEntry("v \"q\"", T0.AddSeconds(5));
        await store.SaveMetaAsync("s1", meta);
        for (var i = 1; i <= 3; i++)
        {
            await store.AppendAsync("s1", new TurnRecord(i, "user", $"t{i} é", i, 2 * i, T0.AddSeconds(i)), meta.IdleTtl);
        }

        var loaded = await store.LoadAsync("s1");
        Assert.NotNull(loaded);
        Assert.Equal("p", loaded.Meta.Pool);
        Assert.Equal("v \"q\"", loaded.Meta.Scratch["k"].Value);
        Assert.Equal(["t1 é", "t2 é", "t3 é"], loaded.Turns.Select(t => t.Content));
        var state = ConversationState.FromStore(loaded);
        Assert.Equal(4, state.NextSeq);
        Assert.Equal(T0.AddSeconds(3), state.LastActivityAt);
        Assert.Equal(6, state.PromptTokens);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Append_with_the_wrong_sequence_is_refused_and_stores_nothing(string kind)
    {
        var store = Store(kind);
        await store.SaveMetaAsync("s2", Meta());
        await store.AppendAsync("s2", new TurnRecord(1, "user", "first", 0, 0, T0), TimeSpan.FromMinutes(5));

        // A stale activation that still believes the log is empty, and one that skips ahead.
        await Assert.ThrowsAsync<SessionConflictException>(() => store.AppendAsync("s2", new TurnRecord(1, "user", "stale", 0, 0, T0), TimeSpan.FromMinutes(5)));
        await Assert.ThrowsAsync<SessionConflictException>(() => store.AppendAsync("s2", new TurnRecord(3, "user", "ahead", 0, 0, T0), TimeSpan.FromMinutes(5)));

        Assert.Equal(["first"], (await store.LoadAsync("s2"))!.Turns.Select(t => t.Content));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Append_to_a_deleted_session_is_refused(string kind)
    {
        var store = Store(kind);
        await store.SaveMetaAsync("s3", Meta());
        await store.DeleteAsync("s3");
        Assert.Null(await store.LoadAsync("s3"));
        await Assert.ThrowsAsync<SessionConflictException>(() => store.AppendAsync("s3", new TurnRecord(1, "user", "late", 0, 0, T0), TimeSpan.FromMinutes(5)));
        Assert.Null(await store.LoadAsync("s3"));
    }

    [Fact]
    public async Task Redis_keys_carry_the_idle_ttl()
    {
        var serviceId = $"svc-{Guid.NewGuid():N}";
        var store = new RedisSessionStore(_connection, serviceId);
        await store.SaveMetaAsync("s4", Meta());
        await store.AppendAsync("s4", new TurnRecord(1, "user", "x", 0, 0, T0), TimeSpan.FromSeconds(90));
        var keys = await redis.KeysContainingAsync(serviceId);
        Assert.Equal(2, keys.Count);
        foreach (var key in keys)
        {
            var ttl = await _connection.GetDatabase().KeyTimeToLiveAsync(key);
            Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(80), TimeSpan.FromSeconds(90));
        }
    }
}
