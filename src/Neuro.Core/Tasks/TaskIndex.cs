using System.Globalization;
using System.Text;

namespace Neuro.Core.Tasks;

/// <summary>What the task list knows of one task: enough to filter and page without loading the task itself.</summary>
public sealed record IndexedTask(string TaskId, string Status, DateTimeOffset CreatedAt, string Pool, string Tenant)
{
    public long CreatedMs => CreatedAt.ToUnixTimeMilliseconds();
}

/// <summary>Position in newest-first order: (created ms descending, task id descending). Encoded opaquely for clients;
/// pages stay stable while new tasks arrive because a cursor names an entry, not an offset.</summary>
public readonly record struct TaskCursor(long CreatedMs, string TaskId)
{
    /// <summary>True when <paramref name="task"/> comes after this cursor in newest-first order.</summary>
    public bool IsBefore(long createdMs, string taskId) =>
        createdMs < CreatedMs || (createdMs == CreatedMs && string.CompareOrdinal(taskId, TaskId) < 0);

    public string Encode() => Convert.ToBase64String(Encoding.UTF8.GetBytes(
        string.Create(CultureInfo.InvariantCulture, $"{CreatedMs}|{TaskId}")));

    public static TaskCursor? TryDecode(string token)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(token));
            var bar = text.IndexOf('|', StringComparison.Ordinal);
            return bar > 0 && long.TryParse(text.AsSpan(0, bar), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ms)
                ? new TaskCursor(ms, text[(bar + 1)..])
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

public sealed record TaskFilter(
    string? Status = null,
    string? Pool = null,
    DateTimeOffset? CreatedAfter = null,
    DateTimeOffset? CreatedBefore = null,
    string? Tenant = null,
    int PageSize = TaskFilter.DefaultPageSize,
    TaskCursor? After = null)
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 500;

    public static readonly IReadOnlyList<string> Statuses = ["queued", "running", "completed", "failed", "cancelled", "timed_out"];

    /// <summary>The first invalid field, or null.</summary>
    public static RequestError? Validate(string? status, int pageSize) =>
        status is { Length: > 0 } s && !Statuses.Contains(s) ? new RequestError("status", $"must be one of {string.Join(", ", Statuses)}")
        : pageSize is < 0 or > MaxPageSize ? new RequestError("page_size", $"must be between 1 and {MaxPageSize} (0 = {DefaultPageSize})")
        : null;

    /// <summary>Whether a task passes the filters that are not ranges of the ordering key.</summary>
    public bool Admits(IndexedTask t) =>
        (Status is not { Length: > 0 } || t.Status == Status)
        && (Pool is not { Length: > 0 } || t.Pool == Pool)
        && (Tenant is null || t.Tenant == Tenant)
        && (CreatedAfter is null || t.CreatedAt >= CreatedAfter)
        && (CreatedBefore is null || t.CreatedAt < CreatedBefore);
}

public sealed record TaskListPage(IReadOnlyList<IndexedTask> Tasks, TaskCursor? Next)
{
    /// <summary>A page from up to <paramref name="size"/> + 1 collected tasks: the extra one only proves there is more.</summary>
    public static TaskListPage Of(List<IndexedTask> collected, int size) => collected.Count > size
        ? new TaskListPage(collected.GetRange(0, size), new TaskCursor(collected[size - 1].CreatedMs, collected[size - 1].TaskId))
        : new TaskListPage(collected, null);
}

/// <summary>
/// The task list and the per-tenant count of active (queued or running) tasks. Every write touches one task's entry
/// (no whole-list rewrite), so submitting stays O(log n) however many tasks exist; the active set is what tenant quotas
/// count, reserved atomically so two silos cannot both take the last slot.
/// </summary>
public interface ITaskIndexStore
{
    /// <summary>Records a task's current status; a terminal status also frees its active slot.</summary>
    Task UpsertAsync(IndexedTask task, CancellationToken cancellationToken = default);

    Task<TaskListPage> QueryAsync(TaskFilter filter, CancellationToken cancellationToken = default);

    /// <summary>Takes an active-task slot of <paramref name="tenant"/> for <paramref name="taskId"/>: true when the task
    /// holds one (already, or now), false when the tenant already has <paramref name="limit"/> active tasks.</summary>
    Task<bool> TryReserveActiveAsync(string tenant, string taskId, int limit, CancellationToken cancellationToken = default);

    Task ReleaseActiveAsync(string tenant, string taskId, CancellationToken cancellationToken = default);

    Task<long> CountActiveAsync(string tenant, CancellationToken cancellationToken = default);

    public static bool IsTerminal(string status) => status is "completed" or "failed" or "cancelled" or "timed_out";
}

/// <summary>The dev cluster's task list, in this process.</summary>
public sealed class InMemoryTaskIndexStore : ITaskIndexStore
{
    // Newest first: created ms descending, then task id descending, the order the Redis store reads too.
    private static readonly Comparer<(long Ms, string Id)> NewestFirst = Comparer<(long Ms, string Id)>.Create((a, b) =>
        a.Ms != b.Ms ? b.Ms.CompareTo(a.Ms) : string.CompareOrdinal(b.Id, a.Id));

    private readonly Lock _gate = new();
    private readonly Dictionary<string, IndexedTask> _tasks = new(StringComparer.Ordinal);
    private readonly SortedSet<(long Ms, string Id)> _order = new(NewestFirst);
    private readonly Dictionary<string, HashSet<string>> _active = new(StringComparer.Ordinal);

    public Task UpsertAsync(IndexedTask task, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_tasks.TryGetValue(task.TaskId, out var before))
            {
                _order.Remove((before.CreatedMs, before.TaskId));
            }
            _tasks[task.TaskId] = task;
            _order.Add((task.CreatedMs, task.TaskId));
            if (ITaskIndexStore.IsTerminal(task.Status))
            {
                Active(task.Tenant).Remove(task.TaskId);
            }
        }
        return Task.CompletedTask;
    }

    public Task<TaskListPage> QueryAsync(TaskFilter filter, CancellationToken cancellationToken = default)
    {
        var size = filter.PageSize == 0 ? TaskFilter.DefaultPageSize : filter.PageSize;
        var page = new List<IndexedTask>(size + 1);
        lock (_gate)
        {
            IEnumerable<(long Ms, string Id)> from = _order;
            if (filter.After is { } after)
            {
                var cursor = (after.CreatedMs, after.TaskId);
                from = _order.Count == 0 || NewestFirst.Compare(cursor, _order.Max) > 0
                    ? []
                    : _order.GetViewBetween(cursor, _order.Max).Where(k => after.IsBefore(k.Ms, k.Id));
            }
            foreach (var key in from)
            {
                var task = _tasks[key.Id];
                if (filter.Admits(task) && page.Count <= size)
                {
                    page.Add(task);
                }
                if (page.Count > size)
                {
                    break;
                }
            }
        }
        return Task.FromResult(TaskListPage.Of(page, size));
    }

    public Task<bool> TryReserveActiveAsync(string tenant, string taskId, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var set = Active(tenant);
            return Task.FromResult(set.Contains(taskId) || (set.Count < limit && set.Add(taskId)));
        }
    }

    public Task ReleaseActiveAsync(string tenant, string taskId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            Active(tenant).Remove(taskId);
        }
        return Task.CompletedTask;
    }

    public Task<long> CountActiveAsync(string tenant, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult((long)Active(tenant).Count);
        }
    }

    private HashSet<string> Active(string tenant)
    {
        if (!_active.TryGetValue(tenant, out var set))
        {
            _active[tenant] = set = new HashSet<string>(StringComparer.Ordinal);
        }
        return set;
    }
}

/// <summary>How many tasks a tenant may have queued or running at once (seed 004 §7: per-tenant quotas). Bound from
/// <c>Neuro:Quotas</c>; <see cref="Tenants"/> overrides the default per tenant.</summary>
public sealed class TaskQuotaOptions
{
    public const string Section = "Neuro:Quotas";

    public int MaxActiveTasksPerTenant { get; set; } = 1000;

    public Dictionary<string, int> Tenants { get; set; } = new(StringComparer.Ordinal);

    /// <summary>What a refused submit tells the caller to wait before trying again.</summary>
    public int RetryAfterSeconds { get; set; } = 5;

    public int LimitFor(string tenant) => Tenants.TryGetValue(tenant, out var limit) ? limit : MaxActiveTasksPerTenant;
}
