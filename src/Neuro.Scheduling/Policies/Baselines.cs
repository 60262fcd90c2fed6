namespace Neuro.Scheduling.Policies;

// The ATC'23 paper's baselines, re-implemented from their published definitions. Scores are kept on the
// simulator's 0..100 integer scale where the definition uses it, because the resulting ties (broken at random)
// are part of how these policies behave.

/// <summary>Any node that fits, uniformly at random; a random fitting GPU for sharing tasks.</summary>
public sealed class RandomPolicy(int seed) : ScoredPolicy(seed)
{
    public override string Name => "Random";

    public override Placement? Place(ClusterState cluster, PlacementRequest r)
    {
        Node? chosen = null;
        var seen = 0;
        foreach (var node in cluster.Nodes)
            if (ClusterState.Fits(node, r) && Rng.Next(++seen) == 0) chosen = node;
        if (chosen is null) return null;
        Score(cluster, chosen, r, out var gpu);
        return GpuPick.Build(chosen, r, gpu);
    }

    protected override double Score(ClusterState cluster, Node node, PlacementRequest r, out int gpu)
    {
        gpu = -1;
        if (r.IsSharing)
        {
            var seen = 0;
            for (var i = 0; i < node.Gpus.Length; i++)
                if (node.Gpus[i].FreeMilli >= r.GpuMilli && Rng.Next(++seen) == 0) gpu = i;
        }
        return 0;
    }
}

/// <summary>
/// Tetris-style dot product of the node's free (CPU, GPU) vector and the task's request, both normalised by
/// the largest node spec; the simulator scores 1 − dot, so the node whose free resources align least wins.
/// </summary>
public sealed class DotProdPolicy(int seed) : ScoredPolicy(seed)
{
    private const double MaxCpu = 128_000, MaxGpu = 8_000;
    public override string Name => "DotProd";

    protected override double Score(ClusterState cluster, Node node, PlacementRequest r, out int gpu)
    {
        gpu = -1;
        var reqCpu = r.CpuMilli / MaxCpu;
        if (!r.IsSharing)
            return 1 - (node.CpuFreeMilli / MaxCpu * reqCpu + node.FreeGpuMilliTotal / MaxGpu * (r.TotalGpuMilli / MaxGpu)) / 2;
        // Sharing task: the GPU dimension is the candidate GPU's own free share, so each fitting GPU is a candidate.
        var best = double.NegativeInfinity;
        for (var i = 0; i < node.Gpus.Length; i++)
        {
            var g = node.Gpus[i];
            if (g.FreeMilli < r.GpuMilli) continue;
            var s = 1 - (node.CpuFreeMilli / MaxCpu * reqCpu + g.FreeMilli / (double)Gpu.Milli * (r.GpuMilli / (double)Gpu.Milli)) / 2;
            if (s > best) (best, gpu) = (s, i);
        }
        return best;
    }
}

/// <summary>
/// Packs tasks with the same GPU request together: nodes running only that shape first, then nodes running it
/// among others, then idle nodes, then nodes running other shapes; within a tier, fuller nodes first.
/// CPU-only tasks get no preference.
/// </summary>
public sealed class GpuClusteringPolicy(int seed) : ScoredPolicy(seed)
{
    public override string Name => "GpuClustering";

    protected override double Score(ClusterState cluster, Node node, PlacementRequest r, out int gpu)
    {
        gpu = -1;
        if (r.GpuCount == 0) return 0;
        var key = ClusterState.ShapeKey(r);
        // Integer arithmetic as in the simulator: 25 points spread over how much of an 8-GPU node is used.
        var used = 25 * (8 * Gpu.Milli - node.FreeGpuMilliTotal) / (8 * Gpu.Milli);
        var tier = node.ShapeCounts.ContainsKey(key)
            ? (node.ShapeCounts.Count == 1 ? 75 : 50)
            : (node.ShapeCounts.Count == 0 ? 25 : 0);
        return tier + used;
    }
}

/// <summary>
/// Packing: prefer already-used GPUs (fullest first), then free GPUs on nodes that are already in use
/// (fewest free GPUs taken), then idle nodes. CPU-only tasks get no preference.
/// </summary>
public sealed class GpuPackingPolicy(int seed) : ScoredPolicy(seed)
{
    public override string Name => "GpuPacking";

    protected override double Score(ClusterState cluster, Node node, PlacementRequest r, out int gpu)
    {
        gpu = -1;
        if (r.GpuCount == 0) return 0;
        var fullyFree = node.FullyFreeGpus;
        if (fullyFree == node.Gpus.Length) return Math.Max(33 - fullyFree, fullyFree);

        // Take GPUs least-free first; count how many of them are untouched.
        var order = Enumerable.Range(0, node.Gpus.Length).OrderBy(i => node.Gpus[i].FreeMilli).ThenBy(i => i);
        int need = r.GpuCount, untouched = 0, freeOnUsed = 0;
        foreach (var i in order)
        {
            if (need == 0) break;
            var f = node.Gpus[i].FreeMilli;
            if (f < r.GpuMilli) continue;
            need--;
            if (gpu < 0) gpu = i;
            if (f == Gpu.Milli) untouched++;
            freeOnUsed += f * 100 / Gpu.Milli;
        }
        if (untouched > 0) { gpu = -1; return Math.Max(50 - untouched, 33); }
        return Math.Max(100 - freeOnUsed / 10, 50);
    }
}

/// <summary>Best fit: the node left with the least (CPU, GPU) after placing, equally weighted and normalised by the largest spec.</summary>
public sealed class BestFitPolicy(int seed) : ScoredPolicy(seed)
{
    private const double MaxCpu = 128_000, MaxGpu = 8_000;
    public override string Name => "BestFit";

    protected override double Score(ClusterState cluster, Node node, PlacementRequest r, out int gpu)
    {
        gpu = -1;
        var left = 0.5 * (node.CpuFreeMilli - r.CpuMilli) / MaxCpu + 0.5 * (node.FreeGpuMilliTotal - r.TotalGpuMilli) / MaxGpu;
        return (int)((1 - left) * 100);
    }
}
