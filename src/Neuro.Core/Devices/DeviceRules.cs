namespace Neuro.Core.Devices;

/// <summary>Capacity checks for one GPU: milli-GPU share (1000 = a whole GPU) and device memory.</summary>
public static class GpuCapacity
{
    public const int WholeGpuMilli = 1000;

    public static RequestError? CheckFits(
        int milliGpu, long memoryMiB, string? migSlice, long deviceMemoryMiB, IReadOnlyCollection<string> migSlices,
        IEnumerable<(int MilliGpu, long MemoryMiB, string? MigSlice)> existing)
    {
        if (milliGpu is < 1 or > WholeGpuMilli)
        {
            return new("milli_gpu", $"must be between 1 and {WholeGpuMilli}");
        }
        if (memoryMiB < 0)
        {
            return new("memory_mib", "must be 0 or more");
        }
        var usedMilli = 0;
        var usedMemory = 0L;
        var usedSlices = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in existing)
        {
            usedMilli += a.MilliGpu;
            usedMemory += a.MemoryMiB;
            if (a.MigSlice is not null)
            {
                usedSlices.Add(a.MigSlice);
            }
        }
        if (migSlice is not null)
        {
            if (!migSlices.Contains(migSlice))
            {
                return new("mig_slice", $"the device has no MIG slice '{migSlice}'");
            }
            if (usedSlices.Contains(migSlice))
            {
                return new("mig_slice", $"MIG slice '{migSlice}' is already allocated", Conflict: true);
            }
        }
        if (usedMilli + milliGpu > WholeGpuMilli)
        {
            return new("milli_gpu", $"needs {milliGpu} milli-GPU but only {WholeGpuMilli - usedMilli} are free", Conflict: true);
        }
        if (usedMemory + memoryMiB > deviceMemoryMiB)
        {
            return new("memory_mib", $"needs {memoryMiB} MiB but only {deviceMemoryMiB - usedMemory} MiB are free", Conflict: true);
        }
        return null;
    }
}

/// <summary>When a cached model may be evicted: pinned models stay until their pin runs out.</summary>
public static class ModelPinning
{
    public static bool IsPinned(DateTimeOffset? pinnedUntil, DateTimeOffset now) => pinnedUntil is { } until && now < until;

    /// <summary>Eviction order under memory pressure: unpinned first, least recently used first.</summary>
    public static IEnumerable<T> EvictionOrder<T>(IEnumerable<T> entries, Func<T, DateTimeOffset?> pinnedUntil, Func<T, DateTimeOffset?> lastUsed, DateTimeOffset now) =>
        entries.Where(e => !IsPinned(pinnedUntil(e), now)).OrderBy(e => lastUsed(e) ?? DateTimeOffset.MinValue);
}
