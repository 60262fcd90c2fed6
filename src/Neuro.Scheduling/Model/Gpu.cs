namespace Neuro.Scheduling;

/// <summary>One GPU device. Capacity is 1000 milli-GPU; <see cref="FreeMilli"/> is what sharing tasks can still use.</summary>
public sealed class Gpu
{
    public const int Milli = 1000;

    public Gpu(string model, int index, int memoryMiB = 0, int nvLinkIsland = 0, int pcieSwitch = 0, int numaNode = 0)
    {
        Model = model;
        Index = index;
        MemoryMiB = memoryMiB;
        NvLinkIsland = nvLinkIsland;
        PcieSwitch = pcieSwitch;
        NumaNode = numaNode;
    }

    public string Model { get; }
    public int Index { get; }
    public int MemoryMiB { get; }
    /// <summary>GPUs with the same island id on a node are connected by NVLink/NVSwitch.</summary>
    public int NvLinkIsland { get; }
    public int PcieSwitch { get; }
    public int NumaNode { get; }
    public int FreeMilli { get; internal set; } = Milli;
    public bool IsIdle => FreeMilli == Milli && (Mig is null || Mig.IsIdle);
    /// <summary>Current MIG layout when the GPU is in MIG mode; null when it is not partitioned.</summary>
    public MigLayout? Mig { get; internal set; }
}
