namespace Neuro.Abstractions;

/// <summary>The cluster's GPU placer, keyed "default". Holds the node inventory and every committed placement, asks the
/// placement policy where a request goes, and commits it to the <see cref="IGpuDeviceGrain"/>s all-or-nothing:
/// if any device refuses its part (a gang member included), the parts already made are released.</summary>
[Alias("neuro.gpu-scheduler")]
public interface IGpuSchedulerGrain : IGrainWithStringKey
{
    /// <summary>Adds or replaces a node's inventory (each silo registers its own at start).</summary>
    [Alias("register-node")]
    Task RegisterNodeAsync(GpuNodeSpec node);

    [Alias("nodes")]
    Task<IReadOnlyList<GpuNodeSpec>> GetNodesAsync();

    [Alias("schedule")]
    Task<GpuScheduleResult> ScheduleAsync(GpuRequest request);

    /// <summary>Releases every device allocation of a request (all members of a gang). False when it holds none.</summary>
    [Alias("release")]
    Task<bool> ReleaseAsync(string requestId);
}

[GenerateSerializer, Immutable, Alias("neuro.gpu-node-spec")]
public sealed record GpuNodeSpec(
    [property: Id(0)] string Name,
    [property: Id(1)] string Silo,
    [property: Id(2)] long CpuMilli,
    [property: Id(3)] long MemoryMiB,
    [property: Id(4)] IReadOnlyList<GpuDeviceInfo> Gpus,
    [property: Id(5)] int NumaNodes = 1,
    [property: Id(6)] bool Spot = false,
    [property: Id(7)] double HourlyPricePerGpu = 0)
{
    /// <summary>The device grain key of GPU <paramref name="index"/> on this node.</summary>
    public string DeviceKey(int index) => ResourceKey.For(Silo, $"{Name}/gpu{index}");
}

[GenerateSerializer, Immutable, Alias("neuro.gpu-request")]
public sealed record GpuRequest(
    [property: Id(0)] string Id,
    [property: Id(1)] long CpuMilli,
    [property: Id(2)] long MemoryMiB,
    [property: Id(3)] int GpuCount,
    [property: Id(4)] int GpuMilli,
    [property: Id(5)] IReadOnlyList<string>? GpuTypes = null,
    [property: Id(6)] int Priority = 0,
    [property: Id(7)] string? Tenant = null,
    [property: Id(8)] int GangCount = 0,
    [property: Id(9)] bool GangSameNvLinkIsland = false,
    [property: Id(10)] bool AllowSpot = false);

[GenerateSerializer, Immutable, Alias("neuro.gpu-assignment")]
public sealed record GpuAssignment(
    [property: Id(0)] string AllocationId,
    [property: Id(1)] string Node,
    [property: Id(2)] string DeviceKey,
    [property: Id(3)] int MilliGpu);

[GenerateSerializer, Immutable, Alias("neuro.gpu-schedule-result")]
public sealed record GpuScheduleResult(
    [property: Id(0)] bool Granted,
    [property: Id(1)] string? Reason,
    [property: Id(2)] IReadOnlyList<GpuAssignment> Assignments,
    [property: Id(3)] IReadOnlyList<string> Evicted);
