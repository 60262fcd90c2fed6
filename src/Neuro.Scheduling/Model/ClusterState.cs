namespace Neuro.Scheduling;

/// <summary>The mutable cluster: nodes plus committed allocations. Not thread-safe; one placer owns it.</summary>
public sealed class ClusterState
{
    private readonly Dictionary<long, Allocation> _allocations = new();
    private long _nextId = 1;

    public ClusterState(IEnumerable<Node> nodes)
    {
        Nodes = nodes.ToArray();
        for (var i = 0; i < Nodes.Length; i++) Nodes[i].Index = i;
        foreach (var n in Nodes) TotalGpus += n.Gpus.Length;
    }

    public Node[] Nodes { get; }
    public int TotalGpus { get; }
    public long AllocatedGpuMilli { get; private set; }
    public IReadOnlyCollection<Allocation> Allocations => _allocations.Values;

    /// <summary>Allocated milli-GPU ÷ total GPUs (the paper's GPU allocation ratio), in 0..1.</summary>
    public double AllocationRatio => TotalGpus == 0 ? 0 : AllocatedGpuMilli / (TotalGpus * (double)Gpu.Milli);

    /// <summary>Whether <paramref name="r"/> fits on <paramref name="node"/> right now (GPU model, CPU, memory, GPU shares).</summary>
    public static bool Fits(Node node, PlacementRequest r)
    {
        if (node.CpuFreeMilli < r.CpuMilli || node.MemoryFreeMiB < r.MemoryMiB) return false;
        if (r.GpuCount == 0) return true;
        if (node.Gpus.Length < r.GpuCount || !r.AcceptsModel(node.GpuModel)) return false;
        var need = r.GpuCount;
        foreach (var g in node.Gpus)
            if (g.Mig is null && g.FreeMilli >= r.GpuMilli && g.MemoryMiB >= r.GpuMemoryMiB && --need == 0) return true;
        return false;
    }

    public Allocation Commit(PlacementRequest r, Placement p)
    {
        var node = Nodes[p.NodeIndex];
        if (node.CpuFreeMilli < r.CpuMilli || node.MemoryFreeMiB < r.MemoryMiB)
            throw new InvalidOperationException($"{node} lacks CPU or memory for {r.Id}");
        foreach (var gi in p.GpuIndices)
            if (node.Gpus[gi].FreeMilli < p.GpuMilli)
                throw new InvalidOperationException($"{node} GPU {gi} lacks {p.GpuMilli} milli for {r.Id}");
        if (p.NumaNode >= 0 && (node.NumaCpuFree[p.NumaNode] < r.CpuMilli || node.NumaMemoryFree[p.NumaNode] < r.MemoryMiB))
            throw new InvalidOperationException($"{node} NUMA {p.NumaNode} lacks CPU or memory for {r.Id}");

        node.CpuFreeMilli -= r.CpuMilli;
        node.MemoryFreeMiB -= r.MemoryMiB;
        TakeNuma(node, p.NumaNode, r.CpuMilli, r.MemoryMiB);
        foreach (var gi in p.GpuIndices)
        {
            node.Gpus[gi].FreeMilli -= p.GpuMilli;
            AllocatedGpuMilli += p.GpuMilli;
        }
        if (r.GpuCount > 0)
        {
            var key = ShapeKey(r);
            node.ShapeCounts[key] = node.ShapeCounts.GetValueOrDefault(key) + 1;
        }
        node.Version++;
        var a = new Allocation(_nextId++, r, p);
        _allocations.Add(a.Id, a);
        return a;
    }

    public void Release(Allocation a)
    {
        if (!_allocations.Remove(a.Id)) throw new InvalidOperationException($"allocation {a.Id} is not committed");
        var node = Nodes[a.Placement.NodeIndex];
        node.CpuFreeMilli += a.Request.CpuMilli;
        node.MemoryFreeMiB += a.Request.MemoryMiB;
        TakeNuma(node, a.Placement.NumaNode, -a.Request.CpuMilli, -a.Request.MemoryMiB);
        foreach (var gi in a.Placement.GpuIndices)
        {
            node.Gpus[gi].FreeMilli += a.Placement.GpuMilli;
            AllocatedGpuMilli -= a.Placement.GpuMilli;
        }
        if (a.Placement.MigSlice >= 0) node.Gpus[a.Placement.GpuIndices[0]].Mig!.Free(a.Placement.MigSlice);
        if (a.Request.GpuCount > 0)
        {
            var key = ShapeKey(a.Request);
            if (--node.ShapeCounts[key] == 0) node.ShapeCounts.Remove(key);
        }
        node.Version++;
    }

    internal void Touch(Node node) => node.Version++;

    internal Allocation CommitMig(PlacementRequest r, Node node, int gpu, int slice, int numa)
    {
        node.CpuFreeMilli -= r.CpuMilli;
        node.MemoryFreeMiB -= r.MemoryMiB;
        TakeNuma(node, numa, r.CpuMilli, r.MemoryMiB);
        node.Version++;
        var a = new Allocation(_nextId++, r, new Placement(node.Index, [gpu], 0, numa, slice));
        _allocations.Add(a.Id, a);
        return a;
    }

    /// <summary>CPU/memory of a placement without a NUMA pin are drawn from the NUMA nodes with the most room.</summary>
    private static void TakeNuma(Node node, int numa, long cpu, long mem)
    {
        if (numa >= 0)
        {
            node.NumaCpuFree[numa] -= cpu;
            node.NumaMemoryFree[numa] -= mem;
            return;
        }
        if (node.NumaNodes == 1)
        {
            node.NumaCpuFree[0] -= cpu;
            node.NumaMemoryFree[0] -= mem;
            return;
        }
        // Unpinned: spread like the kernel would, keeping per-NUMA totals consistent with the node total.
        Spread(node.NumaCpuFree, cpu);
        Spread(node.NumaMemoryFree, mem);
    }

    private static void Spread(long[] free, long amount)
    {
        if (amount < 0)
        {
            // Releasing: give back to the emptiest first (bounded by nothing; totals stay consistent).
            var idx = Array.IndexOf(free, free.Min());
            free[idx] -= amount;
            return;
        }
        while (amount > 0)
        {
            var idx = Array.IndexOf(free, free.Max());
            var take = Math.Min(amount, Math.Max(free[idx], 0));
            if (take == 0) { free[idx] -= amount; return; }
            free[idx] -= take;
            amount -= take;
        }
    }

    /// <summary>GpuClustering's affinity tag: all sharing tasks are one class, whole-GPU tasks are keyed by GPU count.</summary>
    internal static long ShapeKey(PlacementRequest r) => r.IsSharing ? 0 : r.GpuCount;
}
