using Neuro.Scheduling.Policies;

namespace Neuro.Scheduling;

/// <summary>Outcome of one scheduling call. On failure nothing was allocated and nothing was evicted.</summary>
public sealed record PlacementResult
{
    public bool Success { get; init; }
    public string? Reason { get; init; }
    public IReadOnlyList<Allocation> Allocations { get; init; } = [];
    public IReadOnlyList<Allocation> Evicted { get; init; } = [];
    /// <summary>CPU, memory and GPUs of every allocation sit on one NUMA node.</summary>
    public bool NumaLocal { get; init; }
    /// <summary>The request was served by its fallback (e.g. a smaller model); <see cref="Reason"/> says why.</summary>
    public bool Degraded { get; init; }
    public PlacementRequest? Served { get; init; }
    public double HourlyCost { get; init; }

    public static PlacementResult Fail(string reason) => new() { Success = false, Reason = reason };
}

/// <summary>
/// The cluster-facing placer: MIG slices, all-or-nothing gangs, NUMA-local single tasks, and priority preemption
/// when nothing fits. Single tasks go through an <see cref="IPlacementPolicy"/> (ours by default).
/// </summary>
public sealed class Scheduler(ClusterState cluster, IPlacementPolicy? policy = null)
{
    // With no target workload every fragmentation delta is zero and Neuro degenerates to best fit with NUMA/CPU balance.
    private readonly IPlacementPolicy _policy = policy ?? new NeuroPolicy(new WorkloadDistribution([]));

    public ClusterState Cluster => cluster;

    public PlacementResult Schedule(PlacementRequest r)
    {
        if (r.Validate() is { } invalid) return PlacementResult.Fail(invalid);
        if (r.MigProfile is not null) return MigPlacer.Place(cluster, r);
        if (r.Gang is not null) return GangPlacer.Place(cluster, r);

        var placement = NumaPlacer.Place(cluster, r) ?? _policy.Place(cluster, r);
        if (placement is not null)
        {
            placement = NumaPlacer.PinIfPossible(cluster.Nodes[placement.NodeIndex], r, placement);
            return Committed(cluster.Commit(r, placement));
        }
        return Preemptor.TryPreempt(cluster, r) ?? PlacementResult.Fail(Explain(cluster, r));
    }

    internal static PlacementResult Committed(Allocation a, IReadOnlyList<Allocation>? evicted = null) => new()
    {
        Success = true,
        Allocations = [a],
        Evicted = evicted ?? [],
        NumaLocal = a.Placement.NumaNode >= 0,
        Served = a.Request,
    };

    /// <summary>Why nothing fits, naming the first resource that rules every node out.</summary>
    public static string Explain(ClusterState cluster, PlacementRequest r)
    {
        var nodes = cluster.Nodes;
        if (nodes.Length == 0) return "the cluster has no nodes";
        if (r.GpuCount > 0)
        {
            var typed = nodes.Where(n => n.Gpus.Length > 0 && r.AcceptsModel(n.GpuModel)).ToList();
            if (typed.Count == 0) return $"no node has GPU model {string.Join("|", r.GpuTypes ?? [])}";
            var most = typed.Max(n => n.Gpus.Length);
            if (most < r.GpuCount) return $"needs {r.GpuCount} GPUs on one node; the largest node has {most}";
            if (r.GpuMemoryMiB > 0 && !typed.Any(n => n.Gpus.Count(g => g.MemoryMiB >= r.GpuMemoryMiB) >= r.GpuCount))
                return $"no node has {r.GpuCount} GPUs with {r.GpuMemoryMiB} MiB of GPU memory";
            nodes = typed.ToArray();
        }
        if (nodes.All(n => n.CpuMilli < r.CpuMilli)) return $"needs {r.CpuMilli} milli-CPU; the largest node has {nodes.Max(n => n.CpuMilli)}";
        if (nodes.All(n => n.MemoryMiB < r.MemoryMiB)) return $"needs {r.MemoryMiB} MiB of memory; the largest node has {nodes.Max(n => n.MemoryMiB)}";
        if (nodes.All(n => n.CpuFreeMilli < r.CpuMilli)) return $"no node has {r.CpuMilli} milli-CPU free (most free: {nodes.Max(n => n.CpuFreeMilli)})";
        if (nodes.All(n => n.MemoryFreeMiB < r.MemoryMiB)) return $"no node has {r.MemoryMiB} MiB of memory free (most free: {nodes.Max(n => n.MemoryFreeMiB)})";
        if (r.GpuCount > 0) return $"no node has {r.GpuCount} GPU(s) with {r.GpuMilli} milli free together with the CPU and memory";
        return "no node has the CPU and memory free together";
    }
}

/// <summary>NUMA locality: CPU, memory and GPUs of a task on one NUMA node when one can hold them.</summary>
public static class NumaPlacer
{
    /// <summary>
    /// Best fit among nodes with a NUMA-local fit (least free GPU, then CPU, left on that NUMA node). Locality
    /// outranks the packing policy for single tasks: a cross-socket GPU↔CPU path costs every step of inference.
    /// Returns null when no node can host the task NUMA-locally (or the task does not ask for it).
    /// </summary>
    public static Placement? Place(ClusterState cluster, PlacementRequest r)
    {
        if (!r.PreferNumaLocal || r.GpuCount == 0) return null;
        Placement? best = null;
        (long Gpu, long Cpu) bestLeft = (long.MaxValue, long.MaxValue);
        foreach (var node in cluster.Nodes)
        {
            if (node.NumaNodes < 2 || !ClusterState.Fits(node, r)) continue;
            for (var numa = 0; numa < node.NumaNodes; numa++)
            {
                var p = OnNuma(node, r, numa);
                if (p is null) continue;
                var left = (node.Gpus.Where(g => g.NumaNode == numa && g.Mig is null).Sum(g => (long)g.FreeMilli) - r.TotalGpuMilli,
                            node.NumaCpuFree[numa] - r.CpuMilli);
                if (left.CompareTo(bestLeft) < 0) (best, bestLeft) = (p, left);
            }
        }
        return best;
    }

    /// <summary>Keeps the chosen node but moves GPUs and CPU/memory onto one NUMA node when that node allows it.</summary>
    public static Placement PinIfPossible(Node node, PlacementRequest r, Placement p)
    {
        if (p.NumaNode >= 0 || !r.PreferNumaLocal) return p;
        if (node.NumaNodes == 1)
            return node.NumaCpuFree[0] >= r.CpuMilli && node.NumaMemoryFree[0] >= r.MemoryMiB ? p with { NumaNode = 0 } : p;
        for (var numa = 0; numa < node.NumaNodes; numa++)
            if (OnNuma(node, r, numa) is { } local) return local;
        return p;
    }

    private static Placement? OnNuma(Node node, PlacementRequest r, int numa)
    {
        if (node.NumaCpuFree[numa] < r.CpuMilli || node.NumaMemoryFree[numa] < r.MemoryMiB) return null;
        if (r.GpuCount == 0) return new Placement(node.Index, Placement.NoGpus, 0, numa);
        var candidates = Enumerable.Range(0, node.Gpus.Length)
            .Where(i => node.Gpus[i] is { Mig: null } g && g.NumaNode == numa && g.FreeMilli >= r.GpuMilli && g.MemoryMiB >= r.GpuMemoryMiB)
            .OrderBy(i => node.Gpus[i].FreeMilli) // fullest first: packs sharing tasks
            .Take(r.GpuCount).ToArray();
        return candidates.Length == r.GpuCount ? new Placement(node.Index, candidates, r.GpuMilli, numa) : null;
    }
}
