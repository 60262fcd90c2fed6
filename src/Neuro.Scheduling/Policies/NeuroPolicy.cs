namespace Neuro.Scheduling.Policies;

/// <summary>Knobs of <see cref="NeuroPolicy"/>; the defaults are what the trace benchmark measured best.</summary>
public sealed record NeuroPolicyOptions
{
    /// <summary>Weight shapes by the GPU they bring, so rare but large (multi-GPU) shapes are protected.</summary>
    public ShapeWeighting Weighting { get; init; } = ShapeWeighting.GpuDemand;
    /// <summary>Share of the workload the distribution covers; FGD keeps 95% and loses the rare large shapes.</summary>
    public double Coverage { get; init; } = 1.0;
}

/// <summary>
/// Ours: FGD's fragmentation-increase objective, changed where FGD loses GPUs on the trace —
/// the distribution is weighted by GPU demand over all shapes (FGD weights by task count and drops the
/// least popular 5%, which are exactly the 4- and 8-GPU tasks that strand whole nodes); the increase is compared
/// exactly rather than through a 0..100 integer score; and ties go to the node left with the least free GPU
/// (then least free CPU), so untouched nodes stay whole for the tasks that need whole nodes.
/// </summary>
public sealed class NeuroPolicy : IPlacementPolicy
{
    private readonly WorkloadDistribution _workload;
    private readonly FragCache _cache;

    public NeuroPolicy(IEnumerable<PlacementRequest> targetWorkload, NeuroPolicyOptions? options = null)
    {
        options ??= new NeuroPolicyOptions();
        _workload = WorkloadDistribution.From(targetWorkload, options.Coverage, weighting: options.Weighting);
        _cache = new FragCache(_workload);
    }

    public NeuroPolicy(WorkloadDistribution workload)
    {
        _workload = workload;
        _cache = new FragCache(workload);
    }

    public string Name => "Neuro";

    public Placement? Place(ClusterState cluster, PlacementRequest r)
    {
        Node? best = null;
        var bestGpu = -1;
        double bestDelta = double.PositiveInfinity;
        long bestGpuLeft = long.MaxValue, bestCpuLeft = long.MaxValue;
        foreach (var node in cluster.Nodes)
        {
            if (!ClusterState.Fits(node, r)) continue;
            var delta = FragDelta.Best(_cache, node, r, _workload, out var gpu);
            long gpuLeft = node.FreeGpuMilliTotal - r.TotalGpuMilli, cpuLeft = node.CpuFreeMilli - r.CpuMilli;
            // Deltas are sums of weighted milli amounts; differences below 1e-6 milli are rounding, not preference.
            var cmp = Math.Abs(delta - bestDelta) < 1e-6 ? 0 : delta.CompareTo(bestDelta);
            if (cmp < 0 || (cmp == 0 && (gpuLeft < bestGpuLeft || (gpuLeft == bestGpuLeft && cpuLeft < bestCpuLeft))))
                (best, bestGpu, bestDelta, bestGpuLeft, bestCpuLeft) = (node, gpu, delta, gpuLeft, cpuLeft);
        }
        return best is null ? null : GpuPick.Build(best, r, bestGpu);
    }
}
