using System.Text.Json;
using Neuro.Core.Tasks;
using StackExchange.Redis;

namespace Neuro.Storage;

/// <summary>
/// The task list in Redis: a hash of entries, sorted sets ordered by creation time (one for all tasks, one per tenant,
/// so a tenant's listing never scans other tenants' tasks) and a set of active task ids per tenant for quotas. All keys
/// share one hash tag so the multi-key writes stay atomic on a Redis Cluster.
/// </summary>
public sealed class RedisTaskIndexStore(Task<IConnectionMultiplexer> connecting, string serviceId) : ITaskIndexStore
{
    // KEYS: active set. ARGV: task id, limit. 1 = the task holds a slot, 0 = the tenant is at its limit.
    private static readonly LuaScript Reserve = LuaScript.Prepare("""
        if redis.call('SISMEMBER', @active, @task) == 1 then return 1 end
        if redis.call('SCARD', @active) >= tonumber(@limit) then return 0 end
        redis.call('SADD', @active, @task)
        return 1
        """);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private string Tag => $"{{{serviceId}/tasks}}";

    private RedisKey Entries => $"{Tag}/entries";

    private RedisKey ByCreated(string? tenant) => tenant is null ? $"{Tag}/created" : $"{Tag}/created/{tenant}";

    private RedisKey Active(string tenant) => $"{Tag}/active/{tenant}";

    private async ValueTask<IDatabase> DbAsync() => (await connecting).GetDatabase();

    public async Task UpsertAsync(IndexedTask task, CancellationToken cancellationToken = default)
    {
        var tx = (await DbAsync()).CreateTransaction();
        _ = tx.HashSetAsync(Entries, task.TaskId, JsonSerializer.SerializeToUtf8Bytes(task, Json));
        _ = tx.SortedSetAddAsync(ByCreated(null), task.TaskId, task.CreatedMs);
        _ = tx.SortedSetAddAsync(ByCreated(task.Tenant), task.TaskId, task.CreatedMs);
        if (ITaskIndexStore.IsTerminal(task.Status))
        {
            _ = tx.SetRemoveAsync(Active(task.Tenant), task.TaskId);
        }
        await tx.ExecuteAsync();
    }

    public async Task<TaskListPage> QueryAsync(TaskFilter filter, CancellationToken cancellationToken = default)
    {
        var db = await DbAsync();
        var size = filter.PageSize == 0 ? TaskFilter.DefaultPageSize : filter.PageSize;
        var key = ByCreated(filter.Tenant);
        // The cursor and created_before both cap the newest score; created_before's own millisecond is excluded.
        var (max, exclude) = filter.CreatedBefore is { } before ? ((double)before.ToUnixTimeMilliseconds(), Exclude.Stop) : (double.PositiveInfinity, Exclude.None);
        if (filter.After is { } after && after.CreatedMs < max)
        {
            (max, exclude) = (after.CreatedMs, Exclude.None);
        }
        double min = filter.CreatedAfter is { } since ? since.ToUnixTimeMilliseconds() : double.NegativeInfinity;
        var batch = Math.Max(2 * (size + 1), 64);
        var page = new List<IndexedTask>(size + 1);
        for (long skip = 0; page.Count <= size; skip += batch)
        {
            // Redis orders equal scores by member, descending in a reversed range: the same order as the cursor.
            var ids = await db.SortedSetRangeByScoreWithScoresAsync(key, min, max, exclude, Order.Descending, skip, batch);
            if (ids.Length == 0)
            {
                break;
            }
            var candidates = ids.Where(e => filter.After is not { } a || a.IsBefore((long)e.Score, e.Element!)).Select(e => (RedisValue)e.Element).ToArray();
            var entries = candidates.Length == 0 ? [] : await db.HashGetAsync(Entries, candidates);
            foreach (var raw in entries)
            {
                if (raw.IsNull)
                {
                    continue;
                }
                var task = JsonSerializer.Deserialize<IndexedTask>((byte[])raw!, Json)!;
                if (filter.Admits(task))
                {
                    page.Add(task);
                    if (page.Count > size)
                    {
                        break;
                    }
                }
            }
            if (ids.Length < batch)
            {
                break;
            }
        }
        return TaskListPage.Of(page, size);
    }

    public async Task<bool> TryReserveActiveAsync(string tenant, string taskId, int limit, CancellationToken cancellationToken = default) =>
        (long)await Reserve.EvaluateAsync(await DbAsync(), new { active = Active(tenant), task = taskId, limit }) == 1;

    public async Task ReleaseActiveAsync(string tenant, string taskId, CancellationToken cancellationToken = default) =>
        await (await DbAsync()).SetRemoveAsync(Active(tenant), taskId);

    public async Task<long> CountActiveAsync(string tenant, CancellationToken cancellationToken = default) =>
        await (await DbAsync()).SetLengthAsync(Active(tenant));
}
