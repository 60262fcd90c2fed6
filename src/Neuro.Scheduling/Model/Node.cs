namespace Neuro.Scheduling;

public enum CapacityKind { OnDemand, Spot }

/// <summary>A machine: CPU, memory, GPUs (all of one model, as in the openb trace) and its NUMA split.</summary>
public sealed class Node
{
    public Node(string name, long cpuMilli, long memoryMiB, IReadOnlyList<Gpu> gpus, int numaNodes = 1,
        CapacityKind kind = CapacityKind.OnDemand, string? pool = null, double hourlyPricePerGpu = 0)
    {
        if (numaNodes < 1) throw new ArgumentOutOfRangeException(nameof(numaNodes));
        Name = name;
        CpuMilli = cpuMilli;
        MemoryMiB = memoryMiB;
        CpuFreeMilli = cpuMilli;
        MemoryFreeMiB = memoryMiB;
        Gpus = gpus.ToArray();
        GpuModel = Gpus.Length > 0 ? Gpus[0].Model : "";
        Kind = kind;
        Pool = pool ?? GpuModel;
        HourlyPricePerGpu = hourlyPricePerGpu;
        NumaCpuFree = new long[numaNodes];
        NumaMemoryFree = new long[numaNodes];
        for (var i = 0; i < numaNodes; i++)
        {
            // Even split, remainder on node 0: what a BIOS with symmetric sockets reports.
            NumaCpuFree[i] = cpuMilli / numaNodes + (i == 0 ? cpuMilli % numaNodes : 0);
            NumaMemoryFree[i] = memoryMiB / numaNodes + (i == 0 ? memoryMiB % numaNodes : 0);
        }
    }

    public string Name { get; }
    public int Index { get; internal set; }
    public string GpuModel { get; }
    public long CpuMilli { get; }
    public long MemoryMiB { get; }
    public long CpuFreeMilli { get; internal set; }
    public long MemoryFreeMiB { get; internal set; }
    public Gpu[] Gpus { get; }
    public int NumaNodes => NumaCpuFree.Length;
    public long[] NumaCpuFree { get; }
    public long[] NumaMemoryFree { get; }
    public CapacityKind Kind { get; }
    /// <summary>Pool used by the cost/SLA guard (defaults to the GPU model).</summary>
    public string Pool { get; }
    /// <summary>Price of one GPU of this node per hour (spot nodes carry their spot price).</summary>
    public double HourlyPricePerGpu { get; }

    /// <summary>Bumped on every change so policies can cache per-node scores.</summary>
    public int Version { get; internal set; }

    /// <summary>Counts of running tasks by GPU shape, for GpuClustering's affinity.</summary>
    internal Dictionary<long, int> ShapeCounts { get; } = new();

    public int FreeGpuMilliTotal
    {
        get
        {
            var s = 0;
            foreach (var g in Gpus) s += g.FreeMilli;
            return s;
        }
    }

    public int FullyFreeGpus
    {
        get
        {
            var n = 0;
            foreach (var g in Gpus) if (g.FreeMilli == Gpu.Milli) n++;
            return n;
        }
    }

    public override string ToString() => $"{Name}({GpuModel}x{Gpus.Length})";
}
