using System.Collections.Concurrent;

namespace Neuro.Core.Pools;

/// <summary>One unit of a pool's work as the queue store keeps it. <see cref="Seq"/> is the arrival order within the
/// pool; with <see cref="Priority"/> it fixes the dispatch order (higher priority first, then earlier arrival), so an item
/// put back after a lost worker returns to its old place rather than the back of the line.</summary>
public sealed record QueuedWork(
    string WorkId,
    string? SessionId,
    int Priority,
    int PromptTokens,
    int MaxOutputTokens,
    DateTimeOffset EnqueuedAt,
    long Seq,
    string? Worker = null)
{
    public static readonly Comparer<QueuedWork> DispatchOrder = Comparer<QueuedWork>.Create((a, b) =>
        a.Priority != b.Priority ? b.Priority.CompareTo(a.Priority) : a.Seq.CompareTo(b.Seq));
}

/// <summary>
/// A pool's queue and in-flight work, stored item by item: queuing, starting, finishing or cancelling one item writes
/// that item only, so a long queue costs nothing per request (a whole-state write would cost O(queue length)). The pool
/// grain keeps the ordered copy in memory and reloads it from here when it activates.
/// </summary>
public interface IWorkQueueStore
{
    Task<(IReadOnlyList<QueuedWork> Queued, IReadOnlyList<QueuedWork> InFlight)> LoadAsync(string pool, CancellationToken cancellationToken = default);

    Task EnqueueAsync(string pool, QueuedWork item, CancellationToken cancellationToken = default);

    /// <summary>Queued → in flight (with the worker it was pushed to, if any), atomically.</summary>
    Task StartAsync(string pool, QueuedWork item, CancellationToken cancellationToken = default);

    /// <summary>In flight → queued again at its old place, atomically.</summary>
    Task RequeueAsync(string pool, QueuedWork item, CancellationToken cancellationToken = default);

    Task CompleteAsync(string pool, string workId, CancellationToken cancellationToken = default);

    Task RemoveQueuedAsync(string pool, string workId, CancellationToken cancellationToken = default);
}

/// <summary>The dev cluster's queues, in this process.</summary>
public sealed class InMemoryWorkQueueStore : IWorkQueueStore
{
    private sealed class Pool
    {
        public readonly Dictionary<string, QueuedWork> Queued = new(StringComparer.Ordinal);
        public readonly Dictionary<string, QueuedWork> InFlight = new(StringComparer.Ordinal);
    }

    private readonly ConcurrentDictionary<string, Pool> _pools = new(StringComparer.Ordinal);

    private Pool Of(string pool) => _pools.GetOrAdd(pool, _ => new Pool());

    public Task<(IReadOnlyList<QueuedWork> Queued, IReadOnlyList<QueuedWork> InFlight)> LoadAsync(string pool, CancellationToken cancellationToken = default)
    {
        var p = Of(pool);
        lock (p)
        {
            return Task.FromResult<(IReadOnlyList<QueuedWork>, IReadOnlyList<QueuedWork>)>((p.Queued.Values.ToArray(), p.InFlight.Values.ToArray()));
        }
    }

    public Task EnqueueAsync(string pool, QueuedWork item, CancellationToken cancellationToken = default) =>
        Change(pool, p => p.Queued[item.WorkId] = item);

    public Task StartAsync(string pool, QueuedWork item, CancellationToken cancellationToken = default) => Change(pool, p =>
    {
        p.Queued.Remove(item.WorkId);
        p.InFlight[item.WorkId] = item;
    });

    public Task RequeueAsync(string pool, QueuedWork item, CancellationToken cancellationToken = default) => Change(pool, p =>
    {
        p.InFlight.Remove(item.WorkId);
        p.Queued[item.WorkId] = item with { Worker = null };
    });

    public Task CompleteAsync(string pool, string workId, CancellationToken cancellationToken = default) => Change(pool, p => p.InFlight.Remove(workId));

    public Task RemoveQueuedAsync(string pool, string workId, CancellationToken cancellationToken = default) => Change(pool, p => p.Queued.Remove(workId));

    private Task Change(string pool, Action<Pool> change)
    {
        var p = Of(pool);
        lock (p)
        {
            change(p);
        }
        return Task.CompletedTask;
    }
}
