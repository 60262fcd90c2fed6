using System.Diagnostics;
using Neuro.Scheduling;
using Neuro.Scheduling.Policies;
using Neuro.Scheduling.Trace;

namespace Neuro.Benchmarks.GpuTrace;

public sealed record TraceRunResult(string Policy, int Seed, double[] Arrived, double[] Allocated, int Decisions, int Failed, TimeSpan Elapsed,
    Dictionary<string, double> FailedGpuBy100)
{
    /// <summary>Allocation (%) when arrived request reached <paramref name="arrivedPct"/> (linear between arrivals).</summary>
    public double AllocationAt(double arrivedPct)
    {
        var i = Array.BinarySearch(Arrived, arrivedPct);
        if (i >= 0) return Allocated[i];
        i = ~i;
        if (i == 0) return 0;
        if (i >= Arrived.Length) return Allocated[^1];
        var t = (arrivedPct - Arrived[i - 1]) / (Arrived[i] - Arrived[i - 1]);
        return Allocated[i - 1] + t * (Allocated[i] - Allocated[i - 1]);
    }

    /// <summary>First arrived % at which allocation is more than one point behind arrival; NaN if never.</summary>
    public double FirstBehind()
    {
        for (var i = 0; i < Arrived.Length; i++)
            if (Arrived[i] - Allocated[i] > 1.0) return Arrived[i];
        return double.NaN;
    }
}

public static class TraceReplay
{
    public static IPlacementPolicy Create(string name, IReadOnlyList<PlacementRequest> trace, int seed) => name.ToLowerInvariant() switch
    {
        // neuro:<count|gpu>:<coverage>:<tolerance>:<pack|index> — variants for ablations
        var n when n.StartsWith("neuro:", StringComparison.Ordinal) => Variant(n, trace),
        "random" => new RandomPolicy(seed),
        "dotprod" => new DotProdPolicy(seed),
        "gpuclustering" => new GpuClusteringPolicy(seed),
        "gpupacking" => new GpuPackingPolicy(seed),
        "bestfit" => new BestFitPolicy(seed),
        "fgd" => new FgdPolicy(WorkloadDistribution.From(trace), seed),
        "fgd-exact" => new FgdPolicy(WorkloadDistribution.From(trace), seed, quantize: false),
        "neuro" => new NeuroPolicy(trace),
        _ => throw new ArgumentException($"unknown policy {name}"),
    };

    private static IPlacementPolicy Variant(string name, IReadOnlyList<PlacementRequest> trace)
    {
        var p = name.Split(':');
        var options = new NeuroPolicyOptions
        {
            Weighting = p[1] == "count" ? ShapeWeighting.TaskCount : ShapeWeighting.GpuDemand,
            Coverage = double.Parse(p[2], System.Globalization.CultureInfo.InvariantCulture),
            Tolerance = double.Parse(p[3], System.Globalization.CultureInfo.InvariantCulture),
            PackTieBreak = p[4] == "pack",
            CpuBalanceWeight = p.Length > 5 ? double.Parse(p[5], System.Globalization.CultureInfo.InvariantCulture) : 0,
        };
        return new NamedPolicy(name, new NeuroPolicy(trace, options));
    }

    private sealed class NamedPolicy(string name, IPlacementPolicy inner) : IPlacementPolicy
    {
        public string Name => name;
        public Placement? Place(ClusterState cluster, PlacementRequest request) => inner.Place(cluster, request);
    }

    /// <summary>
    /// The paper's protocol for one seed: sample extra trace pods (with replacement) until the next one would push
    /// total GPU request past <paramref name="inflate"/> × capacity, shuffle everything, place one by one, never release.
    /// </summary>
    public static List<PlacementRequest> Workload(IReadOnlyList<PlacementRequest> trace, int totalGpus, int seed, double inflate)
    {
        var rng = new Random(seed);
        var pods = trace.ToList();
        long requested = pods.Sum(p => (long)p.TotalGpuMilli);
        var target = inflate * totalGpus * Gpu.Milli;
        while (requested < target)
        {
            var p = trace[rng.Next(trace.Count)];
            if (requested + p.TotalGpuMilli > target) break;
            requested += p.TotalGpuMilli;
            pods.Add(p with { Id = $"{p.Id}-tuned-{pods.Count}" });
        }
        for (var i = pods.Count - 1; i > 0; i--)
        {
            var j = rng.Next(i + 1);
            (pods[i], pods[j]) = (pods[j], pods[i]);
        }
        return pods;
    }

    /// <summary>Where the free GPU sits when arrival crosses 100%: partial GPUs, whole GPUs on CPU- or memory-starved nodes, usable whole GPUs.</summary>
    private static void Snapshot(ClusterState cluster, Dictionary<string, double> into, double capacity)
    {
        foreach (var n in cluster.Nodes)
            foreach (var g in n.Gpus)
            {
                if (g.FreeMilli == 0) continue;
                var kind = g.FreeMilli < Gpu.Milli ? "free:partial" : n.CpuFreeMilli < 4000 ? "free:whole-cpu<4" : n.MemoryFreeMiB < 16384 ? "free:whole-mem<16G" : "free:whole-ok";
                into[kind] = into.GetValueOrDefault(kind) + 100.0 * g.FreeMilli / capacity;
            }
    }

    public static TraceRunResult Run(string nodesPath, IReadOnlyList<PlacementRequest> trace, string policyName, int seed, double inflate)
    {
        var cluster = new ClusterState(OpenbTrace.ReadNodes(nodesPath));
        var pods = Workload(trace, cluster.TotalGpus, seed, inflate);
        var policy = Create(policyName, trace, seed);
        var capacity = cluster.TotalGpus * (double)Gpu.Milli;
        var arrived = new double[pods.Count];
        var allocated = new double[pods.Count];
        long arrivedMilli = 0;
        var failed = 0;
        var failedBy = new Dictionary<string, double>();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < pods.Count; i++)
        {
            var pod = pods[i];
            arrivedMilli += pod.TotalGpuMilli;
            var placement = policy.Place(cluster, pod);
            if (placement is null)
            {
                failed++;
                if (100.0 * arrivedMilli / capacity <= 100)
                {
                    var cls = pod.GpuCount == 0 ? "cpu" : pod.IsSharing ? "share" : $"{pod.GpuCount}gpu";
                    failedBy[cls] = failedBy.GetValueOrDefault(cls) + 100.0 * Math.Max(pod.TotalGpuMilli, 0) / capacity;
                    failedBy[cls + "#"] = failedBy.GetValueOrDefault(cls + "#") + 1;
                }
            }
            else cluster.Commit(pod, placement);
            if (arrived[Math.Max(i - 1, 0)] < 100 && 100.0 * arrivedMilli / capacity >= 100) Snapshot(cluster, failedBy, capacity);
            arrived[i] = 100.0 * arrivedMilli / capacity;
            allocated[i] = 100.0 * cluster.AllocatedGpuMilli / capacity;
        }
        sw.Stop();
        return new TraceRunResult(policy.Name, seed, arrived, allocated, pods.Count, failed, sw.Elapsed, failedBy);
    }
}
