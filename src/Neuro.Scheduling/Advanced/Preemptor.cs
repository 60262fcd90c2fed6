namespace Neuro.Scheduling;

/// <summary>
/// Priority preemption: when a task fits nowhere, find the node where evicting the fewest strictly-lower-priority
/// allocations makes room (ties: lowest victim priority, then least GPU evicted). Never evicts equal or higher priority.
/// </summary>
public static class Preemptor
{
    public static PlacementResult? TryPreempt(ClusterState cluster, PlacementRequest r)
    {
        var byNode = cluster.Allocations
            .Where(a => a.Priority < r.Priority && a.Request.Gang is null && a.Placement.MigSlice < 0)
            .GroupBy(a => a.Placement.NodeIndex)
            .ToDictionary(g => g.Key, g => g.ToList());
        List<Allocation>? bestVictims = null;
        Node? bestNode = null;
        foreach (var (nodeIndex, candidates) in byNode)
        {
            var node = cluster.Nodes[nodeIndex];
            if (r.GpuCount > 0 && (node.Gpus.Length < r.GpuCount || !r.AcceptsModel(node.GpuModel))) continue;
            var victims = MinimalVictims(node, r, candidates);
            if (victims is null) continue;
            if (bestVictims is null || Better(victims, bestVictims)) (bestVictims, bestNode) = (victims, node);
        }
        if (bestVictims is null || bestNode is null) return null;

        foreach (var v in bestVictims) cluster.Release(v);
        var placement = NumaPlacer.PinIfPossible(bestNode, r, Policies.GpuPick.Build(bestNode, r));
        return Scheduler.Committed(cluster.Commit(r, placement), bestVictims);
    }

    private static bool Better(List<Allocation> a, List<Allocation> b)
    {
        if (a.Count != b.Count) return a.Count < b.Count;
        var (pa, pb) = (a.Max(x => x.Priority), b.Max(x => x.Priority));
        if (pa != pb) return pa < pb;
        return a.Sum(x => x.Request.TotalGpuMilli) < b.Sum(x => x.Request.TotalGpuMilli);
    }

    /// <summary>
    /// Lowest priority first, largest first within a priority, until the task fits; then drop any victim the task
    /// fits without (highest priority first), so the set is minimal and as low-priority as it can be.
    /// </summary>
    private static List<Allocation>? MinimalVictims(Node node, PlacementRequest r, List<Allocation> candidates)
    {
        var order = candidates.OrderBy(a => a.Priority).ThenByDescending(a => a.Request.MemoryMiB).ThenByDescending(a => a.Request.TotalGpuMilli).ToList();
        var chosen = new List<Allocation>();
        foreach (var a in order)
        {
            if (FitsWithout(node, r, chosen)) break;
            chosen.Add(a);
        }
        if (!FitsWithout(node, r, chosen)) return null;
        foreach (var a in chosen.OrderByDescending(a => a.Priority).ToList())
        {
            chosen.Remove(a);
            if (!FitsWithout(node, r, chosen)) chosen.Add(a);
        }
        return chosen;
    }

    private static bool FitsWithout(Node node, PlacementRequest r, List<Allocation> victims)
    {
        long cpu = node.CpuFreeMilli, mem = node.MemoryFreeMiB;
        var free = node.Gpus.Select(g => g.Mig is null ? g.FreeMilli : 0).ToArray();
        foreach (var v in victims)
        {
            cpu += v.Request.CpuMilli;
            mem += v.Request.MemoryMiB;
            foreach (var gi in v.Placement.GpuIndices) free[gi] += v.Placement.GpuMilli;
        }
        if (cpu < r.CpuMilli || mem < r.MemoryMiB) return false;
        if (r.GpuCount == 0) return true;
        var fitting = 0;
        for (var i = 0; i < free.Length; i++)
            if (free[i] >= r.GpuMilli && node.Gpus[i].MemoryMiB >= r.GpuMemoryMiB) fitting++;
        return fitting >= r.GpuCount;
    }
}
