using System.Text.Json;
using Neuro.Core.Pools;
using StackExchange.Redis;

namespace Neuro.Storage;

/// <summary>A pool's queue in Redis: one hash of queued items and one of in-flight items, under the pool's hash tag so
/// a move between them is one MULTI/EXEC on one Redis Cluster slot.</summary>
public sealed class RedisWorkQueueStore(Task<IConnectionMultiplexer> connecting, string serviceId) : IWorkQueueStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private (RedisKey Queued, RedisKey InFlight) Keys(string pool) =>
        ($"{{{serviceId}/pool/{pool}}}/queued", $"{{{serviceId}/pool/{pool}}}/in-flight");

    private async ValueTask<IDatabase> DbAsync() => (await connecting).GetDatabase();

    private static RedisValue Encode(QueuedWork item) => JsonSerializer.SerializeToUtf8Bytes(item, Json);

    public async Task<(IReadOnlyList<QueuedWork> Queued, IReadOnlyList<QueuedWork> InFlight)> LoadAsync(string pool, CancellationToken cancellationToken = default)
    {
        var (queued, inFlight) = Keys(pool);
        var db = await DbAsync();
        var q = db.HashValuesAsync(queued);
        var f = db.HashValuesAsync(inFlight);
        static QueuedWork[] Decode(RedisValue[] values) => values.Select(v => JsonSerializer.Deserialize<QueuedWork>((byte[])v!, Json)!).ToArray();
        return (Decode(await q), Decode(await f));
    }

    public async Task EnqueueAsync(string pool, QueuedWork item, CancellationToken cancellationToken = default) =>
        await (await DbAsync()).HashSetAsync(Keys(pool).Queued, item.WorkId, Encode(item));

    public async Task StartAsync(string pool, QueuedWork item, CancellationToken cancellationToken = default)
    {
        var (queued, inFlight) = Keys(pool);
        var tx = (await DbAsync()).CreateTransaction();
        _ = tx.HashDeleteAsync(queued, item.WorkId);
        _ = tx.HashSetAsync(inFlight, item.WorkId, Encode(item));
        await tx.ExecuteAsync();
    }

    public async Task RequeueAsync(string pool, QueuedWork item, CancellationToken cancellationToken = default)
    {
        var (queued, inFlight) = Keys(pool);
        var tx = (await DbAsync()).CreateTransaction();
        _ = tx.HashDeleteAsync(inFlight, item.WorkId);
        _ = tx.HashSetAsync(queued, item.WorkId, Encode(item with { Worker = null }));
        await tx.ExecuteAsync();
    }

    public async Task CompleteAsync(string pool, string workId, CancellationToken cancellationToken = default) =>
        await (await DbAsync()).HashDeleteAsync(Keys(pool).InFlight, workId);

    public async Task RemoveQueuedAsync(string pool, string workId, CancellationToken cancellationToken = default) =>
        await (await DbAsync()).HashDeleteAsync(Keys(pool).Queued, workId);
}
