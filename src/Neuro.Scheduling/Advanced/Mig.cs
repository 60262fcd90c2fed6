namespace Neuro.Scheduling;

/// <summary>A MIG GPU-instance profile: compute slices (of 7), memory slots (of 8) and the slots it may start at.</summary>
public sealed record MigProfile(string Name, int Compute, int MemorySlots, int MemoryGiB, int[] Starts);

/// <summary>
/// NVIDIA's published MIG profiles and placement rules (MIG user guide, "Supported MIG Profiles"). Placement is in
/// memory-slot units (8 per GPU): an instance occupies [start, start + MemorySlots) and may only start at the listed
/// slots; at most 7 compute slices are in use. A100-80GB and H100-80GB share the geometry with twice the memory.
/// </summary>
public static class MigCatalog
{
    private static MigProfile[] Geometry(int unitGiB) =>
    [
        new($"1g.{unitGiB}gb", 1, 1, unitGiB, [0, 1, 2, 3, 4, 5, 6]),
        new($"1g.{2 * unitGiB}gb", 1, 2, 2 * unitGiB, [0, 2, 4, 6]),
        new($"2g.{2 * unitGiB}gb", 2, 2, 2 * unitGiB, [0, 2, 4]),
        new($"3g.{4 * unitGiB}gb", 3, 4, 4 * unitGiB, [0, 4]),
        new($"4g.{4 * unitGiB}gb", 4, 4, 4 * unitGiB, [0]),
        new($"7g.{8 * unitGiB}gb", 7, 8, 8 * unitGiB, [0]),
    ];

    private static readonly Dictionary<string, MigProfile[]> ByModel = new(StringComparer.OrdinalIgnoreCase)
    {
        ["A100-40GB"] = Geometry(5),
        ["A100-80GB"] = Geometry(10),
        ["H100-80GB"] = Geometry(10),
    };

    public const int MemorySlots = 8;
    public const int ComputeSlices = 7;

    public static bool Supports(string gpuModel) => ByModel.ContainsKey(gpuModel);

    public static IReadOnlyList<MigProfile> Profiles(string gpuModel) =>
        ByModel.TryGetValue(gpuModel, out var p) ? p : [];

    public static MigProfile? Find(string gpuModel, string profile) =>
        Profiles(gpuModel).FirstOrDefault(p => string.Equals(p.Name, profile, StringComparison.OrdinalIgnoreCase));
}

/// <summary>One GPU instance of a MIG layout.</summary>
public sealed record MigSlice(MigProfile Profile, int Start)
{
    public bool InUse { get; internal set; }
    public int End => Start + Profile.MemorySlots;
}

/// <summary>The MIG partition of one GPU.</summary>
public sealed class MigLayout
{
    public MigLayout(string gpuModel, IEnumerable<MigSlice> slices)
    {
        GpuModel = gpuModel;
        Slices = slices.ToList();
        if (!MigPlanner.IsValid(gpuModel, Slices.Select(s => (s.Profile.Name, s.Start)).ToList(), out var why))
            throw new ArgumentException($"invalid MIG layout: {why}");
    }

    public string GpuModel { get; }
    public List<MigSlice> Slices { get; }
    public bool IsIdle => Slices.TrueForAll(s => !s.InUse);

    internal void Free(int slice) => Slices[slice].InUse = false;

    /// <summary>Adds an instance in free space without touching existing ones (allowed while others run).</summary>
    internal int? TryAdd(MigProfile profile)
    {
        foreach (var start in profile.Starts)
        {
            var candidate = Slices.Select(s => (s.Profile.Name, s.Start)).Append((profile.Name, start)).ToList();
            if (!MigPlanner.IsValid(GpuModel, candidate, out _)) continue;
            Slices.Add(new MigSlice(profile, start));
            return Slices.Count - 1;
        }
        return null;
    }
}

/// <summary>Chooses valid partitions for sets of slice requests.</summary>
public static class MigPlanner
{
    public static bool IsValid(string gpuModel, IReadOnlyList<(string Profile, int Start)> slices, out string? reason)
    {
        reason = null;
        var used = new bool[MigCatalog.MemorySlots];
        var compute = 0;
        foreach (var (name, start) in slices)
        {
            var p = MigCatalog.Find(gpuModel, name);
            if (p is null) { reason = $"{name} is not a MIG profile of {gpuModel}"; return false; }
            if (!p.Starts.Contains(start)) { reason = $"{name} cannot start at slot {start} on {gpuModel}"; return false; }
            for (var s = start; s < start + p.MemorySlots; s++)
            {
                if (used[s]) { reason = $"{name}@{start} overlaps another instance"; return false; }
                used[s] = true;
            }
            compute += p.Compute;
        }
        if (compute > MigCatalog.ComputeSlices) { reason = $"{compute} compute slices exceed {MigCatalog.ComputeSlices}"; return false; }
        return true;
    }

    /// <summary>
    /// A valid layout holding every requested profile on one GPU, or null with a reason. Depth-first over the
    /// allowed start slots, largest instances first (they have the fewest legal positions).
    /// </summary>
    public static IReadOnlyList<(string Profile, int Start)>? Partition(string gpuModel, IReadOnlyList<string> profiles, out string? reason)
    {
        reason = null;
        if (!MigCatalog.Supports(gpuModel)) { reason = $"{gpuModel} does not support MIG"; return null; }
        var resolved = new List<MigProfile>();
        foreach (var name in profiles)
        {
            var p = MigCatalog.Find(gpuModel, name);
            if (p is null) { reason = $"{name} is not a MIG profile of {gpuModel} (valid: {string.Join(", ", MigCatalog.Profiles(gpuModel).Select(x => x.Name))})"; return null; }
            resolved.Add(p);
        }
        if (resolved.Sum(p => p.Compute) > MigCatalog.ComputeSlices) { reason = $"requests need {resolved.Sum(p => p.Compute)} compute slices, a GPU has {MigCatalog.ComputeSlices}"; return null; }
        if (resolved.Sum(p => p.MemorySlots) > MigCatalog.MemorySlots) { reason = $"requests need {resolved.Sum(p => p.MemorySlots)} memory slots, a GPU has {MigCatalog.MemorySlots}"; return null; }

        var order = resolved.OrderByDescending(p => p.MemorySlots).ThenByDescending(p => p.Compute).ToList();
        var chosen = new List<(string, int)>();
        var used = new bool[MigCatalog.MemorySlots];
        if (Search(0)) return chosen;
        reason = $"no legal placement of {string.Join(" + ", profiles)} on one {gpuModel}";
        return null;

        bool Search(int i)
        {
            if (i == order.Count) return true;
            var p = order[i];
            foreach (var start in p.Starts)
            {
                if (start + p.MemorySlots > MigCatalog.MemorySlots) continue;
                var free = true;
                for (var s = start; s < start + p.MemorySlots && free; s++) free = !used[s];
                if (!free) continue;
                for (var s = start; s < start + p.MemorySlots; s++) used[s] = true;
                chosen.Add((p.Name, start));
                if (Search(i + 1)) return true;
                chosen.RemoveAt(chosen.Count - 1);
                for (var s = start; s < start + p.MemorySlots; s++) used[s] = false;
            }
            return false;
        }
    }
}
