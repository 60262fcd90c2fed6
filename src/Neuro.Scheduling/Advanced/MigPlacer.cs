namespace Neuro.Scheduling;

/// <summary>
/// Places MIG slice requests: a free instance of the profile first, then a new instance in free space of a
/// GPU already in MIG mode, then an idle GPU (re)partitioned. Busy GPUs are never re-partitioned.
/// </summary>
public static class MigPlacer
{
    public static PlacementResult Place(ClusterState cluster, PlacementRequest r)
    {
        var name = r.MigProfile!;
        var capable = cluster.Nodes.Where(n => MigCatalog.Supports(n.GpuModel) && r.AcceptsModel(n.GpuModel)).ToList();
        if (capable.Count == 0) return PlacementResult.Fail($"no node has a MIG-capable GPU ({string.Join(", ", ["A100-40GB", "A100-80GB", "H100-80GB"])}) matching the request");
        if (capable.All(n => MigCatalog.Find(n.GpuModel, name) is null))
            return PlacementResult.Fail($"{name} is not a MIG profile of {string.Join("/", capable.Select(n => n.GpuModel).Distinct())}");
        var hosts = capable.Where(n => n.CpuFreeMilli >= r.CpuMilli && n.MemoryFreeMiB >= r.MemoryMiB).ToList();
        if (hosts.Count == 0) return PlacementResult.Fail($"no MIG-capable node has {r.CpuMilli} milli-CPU and {r.MemoryMiB} MiB free");

        // 1. An existing, unused instance of exactly this profile.
        foreach (var n in hosts)
            foreach (var g in n.Gpus)
                if (g.Mig is { } layout)
                    for (var s = 0; s < layout.Slices.Count; s++)
                        if (!layout.Slices[s].InUse && string.Equals(layout.Slices[s].Profile.Name, name, StringComparison.OrdinalIgnoreCase))
                            return Take(cluster, r, n, g, s);

        // 2. A new instance in the free space of a GPU already in MIG mode (running instances are untouched).
        foreach (var n in hosts)
            foreach (var g in n.Gpus)
                if (g.Mig is { } layout && MigCatalog.Find(n.GpuModel, name) is { } p && layout.TryAdd(p) is { } added)
                    return Take(cluster, r, n, g, added);

        // 3. Partition an idle GPU: a whole unused GPU, or a MIG GPU none of whose instances runs anything.
        foreach (var n in hosts)
            foreach (var g in n.Gpus)
                if (g.IsIdle && Repartition(cluster, n, g.Index, [name], out _))
                    return Take(cluster, r, n, g, 0);

        return PlacementResult.Fail($"no free {name} instance, no room for one on a MIG GPU, and no idle GPU to partition");
    }

    /// <summary>Replaces a GPU's MIG layout with a valid partition for <paramref name="profiles"/>; refused unless the GPU is idle.</summary>
    public static bool Repartition(ClusterState cluster, Node node, int gpu, IReadOnlyList<string> profiles, out string? reason)
    {
        var g = node.Gpus[gpu];
        if (!g.IsIdle) { reason = $"{node.Name} GPU {gpu} is busy; only idle GPUs are re-partitioned"; return false; }
        var layout = MigPlanner.Partition(node.GpuModel, profiles, out reason);
        if (layout is null) return false;
        g.Mig = new MigLayout(node.GpuModel, layout.Select(x => new MigSlice(MigCatalog.Find(node.GpuModel, x.Profile)!, x.Start)));
        cluster.Touch(node);
        return true;
    }

    private static PlacementResult Take(ClusterState cluster, PlacementRequest r, Node n, Gpu g, int slice)
    {
        g.Mig!.Slices[slice].InUse = true;
        var numa = n.NumaCpuFree[g.NumaNode] >= r.CpuMilli && n.NumaMemoryFree[g.NumaNode] >= r.MemoryMiB ? g.NumaNode : -1;
        var a = cluster.CommitMig(r, n, g.Index, slice, numa);
        return Scheduler.Committed(a);
    }
}
