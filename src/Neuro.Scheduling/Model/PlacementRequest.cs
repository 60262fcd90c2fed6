namespace Neuro.Scheduling;

/// <summary>Topology a gang asks for.</summary>
public enum GangTopology
{
    /// <summary>Any set of GPUs in the cluster.</summary>
    Any,
    /// <summary>One node, preferring one NVLink island; falls back to the best-connected set on one node.</summary>
    SameNode,
    /// <summary>All members on one NVLink island, or fail.</summary>
    SameNvLinkIsland,
}

/// <summary>A gang of <see cref="Count"/> members that must be placed all together or not at all.</summary>
public sealed record GangSpec(string Id, int Count, GangTopology Topology = GangTopology.SameNode);

/// <summary>What one task asks for. GPU amounts follow the openb trace: <see cref="GpuCount"/> GPUs of
/// <see cref="GpuMilli"/> each; below 1000 only with one GPU (a GPU-sharing task).</summary>
public sealed record PlacementRequest
{
    public string Id { get; init; } = "";
    public long CpuMilli { get; init; }
    public long MemoryMiB { get; init; }
    public int GpuCount { get; init; }
    public int GpuMilli { get; init; }
    /// <summary>Accepted GPU models (e.g. from <c>V100M16|V100M32</c>); null or empty = any.</summary>
    public IReadOnlyList<string>? GpuTypes { get; init; }
    /// <summary>A MIG profile such as <c>3g.20gb</c>; when set the task wants a MIG slice instead of milli-GPU.</summary>
    public string? MigProfile { get; init; }
    /// <summary>Higher wins. Preemption never evicts an allocation of equal or higher priority.</summary>
    public int Priority { get; init; }
    public string? Tenant { get; init; }
    public GangSpec? Gang { get; init; }
    /// <summary>GPU memory (MiB) the task needs per GPU; 0 = no requirement beyond the milli share.</summary>
    public int GpuMemoryMiB { get; init; }
    /// <summary>Keep CPU, memory and GPUs on one NUMA node when possible.</summary>
    public bool PreferNumaLocal { get; init; } = true;

    // cost / SLA
    public bool AllowSpot { get; init; }
    /// <summary>Budget for this placement (GPU share × node price per GPU-hour); null = no budget.</summary>
    public double? MaxHourlyPrice { get; init; }
    public string? Model { get; init; }
    /// <summary>A smaller model to serve instead when the preferred one cannot be placed within budget/SLO.</summary>
    public PlacementRequest? Fallback { get; init; }

    public bool IsCpuOnly => GpuCount == 0 && MigProfile is null;
    public bool IsSharing => GpuCount == 1 && GpuMilli is > 0 and < Gpu.Milli;
    public int TotalGpuMilli => GpuCount * GpuMilli;

    public bool AcceptsModel(string gpuModel)
    {
        if (GpuTypes is null || GpuTypes.Count == 0) return true;
        foreach (var t in GpuTypes)
            if (string.Equals(t, gpuModel, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    public static IReadOnlyList<string>? ParseGpuSpec(string? spec) =>
        string.IsNullOrWhiteSpace(spec) ? null : spec.Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Validates the shape, returning a reason or null.</summary>
    public string? Validate()
    {
        if (CpuMilli < 0 || MemoryMiB < 0 || GpuCount < 0) return "negative resource request";
        if (GpuMilli is < 0 or > Gpu.Milli) return $"gpu milli {GpuMilli} outside 0..1000";
        if (GpuCount > 1 && GpuMilli != Gpu.Milli) return "multi-GPU tasks must use whole GPUs";
        if (GpuCount > 0 && GpuMilli == 0) return "GPU count without a GPU share";
        if (Gang is { Count: < 1 }) return "gang count must be at least 1";
        if (Gang is not null && GpuCount > 0 && GpuMilli != Gpu.Milli) return "gang members must use whole GPUs";
        if (MigProfile is not null && GpuCount > 0) return "a MIG request takes a MIG slice, not GPU count";
        return null;
    }
}

/// <summary>Where a task goes: a node, the GPUs it uses and how much of each.</summary>
public sealed record Placement(int NodeIndex, int[] GpuIndices, int GpuMilli, int NumaNode = -1, int MigSlice = -1)
{
    public static readonly int[] NoGpus = [];
}

/// <summary>A committed placement.</summary>
public sealed record Allocation(long Id, PlacementRequest Request, Placement Placement)
{
    public int Priority => Request.Priority;
}
