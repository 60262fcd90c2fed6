using Neuro.Abstractions;
using Neuro.Core.Tasks;
using Orleans.Concurrency;

namespace Neuro.Grains;

/// <summary>Newest-first listing of tasks with filters and a continuation token that names the last entry served, so
/// pages stay stable while new tasks arrive. Stateless: the store is the list.</summary>
[StatelessWorker]
public sealed class TaskIndexGrain(ITaskIndexStore store) : Grain, ITaskIndexGrain
{
    public async Task<TaskPage> QueryAsync(TaskQuery q)
    {
        Errors.ThrowIf(TaskFilter.Validate(q.Status, q.PageSize));
        TaskCursor? after = null;
        if (q.PageToken is { Length: > 0 } token)
        {
            after = TaskCursor.TryDecode(token) ?? throw NeuroRequestException.Invalid("page_token", "is not a token this API issued");
        }
        var page = await store.QueryAsync(new TaskFilter(q.Status, q.Pool, q.CreatedAfter, q.CreatedBefore, q.Tenant, q.PageSize, after));
        return new TaskPage(page.Tasks.Select(t => new TaskIndexEntry(t.TaskId, t.Status, t.CreatedAt, t.Pool, t.Tenant)).ToArray(), page.Next?.Encode());
    }
}
