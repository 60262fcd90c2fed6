namespace Neuro.Core.Pools;

/// <summary>The arithmetic of an agent pool that both the grain and (later) the autoscaler rely on.</summary>
public static class PoolRules
{
    public static RequestError? ValidateSpec(string? agentClass, int minReplicas, int maxReplicas, int prewarmPercent, int tokensPerSecondBudget, int maxConcurrencyPerReplica)
    {
        if (string.IsNullOrWhiteSpace(agentClass))
        {
            return new("agent_class", "must not be empty");
        }
        if (minReplicas < 0)
        {
            return new("min_replicas", "must be 0 or more");
        }
        if (maxReplicas < 1 || maxReplicas < minReplicas)
        {
            return new("max_replicas", "must be at least 1 and at least min_replicas");
        }
        if (prewarmPercent is < 0 or > 100)
        {
            return new("prewarm_percent", "must be between 0 and 100");
        }
        if (tokensPerSecondBudget < 0)
        {
            return new("tokens_per_second_budget", "must be 0 (unlimited) or more");
        }
        if (maxConcurrencyPerReplica < 1)
        {
            return new("max_concurrency_per_replica", "must be at least 1");
        }
        return null;
    }

    /// <summary>Replicas to keep warm beyond those serving: prewarmPercent of the ready count, at least the
    /// minimum, never past the maximum. Rounded up so a small pool with any prewarm keeps one spare.</summary>
    public static int WarmTarget(int ready, int minReplicas, int maxReplicas, int prewarmPercent)
    {
        var spare = (int)Math.Ceiling(ready * prewarmPercent / 100.0);
        return Math.Clamp(Math.Max(ready + spare, minReplicas), 0, maxReplicas);
    }

    public static int FreeSlots(int ready, int maxConcurrencyPerReplica, int inFlight) =>
        Math.Max(0, ready * maxConcurrencyPerReplica - inFlight);

    /// <summary>Index at which an item of <paramref name="priority"/> joins a queue kept in dispatch order:
    /// after every item of the same or higher priority (FIFO within a priority).</summary>
    public static int InsertionIndex<T>(IReadOnlyList<T> queue, int priority, Func<T, int> priorityOf)
    {
        var lo = 0;
        var hi = queue.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (priorityOf(queue[mid]) >= priority)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }
}
