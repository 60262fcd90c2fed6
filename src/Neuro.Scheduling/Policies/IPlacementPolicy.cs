namespace Neuro.Scheduling.Policies;

/// <summary>Chooses where one task goes. Returns null when no node can host it; never mutates the cluster.</summary>
public interface IPlacementPolicy
{
    string Name { get; }
    Placement? Place(ClusterState cluster, PlacementRequest request);
}

/// <summary>Shared GPU pickers once a node is chosen.</summary>
public static class GpuPick
{
    /// <summary>Best fit for a sharing task: the GPU with the least free share that still fits (the simulator's "best").</summary>
    public static int BestFitSharing(Node node, int milli)
    {
        var best = -1;
        for (var i = 0; i < node.Gpus.Length; i++)
        {
            var g = node.Gpus[i];
            if (g.Mig is null && g.FreeMilli >= milli && (best < 0 || g.FreeMilli < node.Gpus[best].FreeMilli)) best = i;
        }
        return best;
    }

    /// <summary>The lowest-index GPUs that are completely free.</summary>
    public static int[] FirstFullyFree(Node node, int count)
    {
        var result = new int[count];
        var n = 0;
        for (var i = 0; i < node.Gpus.Length && n < count; i++)
            if (node.Gpus[i].Mig is null && node.Gpus[i].FreeMilli == Gpu.Milli) result[n++] = i;
        return n == count ? result : throw new InvalidOperationException($"{node} has fewer than {count} free GPUs");
    }

    /// <summary>Placement for a request on a node given a chosen GPU for sharing tasks (-1 = default pick).</summary>
    public static Placement Build(Node node, PlacementRequest r, int sharingGpu = -1)
    {
        if (r.GpuCount == 0) return new Placement(node.Index, Placement.NoGpus, 0);
        if (r.GpuMilli < Gpu.Milli)
            return new Placement(node.Index, [sharingGpu >= 0 ? sharingGpu : BestFitSharing(node, r.GpuMilli)], r.GpuMilli);
        return new Placement(node.Index, FirstFullyFree(node, r.GpuCount), Gpu.Milli);
    }
}

/// <summary>
/// The kube-scheduler shape the paper's baselines run in: filter nodes that fit, score each, take the best.
/// The published simulator breaks ties by the lexicographically smallest node name (for reproducibility), which
/// acts as a first-fit tie-breaker; its scores are integers 0..100, so ties are common and this matters.
/// </summary>
public abstract class ScoredPolicy(int seed) : IPlacementPolicy
{
    protected Random Rng { get; } = new(seed);

    public abstract string Name { get; }

    /// <summary>Score of <paramref name="node"/> (higher is better); <paramref name="gpu"/> = chosen GPU for sharing tasks, or -1.</summary>
    protected abstract double Score(ClusterState cluster, Node node, PlacementRequest r, out int gpu);

    public virtual Placement? Place(ClusterState cluster, PlacementRequest r)
    {
        Node? chosen = null;
        var chosenGpu = -1;
        var best = double.NegativeInfinity;
        foreach (var node in cluster.Nodes)
        {
            if (!ClusterState.Fits(node, r)) continue;
            var s = Score(cluster, node, r, out var gpu);
            if (s > best || (s == best && string.CompareOrdinal(node.Name, chosen!.Name) < 0))
                (best, chosen, chosenGpu) = (s, node, gpu);
        }
        return chosen is null ? null : GpuPick.Build(chosen, r, chosenGpu);
    }
}
