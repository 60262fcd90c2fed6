namespace Neuro.Scheduling.Tests;

/// <summary>Small hand-made clusters.</summary>
internal static class Build
{
    /// <summary>A node whose GPUs are split evenly over <paramref name="islands"/> NVLink islands and <paramref name="numa"/> NUMA nodes.</summary>
    public static Node Node(string name, int gpus, long cpuMilli = 96_000, long memMiB = 393_216, string model = "G2",
        int islands = 1, int numa = 1, CapacityKind kind = CapacityKind.OnDemand, double price = 0, int gpuMemMiB = 0)
    {
        var list = Enumerable.Range(0, gpus)
            .Select(i => new Gpu(model, i, gpuMemMiB, nvLinkIsland: i * islands / Math.Max(gpus, 1), pcieSwitch: i / 2, numaNode: i * numa / Math.Max(gpus, 1)))
            .ToArray();
        return new Node(name, cpuMilli, memMiB, list, numa, kind, hourlyPricePerGpu: price);
    }

    public static PlacementRequest Task(long cpu = 4000, long mem = 8192, int gpus = 1, int milli = 1000, string id = "t", int priority = 0) =>
        new() { Id = id, CpuMilli = cpu, MemoryMiB = mem, GpuCount = gpus, GpuMilli = gpus == 0 ? 0 : milli, Priority = priority };

    /// <summary>Puts a task on exactly the given GPUs (bypassing policies) to set up a state.</summary>
    public static Allocation Occupy(ClusterState c, int node, int[] gpus, int milli, long cpu = 0, long mem = 0, int priority = 0, string id = "pre") =>
        c.Commit(new PlacementRequest { Id = id, CpuMilli = cpu, MemoryMiB = mem, GpuCount = gpus.Length, GpuMilli = gpus.Length == 0 ? 0 : milli, Priority = priority },
            new Placement(node, gpus, gpus.Length == 0 ? 0 : milli));

    public static int[] Free(ClusterState c, int node) => c.Nodes[node].Gpus.Select(g => g.FreeMilli).ToArray();
}
