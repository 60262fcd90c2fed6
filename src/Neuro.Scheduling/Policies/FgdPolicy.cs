namespace Neuro.Scheduling.Policies;

/// <summary>
/// Fragmentation Gradient Descent (Weng et al., ATC'23): place the task where the node's expected fragmentation
/// grows least. Sharing tasks try every GPU that fits. Like the published simulator, the increase is mapped to a
/// 0..100 integer score through a sigmoid (so close candidates tie and are broken at random); pass
/// <c>quantize: false</c> for the exact variant.
/// </summary>
public sealed class FgdPolicy(WorkloadDistribution workload, int seed, bool quantize = true) : ScoredPolicy(seed)
{
    private readonly FragCache _cache = new(workload);

    public override string Name => quantize ? "FGD" : "FGD-exact";

    protected override double Score(ClusterState cluster, Node node, PlacementRequest r, out int gpu)
    {
        var delta = FragDelta.Best(_cache, node, r, workload, out gpu);
        if (!quantize) return -delta;
        return (int)(100.0 / (1 + Math.Exp(delta / 1000.0)));
    }
}

/// <summary>Per-node fragmentation cached by node version (placements change one node at a time).</summary>
internal sealed class FragCache(WorkloadDistribution workload)
{
    private double[] _frag = [];
    private int[] _version = [];

    public double Current(Node node)
    {
        if (_frag.Length <= node.Index)
        {
            Array.Resize(ref _frag, node.Index + 1024);
            var old = _version.Length;
            Array.Resize(ref _version, node.Index + 1024);
            Array.Fill(_version, -1, old, _version.Length - old);
        }
        if (_version[node.Index] != node.Version)
        {
            _frag[node.Index] = Fragmentation.Of(node, workload);
            _version[node.Index] = node.Version;
        }
        return _frag[node.Index];
    }
}

internal static class FragDelta
{
    /// <summary>Smallest fragmentation increase for placing <paramref name="r"/> on <paramref name="node"/>; for sharing tasks the GPU achieving it.</summary>
    public static double Best(FragCache cache, Node node, PlacementRequest r, WorkloadDistribution d, out int gpu)
    {
        gpu = -1;
        var before = cache.Current(node);
        var access = d.AccessFor(node.GpuModel);
        Span<int> free = stackalloc int[node.Gpus.Length];
        for (var i = 0; i < free.Length; i++) free[i] = node.Gpus[i].Mig is null ? node.Gpus[i].FreeMilli : 0;
        var cpu = node.CpuFreeMilli - r.CpuMilli;

        if (r.IsSharing)
        {
            var best = double.PositiveInfinity;
            for (var i = 0; i < free.Length; i++)
            {
                var f = free[i];
                if (f < r.GpuMilli) continue;
                // GPUs with the same free share are interchangeable; evaluate each value once.
                var dup = false;
                for (var j = 0; j < i && !dup; j++) dup = free[j] == f;
                if (dup) continue;
                free[i] = f - r.GpuMilli;
                var delta = Fragmentation.Of(cpu, free, access, d.Shapes) - before;
                free[i] = f;
                if (delta < best) (best, gpu) = (delta, i);
            }
            return best;
        }
        var need = r.GpuCount;
        for (var i = 0; i < free.Length && need > 0; i++)
            if (free[i] == Gpu.Milli) { free[i] = 0; need--; }
        return Fragmentation.Of(cpu, free, access, d.Shapes) - before;
    }
}
