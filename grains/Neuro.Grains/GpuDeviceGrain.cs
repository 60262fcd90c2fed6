using Neuro.Abstractions;
using Neuro.Core.Devices;

namespace Neuro.Grains;

public sealed class GpuDeviceState
{
    public GpuDeviceInfo? Info { get; set; }
    public List<GpuAllocation> Allocations { get; set; } = [];
}

/// <summary>One GPU on the node of the silo named in its key. Allocations persist, so a restarted silo knows what its
/// GPU already carries. Placement policy (which GPU) lives in the scheduler; this grain only commits and checks.</summary>
[ResourceOwnerPlacement]
public sealed class GpuDeviceGrain(
    [PersistentState("gpu-device", NeuroStorage.Name)] IPersistentState<GpuDeviceState> state,
    ILocalSiloDetails silo) : Grain, IGpuDeviceGrain
{
    private GpuDeviceState S => state.State;

    public async Task<GpuDeviceStatus> RegisterAsync(GpuDeviceInfo info)
    {
        if (info.MemoryMiB <= 0)
        {
            throw NeuroRequestException.Invalid("memory_mib", "must be positive");
        }
        if (string.IsNullOrWhiteSpace(info.Model))
        {
            throw NeuroRequestException.Invalid("model", "must not be empty");
        }
        var used = S.Allocations.Sum(a => a.MemoryMiB);
        if (used > info.MemoryMiB)
        {
            throw new NeuroRequestException(NeuroErrorKind.Conflict, "memory_mib", $"existing allocations hold {used} MiB, more than the {info.MemoryMiB} MiB reported");
        }
        var before = S.Info;
        S.Info = info;
        await state.WriteOrUndoAsync(() => S.Info = before);
        return Status();
    }

    public Task<GpuDeviceStatus?> GetStatusAsync() => Task.FromResult(S.Info is null ? null : Status());

    public async Task<GpuAllocationResult> AllocateAsync(GpuAllocation request)
    {
        var info = S.Info ?? throw NeuroRequestException.NotFound("key", $"GPU '{this.GetPrimaryKeyString()}' is not registered");
        if (string.IsNullOrWhiteSpace(request.AllocationId))
        {
            throw NeuroRequestException.Invalid("allocation_id", "must not be empty");
        }
        if (S.Allocations.Any(a => a.AllocationId == request.AllocationId))
        {
            return new(true, null, Status()); // retried commit: already recorded
        }
        var refusal = GpuCapacity.CheckFits(
            request.MilliGpu, request.MemoryMiB, request.MigSlice, info.MemoryMiB, info.MigSlices ?? [],
            S.Allocations.Select(a => (a.MilliGpu, a.MemoryMiB, a.MigSlice)));
        if (refusal is { Conflict: false })
        {
            throw NeuroRequestException.Invalid(refusal.Field, refusal.Message);
        }
        if (refusal is not null)
        {
            return new(false, refusal.Message, Status());
        }
        S.Allocations.Add(request);
        await state.WriteOrUndoAsync(() => S.Allocations.RemoveAt(S.Allocations.Count - 1));
        return new(true, null, Status());
    }

    public async Task<bool> ReleaseAsync(string allocationId)
    {
        var index = S.Allocations.FindIndex(a => a.AllocationId == allocationId);
        if (index < 0)
        {
            return false;
        }
        var removed = S.Allocations[index];
        S.Allocations.RemoveAt(index);
        await state.WriteOrUndoAsync(() => S.Allocations.Insert(index, removed));
        return true;
    }

    private GpuDeviceStatus Status()
    {
        var info = S.Info!;
        return new(
            ResourceKey.Parse(this.GetPrimaryKeyString()).Silo, info, S.Allocations.ToArray(),
            GpuCapacity.WholeGpuMilli - S.Allocations.Sum(a => a.MilliGpu),
            info.MemoryMiB - S.Allocations.Sum(a => a.MemoryMiB), silo.Name);
    }
}
