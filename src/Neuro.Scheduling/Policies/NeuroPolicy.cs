namespace Neuro.Scheduling.Policies;

/// <summary>Knobs of <see cref="NeuroPolicy"/>; the defaults are what the trace benchmark measured best.</summary>
public sealed record NeuroPolicyOptions
{
    /// <summary>Weight shapes by the GPU they bring, so rare but large (multi-GPU) shapes are protected.</summary>
    public ShapeWeighting Weighting { get; init; } = ShapeWeighting.GpuDemand;
    /// <summary>Share of the workload the distribution covers; FGD keeps 95% and loses the rare large shapes.</summary>
    public double Coverage { get; init; } = 1.0;
    /// <summary>Fragmentation increases within this many milli-GPU of the best count as equal, so the packing tie-break decides.</summary>
    public double Tolerance { get; init; }
    /// <summary>Among (near-)equal candidates prefer the node left with the least free GPU; false = the first node by index.</summary>
    public bool PackTieBreak { get; init; } = true;
    /// <summary>Weight of the stranded-GPU term (free GPU a node cannot use because its CPU ran out first).</summary>
    public double CpuBalanceWeight { get; init; } = 2.0;
}

/// <summary>
/// Ours: FGD's fragmentation-increase objective, changed where FGD loses GPUs on the trace —
/// a stranded-GPU term keeps CPU-only and CPU-heavy tasks off CPU-poor nodes (FGD checks CPU one task at a time,
/// so whole GPUs end up on nodes whose CPU is gone); the distribution is weighted by GPU demand over all shapes (FGD weights by task count and drops the
/// least popular 5%, which are exactly the 4- and 8-GPU tasks that strand whole nodes); the increase is compared
/// exactly rather than through a 0..100 integer score; and ties go to the node left with the least free GPU
/// (then least free CPU), so untouched nodes stay whole for the tasks that need whole nodes.
/// </summary>
public sealed class NeuroPolicy : IPlacementPolicy
{
    private readonly WorkloadDistribution _workload;
    private readonly FragCache _cache;
    private readonly NeuroPolicyOptions _options;

    public NeuroPolicy(IEnumerable<PlacementRequest> targetWorkload, NeuroPolicyOptions? options = null)
    {
        _options = options ??= new NeuroPolicyOptions();
        _workload = WorkloadDistribution.From(targetWorkload, options.Coverage, weighting: options.Weighting);
        _cache = new FragCache(_workload);
        _cpuPerGpuMilli = CpuPerGpuMilli(_workload);
    }

    public NeuroPolicy(WorkloadDistribution workload, NeuroPolicyOptions? options = null)
    {
        _options = options ?? new NeuroPolicyOptions();
        _workload = workload;
        _cache = new FragCache(workload);
        _cpuPerGpuMilli = CpuPerGpuMilli(workload);
    }

    private readonly double _cpuPerGpuMilli;

    /// <summary>CPU milli the workload's GPU tasks bring per milli-GPU (about 11 vCPU per GPU on the openb trace).</summary>
    private static double CpuPerGpuMilli(WorkloadDistribution d)
    {
        double cpu = 0, gpu = 0;
        foreach (var s in d.Shapes)
            if (s.GpuCount > 0) { cpu += s.Weight * s.CpuMilli; gpu += s.Weight * s.GpuCount * s.GpuMilli; }
        return gpu > 0 ? cpu / gpu : 0;
    }

    /// <summary>
    /// GPU share a node is expected to strand because its CPU runs out first: free GPU beyond what the free CPU can
    /// feed at the workload's CPU-per-GPU ratio. FGD only sees CPU shortage one task at a time, so it happily fills
    /// CPU-poor nodes (8 vCPU per GPU) with CPU-only and CPU-heavy tasks while CPU-rich ones (52 per GPU) sit idle.
    /// </summary>
    private double Stranded(long cpuFree, long gpuFree) =>
        _cpuPerGpuMilli <= 0 ? 0 : Math.Max(0, gpuFree - cpuFree / _cpuPerGpuMilli);

    public string Name => "Neuro";

    public Placement? Place(ClusterState cluster, PlacementRequest r)
    {
        // Two passes: the best increase first, then among candidates within tolerance of it, the packing tie-break.
        var deltas = _deltas.Length >= cluster.Nodes.Length ? _deltas : _deltas = new double[cluster.Nodes.Length];
        var gpus = _gpus.Length >= cluster.Nodes.Length ? _gpus : _gpus = new int[cluster.Nodes.Length];
        var min = double.PositiveInfinity;
        foreach (var node in cluster.Nodes)
        {
            var i = node.Index;
            deltas[i] = double.NaN;
            if (!ClusterState.Fits(node, r)) continue;
            deltas[i] = FragDelta.Best(_cache, node, r, _workload, out gpus[i]);
            if (_options.CpuBalanceWeight != 0)
            {
                long gpuFree = node.FreeGpuMilliTotal;
                deltas[i] += _options.CpuBalanceWeight *
                    (Stranded(node.CpuFreeMilli - r.CpuMilli, gpuFree - r.TotalGpuMilli) - Stranded(node.CpuFreeMilli, gpuFree));
            }
            if (deltas[i] < min) min = deltas[i];
        }
        if (double.IsPositiveInfinity(min)) return null;

        // Deltas are sums of weighted milli amounts; below 1e-6 milli the difference is rounding, not preference.
        var limit = min + Math.Max(_options.Tolerance, 1e-6);
        Node? best = null;
        long bestGpuLeft = long.MaxValue, bestCpuLeft = long.MaxValue;
        foreach (var node in cluster.Nodes)
        {
            var d = deltas[node.Index];
            if (!(d <= limit)) continue;
            if (!_options.PackTieBreak) { best = node; break; }
            long gpuLeft = node.FreeGpuMilliTotal - r.TotalGpuMilli, cpuLeft = node.CpuFreeMilli - r.CpuMilli;
            if (gpuLeft < bestGpuLeft || (gpuLeft == bestGpuLeft && cpuLeft < bestCpuLeft))
                (best, bestGpuLeft, bestCpuLeft) = (node, gpuLeft, cpuLeft);
        }
        return GpuPick.Build(best!, r, gpus[best!.Index]);
    }

    private double[] _deltas = [];
    private int[] _gpus = [];
}
