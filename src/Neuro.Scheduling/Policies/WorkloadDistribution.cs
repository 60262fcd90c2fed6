namespace Neuro.Scheduling.Policies;

/// <summary>One task shape of the target workload and how much of the workload it is.</summary>
public sealed record TaskShape(long CpuMilli, int GpuCount, int GpuMilli, string GpuTypes, double Weight)
{
    private readonly string[] _types = GpuTypes.Length == 0 ? [] : GpuTypes.Split('|');

    public bool Accepts(string model) => _types.Length == 0 || Array.Exists(_types, t => string.Equals(t, model, StringComparison.OrdinalIgnoreCase));
}

/// <summary>How shapes are weighted when building the distribution.</summary>
public enum ShapeWeighting
{
    /// <summary>By how many tasks have the shape (the paper).</summary>
    TaskCount,
    /// <summary>By how much GPU the shape brings in total (tasks × GPUs), but no task below one: a sharing or CPU-only
    /// task still arrives as a whole task that needs a place.</summary>
    GpuDemand,
}

/// <summary>The target workload as a distribution over task shapes (FGD's "typical pods").</summary>
public sealed class WorkloadDistribution
{
    private readonly Dictionary<string, bool[]> _accessByModel = new();

    public WorkloadDistribution(IReadOnlyList<TaskShape> shapes)
    {
        Shapes = shapes.ToArray();
    }

    public TaskShape[] Shapes { get; }

    /// <summary>
    /// Builds the distribution the way the paper does: count shapes, keep the most popular ones (in steps of
    /// <paramref name="step"/>) until they cover <paramref name="coverage"/> of the weight, renormalise.
    /// </summary>
    public static WorkloadDistribution From(IEnumerable<PlacementRequest> tasks, double coverage = 0.95, int step = 1,
        bool includeCpuOnly = true, ShapeWeighting weighting = ShapeWeighting.TaskCount)
    {
        var counts = new Dictionary<(long, int, int, string), double>();
        foreach (var t in tasks)
        {
            if (!includeCpuOnly && t.GpuCount == 0) continue;
            var key = (t.CpuMilli, t.GpuCount, t.GpuMilli, t.GpuTypes is null ? "" : string.Join('|', t.GpuTypes));
            var w = weighting == ShapeWeighting.TaskCount ? 1.0 : Math.Max(t.TotalGpuMilli / (double)Gpu.Milli, 1.0);
            counts[key] = counts.GetValueOrDefault(key) + w;
        }
        var total = counts.Values.Sum();
        var sorted = counts.OrderByDescending(kv => kv.Value)
            .ThenBy(kv => kv.Key.Item1).ThenBy(kv => kv.Key.Item3).ThenBy(kv => kv.Key.Item2).ThenBy(kv => kv.Key.Item4, StringComparer.Ordinal)
            .ToList();
        var take = 0;
        var covered = 0.0;
        while (covered < coverage * total && take < sorted.Count)
        {
            var until = Math.Min(take + step, sorted.Count);
            for (; take < until; take++) covered += sorted[take].Value;
        }
        var kept = sorted.Take(take).ToList();
        var keptTotal = kept.Sum(kv => kv.Value);
        return new WorkloadDistribution(kept
            .Select(kv => new TaskShape(kv.Key.Item1, kv.Key.Item2, kv.Key.Item3, kv.Key.Item4, kv.Value / keptTotal))
            .ToList());
    }

    /// <summary>For each shape, whether a node of <paramref name="model"/> could ever run it.</summary>
    public bool[] AccessFor(string model)
    {
        if (!_accessByModel.TryGetValue(model, out var access))
        {
            access = Shapes.Select(s => s.GpuCount == 0 || (model.Length > 0 && s.Accepts(model))).ToArray();
            _accessByModel[model] = access;
        }
        return access;
    }
}

/// <summary>
/// FGD's fragment measure. For one shape, a node's free GPU share is a fragment when the shape cannot run on the
/// node at all (wrong model, not enough CPU, not enough GPUs with room) — then all of it — or, when it can, the
/// free share on GPUs too small for the shape. CPU-only shapes count every free GPU share (the simulator does too;
/// it is a constant offset for GPU tasks and keeps CPU placements comparable). The node's fragmentation is the
/// expectation over the workload distribution.
/// </summary>
public static class Fragmentation
{
    public static double Of(long cpuFree, ReadOnlySpan<int> gpuFree, bool[] access, TaskShape[] shapes)
    {
        var total = 0;
        foreach (var f in gpuFree) total += f;
        if (total == 0) return 0;
        var frag = 0.0;
        for (var s = 0; s < shapes.Length; s++)
        {
            var shape = shapes[s];
            if (shape.GpuCount == 0 || !access[s] || cpuFree < shape.CpuMilli)
            {
                frag += shape.Weight * total;
                continue;
            }
            int fitting = 0, small = 0;
            foreach (var f in gpuFree)
            {
                if (f >= shape.GpuMilli) fitting++;
                else small += f;
            }
            frag += shape.Weight * (fitting >= shape.GpuCount ? small : total);
        }
        return frag;
    }

    public static double Of(Node node, WorkloadDistribution d)
    {
        Span<int> free = stackalloc int[node.Gpus.Length];
        for (var i = 0; i < free.Length; i++) free[i] = node.Gpus[i].Mig is null ? node.Gpus[i].FreeMilli : 0;
        return Of(node.CpuFreeMilli, free, d.AccessFor(node.GpuModel), d.Shapes);
    }
}
