using System.Text.Json;
using Neuro.Core.Sessions;
using StackExchange.Redis;

namespace Neuro.Storage;

/// <summary>Sessions in Redis: a JSON string for the metadata and a list of JSON turns, both under one hash tag so they
/// share a slot on a Redis Cluster. An append is one round trip of one turn, guarded by the expected list length, and
/// re-arms the idle expiry on both keys, so Redis itself drops a session nobody touches for its idle TTL.</summary>
public sealed class RedisSessionStore(Task<IConnectionMultiplexer> connecting, string serviceId) : ISessionStore
{
    public RedisSessionStore(IConnectionMultiplexer redis, string serviceId) : this(Task.FromResult(redis), serviceId)
    {
    }

    // KEYS: meta, turns. ARGV: expected length before the append, turn JSON, idle TTL in ms.
    private static readonly LuaScript Append = LuaScript.Prepare("""
        if redis.call('EXISTS', @meta) == 0 then return -2 end
        local n = redis.call('LLEN', @turns)
        if n ~= tonumber(@expected) then return -1 end
        redis.call('RPUSH', @turns, @turn)
        redis.call('PEXPIRE', @turns, @ttl)
        redis.call('PEXPIRE', @meta, @ttl)
        return n + 1
        """);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // Connecting is awaited, never waited on: a blocking connect inside grain activations starves a small thread pool.
    private async ValueTask<IDatabase> DbAsync() => (await connecting).GetDatabase();

    public async Task<StoredSession?> LoadAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        var (meta, turns) = Keys(sessionId);
        var batch = (await DbAsync()).CreateBatch();
        var metaTask = batch.StringGetAsync(meta);
        var turnsTask = batch.ListRangeAsync(turns);
        batch.Execute();
        var raw = await metaTask;
        if (raw.IsNull)
        {
            return null;
        }
        var stored = JsonSerializer.Deserialize<SessionMeta>((byte[])raw!, Json)!;
        return new StoredSession(stored, (await turnsTask).Select(t => JsonSerializer.Deserialize<TurnRecord>((byte[])t!, Json)!).ToArray());
    }

    public async Task SaveMetaAsync(string sessionId, SessionMeta meta, CancellationToken cancellationToken = default)
    {
        var (metaKey, turns) = Keys(sessionId);
        var tx = (await DbAsync()).CreateTransaction();
        _ = tx.StringSetAsync(metaKey, JsonSerializer.SerializeToUtf8Bytes(meta, Json), meta.IdleTtl);
        _ = tx.KeyExpireAsync(turns, meta.IdleTtl);
        if (!await tx.ExecuteAsync())
        {
            throw new SessionConflictException($"session '{sessionId}' metadata write did not commit");
        }
    }

    public async Task AppendAsync(string sessionId, TurnRecord turn, TimeSpan idleTtl, CancellationToken cancellationToken = default)
    {
        var (meta, turns) = Keys(sessionId);
        var result = (long)await Append.EvaluateAsync(await DbAsync(), new
        {
            meta,
            turns,
            expected = turn.Seq - 1,
            turn = (RedisValue)JsonSerializer.SerializeToUtf8Bytes(turn, Json),
            ttl = (long)idleTtl.TotalMilliseconds,
        });
        if (result < 0)
        {
            throw new SessionConflictException(result == -2
                ? $"session '{sessionId}' has no stored record (deleted or expired)"
                : $"session '{sessionId}' log does not hold {turn.Seq - 1} turns: another writer got there first");
        }
    }

    public async Task DeleteAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        var (meta, turns) = Keys(sessionId);
        await (await DbAsync()).KeyDeleteAsync([meta, turns]);
    }

    private (RedisKey Meta, RedisKey Turns) Keys(string sessionId) =>
        ($"{serviceId}/session/{{{sessionId}}}/meta", $"{serviceId}/session/{{{sessionId}}}/turns");
}

/// <summary>Artifacts (step screenshots) as Redis strings with a TTL.</summary>
public sealed class RedisArtifactStore(Task<IConnectionMultiplexer> connecting, string serviceId) : IArtifactStore
{
    public async Task PutAsync(string key, byte[] data, TimeSpan ttl, CancellationToken cancellationToken = default) =>
        await (await connecting).GetDatabase().StringSetAsync($"{serviceId}/artifact/{key}", data, ttl);

    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) =>
        (byte[]?)await (await connecting).GetDatabase().StringGetAsync($"{serviceId}/artifact/{key}");
}
