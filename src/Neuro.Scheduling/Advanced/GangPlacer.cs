namespace Neuro.Scheduling;

/// <summary>
/// All-or-nothing placement of a gang (e.g. a model's tensor-parallel shards): every member gets
/// <see cref="PlacementRequest.GpuCount"/> whole GPUs and its CPU/memory, or nothing is allocated.
/// Same-node topologies prefer one NVLink island, else the set spanning the fewest islands (then PCIe switches).
/// </summary>
public static class GangPlacer
{
    public static PlacementResult Place(ClusterState cluster, PlacementRequest r)
    {
        var gang = r.Gang!;
        var perMember = Math.Max(r.GpuCount, 0);
        var plan = SingleNodePlan(cluster, r, gang.Count, perMember, gang.Topology == GangTopology.SameNvLinkIsland);
        if (plan is null && gang.Topology == GangTopology.Any) plan = MultiNodePlan(cluster, r, gang.Count);
        if (plan is null)
        {
            var what = gang.Topology switch
            {
                GangTopology.SameNvLinkIsland => $"one NVLink island with {gang.Count * perMember} free GPUs",
                GangTopology.SameNode => $"one node with {gang.Count * perMember} free GPUs",
                _ => "enough free GPUs across the cluster",
            };
            return PlacementResult.Fail($"gang {gang.Id}: {gang.Count} members need {what} (and {gang.Count} × {r.CpuMilli} milli-CPU, {gang.Count} × {r.MemoryMiB} MiB); nothing allocated");
        }
        return Commit(cluster, r, plan);
    }

    /// <summary>Commits every member; if any commit fails, the ones already made are released.</summary>
    internal static PlacementResult Commit(ClusterState cluster, PlacementRequest r, IReadOnlyList<Placement> plan)
    {
        var done = new List<Allocation>();
        try
        {
            for (var i = 0; i < plan.Count; i++)
                done.Add(cluster.Commit(r with { Id = $"{r.Id}#{i}" }, plan[i]));
        }
        catch (InvalidOperationException e)
        {
            foreach (var a in done) cluster.Release(a);
            return PlacementResult.Fail($"gang {r.Gang!.Id}: member {done.Count} could not be committed ({e.Message}); rolled back, nothing allocated");
        }
        return new PlacementResult { Success = true, Allocations = done, Served = r, NumaLocal = done.All(a => a.Placement.NumaNode >= 0) };
    }

    private static List<Placement>? SingleNodePlan(ClusterState cluster, PlacementRequest r, int members, int perMember, bool oneIsland)
    {
        var totalGpus = members * perMember;
        List<int>? bestGpus = null;
        Node? bestNode = null;
        (int Islands, int Switches, int Left) bestScore = (int.MaxValue, int.MaxValue, int.MaxValue);
        foreach (var node in cluster.Nodes)
        {
            if (node.CpuFreeMilli < members * r.CpuMilli || node.MemoryFreeMiB < members * r.MemoryMiB) continue;
            if (totalGpus > 0 && !r.AcceptsModel(node.GpuModel)) continue;
            var free = node.Gpus.Where(g => g.Mig is null && g.FreeMilli == Gpu.Milli && g.MemoryMiB >= r.GpuMemoryMiB).ToList();
            if (free.Count < totalGpus) continue;
            var gpus = BestConnected(free, totalGpus);
            var score = (Islands: gpus.Select(i => node.Gpus[i].NvLinkIsland).Distinct().Count(),
                         Switches: gpus.Select(i => node.Gpus[i].PcieSwitch).Distinct().Count(),
                         Left: free.Count - totalGpus);
            if (oneIsland && totalGpus > 0 && score.Islands > 1) continue;
            if (score.CompareTo(bestScore) < 0) (bestScore, bestGpus, bestNode) = (score, gpus, node);
        }
        if (bestNode is null || bestGpus is null) return null;
        return Enumerable.Range(0, members)
            .Select(m => new Placement(bestNode.Index, bestGpus.Skip(m * perMember).Take(perMember).ToArray(), perMember == 0 ? 0 : Gpu.Milli))
            .ToList();
    }

    /// <summary>
    /// GPUs spanning the fewest NVLink islands: one island that can hold them all (the smallest such, to keep big
    /// islands whole), else islands largest-first; within an island, fewest PCIe switches.
    /// </summary>
    private static List<int> BestConnected(List<Gpu> free, int count)
    {
        if (count == 0) return [];
        var islands = free.GroupBy(g => g.NvLinkIsland).Select(g => g.OrderBy(x => x.PcieSwitch).ThenBy(x => x.Index).ToList()).ToList();
        var single = islands.Where(i => i.Count >= count).OrderBy(i => i.Count).FirstOrDefault();
        if (single is not null) return single.Take(count).Select(g => g.Index).ToList();
        return islands.OrderByDescending(i => i.Count).SelectMany(i => i).Take(count).Select(g => g.Index).ToList();
    }

    /// <summary>Members spread over nodes (fewest nodes first: fill the node with the most free GPUs), simulated before committing.</summary>
    private static List<Placement>? MultiNodePlan(ClusterState cluster, PlacementRequest r, int members)
    {
        var plan = new List<Placement>();
        var used = new Dictionary<int, (long Cpu, long Mem, HashSet<int> Gpus)>();
        for (var m = 0; m < members; m++)
        {
            Placement? next = null;
            var bestFree = -1;
            foreach (var node in cluster.Nodes)
            {
                if (r.GpuCount > 0 && !r.AcceptsModel(node.GpuModel)) continue;
                var u = used.GetValueOrDefault(node.Index, (0, 0, new HashSet<int>()));
                if (node.CpuFreeMilli - u.Cpu < r.CpuMilli || node.MemoryFreeMiB - u.Mem < r.MemoryMiB) continue;
                var free = node.Gpus.Where(g => g.Mig is null && g.FreeMilli == Gpu.Milli && g.MemoryMiB >= r.GpuMemoryMiB && !u.Gpus.Contains(g.Index)).ToList();
                if (free.Count < r.GpuCount) continue;
                // Prefer nodes already used by the gang, then the node with the most room (fewer nodes overall).
                var rank = (used.ContainsKey(node.Index) ? 1_000_000 : 0) + free.Count;
                if (rank <= bestFree) continue;
                bestFree = rank;
                next = new Placement(node.Index, BestConnected(free, r.GpuCount).ToArray(), r.GpuCount == 0 ? 0 : Gpu.Milli);
            }
            if (next is null) return null;
            var cur = used.GetValueOrDefault(next.NodeIndex, (0, 0, new HashSet<int>()));
            cur.Gpus.UnionWith(next.GpuIndices);
            used[next.NodeIndex] = (cur.Cpu + r.CpuMilli, cur.Mem + r.MemoryMiB, cur.Gpus);
            plan.Add(next);
        }
        return plan;
    }
}
