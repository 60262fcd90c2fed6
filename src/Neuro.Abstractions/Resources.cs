namespace Neuro.Abstractions;

/// <summary>Grain keys for resources that belong to one silo: "{siloName}/{resource}". The placement strategy reads the
/// silo name from the key and activates the grain on that silo only (see docs/architecture.md).</summary>
public static class ResourceKey
{
    public static string For(string siloName, string resource) => $"{siloName}/{resource}";

    public static (string Silo, string Resource) Parse(string key)
    {
        var slash = key.IndexOf('/');
        if (slash <= 0 || slash == key.Length - 1)
        {
            throw NeuroRequestException.Invalid("key", $"resource key '{key}' must look like '{{siloName}}/{{resource}}'");
        }
        return (key[..slash], key[(slash + 1)..]);
    }
}

/// <summary>One model on one silo: what is loaded, pinned, and how much memory it holds. Key: "{siloName}/{modelName}".</summary>
[Alias("neuro.model-cache")]
public interface IModelCacheGrain : IGrainWithStringKey
{
    /// <summary>Interleaves: a read, answered even while a load is in progress (the model registry asks it for pins
    /// while this grain may itself be waiting on the registry).</summary>
    [Alias("status"), Orleans.Concurrency.AlwaysInterleave]
    Task<ModelCacheStatus> GetStatusAsync();

    /// <summary>Loads the model on this silo: fetched into the node-local cache (file://, https://, s3://), sha256 checked
    /// before load (a mismatch is refused and reported), within the silo's memory budget. A model loaded this way is
    /// registered cluster-wide (<see cref="IModelRegistryGrain"/>): sessions on any silo can then name it, and a silo that
    /// does not hold it yet loads its own copy the same way.</summary>
    [Alias("ensure")]
    Task<ModelCacheStatus> EnsureLoadedAsync(ModelSpec spec);

    [Alias("pin")]
    Task<ModelCacheStatus> PinAsync(TimeSpan duration);

    [Alias("evict")]
    Task<ModelCacheStatus> EvictAsync();
}

/// <summary>The cluster-wide record of a model loaded through a model cache: the spec its name stands for, so any silo can
/// fetch, verify and load its own copy on demand. Key: the model name. Written only after a silo verified and loaded
/// the spec; persisted (grain state), so it survives restarts of every silo.</summary>
[Alias("neuro.model-registry")]
public interface IModelRegistryGrain : IGrainWithStringKey
{
    /// <summary>Null when the name is not registered.</summary>
    [Alias("get"), Orleans.Concurrency.AlwaysInterleave]
    Task<ModelRegistration?> GetAsync();

    /// <summary>Records that <paramref name="silo"/> verified and loaded <paramref name="spec"/>. The same spec again
    /// only adds the silo; a different file under a registered name is a conflict (unregister it first), so two silos
    /// never serve different weights under one name.</summary>
    [Alias("register")]
    Task<ModelRegistration> RegisterAsync(ModelSpec spec, string silo);

    /// <summary>Removes the name cluster-wide and has every silo that loaded it drop its copy. Refused while any of
    /// those copies is pinned. Null when the name was not registered.</summary>
    [Alias("unregister")]
    Task<ModelRegistration?> UnregisterAsync();
}

[GenerateSerializer, Immutable, Alias("neuro.model-registration")]
public sealed record ModelRegistration(
    [property: Id(0)] ModelSpec Spec,
    [property: Id(1)] IReadOnlyList<string> Silos,
    [property: Id(2)] DateTimeOffset RegisteredAt);

[GenerateSerializer, Immutable, Alias("neuro.model-spec")]
public sealed record ModelSpec(
    [property: Id(0)] string Name,
    [property: Id(1)] string WeightsUri,
    [property: Id(2)] long SizeBytes,
    [property: Id(3)] string Quantization,
    [property: Id(4)] string Version,
    [property: Id(5)] string? Sha256 = null,
    [property: Id(6)] IReadOnlyList<ModelVariant>? Variants = null);

/// <summary>One file of a model in one quantization profile (e.g. fp32, int8). A spec with variants loads the one whose
/// profile is the spec's <c>Quantization</c>: the model class decides, the cache serves.</summary>
[GenerateSerializer, Immutable, Alias("neuro.model-variant")]
public sealed record ModelVariant(
    [property: Id(0)] string Quantization,
    [property: Id(1)] string WeightsUri,
    [property: Id(2)] string Sha256,
    [property: Id(3)] long SizeBytes);

public enum ModelCacheState { NotLoaded = 0, Loading = 1, Loaded = 2, Failed = 3 }

[GenerateSerializer, Immutable, Alias("neuro.model-cache-status")]
public sealed record ModelCacheStatus(
    [property: Id(0)] string Silo,
    [property: Id(1)] string Model,
    [property: Id(2)] ModelCacheState State,
    [property: Id(3)] ModelSpec? Spec,
    [property: Id(4)] long MemoryBytes,
    [property: Id(5)] DateTimeOffset? PinnedUntil,
    [property: Id(6)] DateTimeOffset? LastUsedAt,
    [property: Id(7)] string ActivationSilo,
    [property: Id(8)] string? Error = null);

/// <summary>One GPU on one silo's node: its inventory and the allocations against it. Key: "{siloName}/gpu{index}".</summary>
[Alias("neuro.gpu-device")]
public interface IGpuDeviceGrain : IGrainWithStringKey
{
    /// <summary>Registers or refreshes the device's inventory (from NVML on GPU nodes, else configuration).</summary>
    [Alias("register")]
    Task<GpuDeviceStatus> RegisterAsync(GpuDeviceInfo info);

    [Alias("status")]
    Task<GpuDeviceStatus?> GetStatusAsync();

    /// <summary>All-or-nothing: either the whole request is recorded, or nothing is and the reason says why.</summary>
    [Alias("allocate")]
    Task<GpuAllocationResult> AllocateAsync(GpuAllocation request);

    [Alias("release")]
    Task<bool> ReleaseAsync(string allocationId);
}

[GenerateSerializer, Immutable, Alias("neuro.gpu-device-info")]
public sealed record GpuDeviceInfo(
    [property: Id(0)] int Index,
    [property: Id(1)] string Model,
    [property: Id(2)] long MemoryMiB,
    [property: Id(3)] int NumaNode = 0,
    [property: Id(4)] string? NvLinkIsland = null,
    [property: Id(5)] bool MigCapable = false,
    [property: Id(6)] IReadOnlyList<string>? MigSlices = null);

[GenerateSerializer, Immutable, Alias("neuro.gpu-allocation")]
public sealed record GpuAllocation(
    [property: Id(0)] string AllocationId,
    [property: Id(1)] string Owner,
    [property: Id(2)] int MilliGpu,
    [property: Id(3)] long MemoryMiB,
    [property: Id(4)] int Priority = 0,
    [property: Id(5)] string? MigSlice = null);

[GenerateSerializer, Immutable, Alias("neuro.gpu-allocation-result")]
public sealed record GpuAllocationResult(
    [property: Id(0)] bool Granted,
    [property: Id(1)] string? Reason,
    [property: Id(2)] GpuDeviceStatus Status);

[GenerateSerializer, Immutable, Alias("neuro.gpu-device-status")]
public sealed record GpuDeviceStatus(
    [property: Id(0)] string Silo,
    [property: Id(1)] GpuDeviceInfo Info,
    [property: Id(2)] IReadOnlyList<GpuAllocation> Allocations,
    [property: Id(3)] int FreeMilliGpu,
    [property: Id(4)] long FreeMemoryMiB,
    [property: Id(5)] string ActivationSilo);
