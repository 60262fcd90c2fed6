using Neuro.Abstractions;
using Neuro.Core.Devices;
using Neuro.Grains.Inference;
using Neuro.Inference.Models;

namespace Neuro.Grains;

public sealed class ModelCacheEntryState
{
    public ModelSpec? Spec { get; set; }
    public Abstractions.ModelCacheState State { get; set; }
    public DateTimeOffset? PinnedUntil { get; set; }
    public DateTimeOffset? LastUsedAt { get; set; }
    public long MemoryBytes { get; set; }
    public string? Error { get; set; }
}

/// <summary>One model on one silo (resource-owner placement: the activation lives where the memory is). A thin shell over
/// the silo's <see cref="InferenceHost"/>: it picks the variant, has the host fetch, verify and load it, and holds the
/// pin deadline; the host's cache enforces the memory budget (pinned models stay, others go least recently used).
/// A successful load registers the spec cluster-wide (<see cref="ModelRegistryGrain"/>); another silo's host that is
/// asked for the name loads its own copy through its own cache grain. Eviction frees this silo's copy only: the name
/// stays registered and is loaded again on demand; unregistering (the registry) removes it everywhere.</summary>
[ResourceOwnerPlacement]
public sealed class ModelCacheGrain(
    [PersistentState("model-cache", NeuroStorage.Name)] IPersistentState<ModelCacheEntryState> state,
    InferenceHost inference,
    NeuroClock clock,
    ILocalSiloDetails silo) : Grain, IModelCacheGrain
{
    private ModelCacheEntryState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A restarted silo lost its memory: what the record says is loaded must be loaded again before it is true.
        if (S.State == Abstractions.ModelCacheState.Loaded && S.Spec is { } spec && !inference.Knows(spec.Name))
        {
            (S.State, S.MemoryBytes) = (Abstractions.ModelCacheState.NotLoaded, 0);
            await state.WriteStateAsync(cancellationToken);
        }
    }

    public Task<ModelCacheStatus> GetStatusAsync() => Task.FromResult(Status());

    public async Task<ModelCacheStatus> EnsureLoadedAsync(ModelSpec spec)
    {
        var (_, model) = ResourceKey.Parse(this.GetPrimaryKeyString());
        if (spec.Name != model)
        {
            throw NeuroRequestException.Invalid("name", $"spec names model '{spec.Name}' but this cache entry is for '{model}'");
        }
        var file = ModelFiles.Pick(spec);
        // The name is cluster-wide: a file other than the registered one would have silos serve different weights under it.
        var registry = GrainFactory.GetGrain<IModelRegistryGrain>(model);
        if (await registry.GetAsync() is { } registered && ModelFiles.Pick(registered.Spec) is var registeredFile && registeredFile != file)
        {
            throw ModelFiles.Conflict(registeredFile);
        }
        var before = (S.Spec, S.State, S.LastUsedAt, S.MemoryBytes, S.Error);
        try
        {
            var bytes = await inference.LoadAsync(file, CancellationToken.None);
            try
            {
                // Only verified, loaded weights are registered: another silo resolving the name repeats exactly this load.
                await registry.RegisterAsync(spec, silo.Name);
            }
            catch
            {
                inference.Evict(spec.Name);
                throw;
            }
            (S.Spec, S.State, S.LastUsedAt, S.MemoryBytes, S.Error) = (spec, Abstractions.ModelCacheState.Loaded, clock.Now, bytes, null);
            await state.WriteOrUndoAsync(() => (S.Spec, S.State, S.LastUsedAt, S.MemoryBytes, S.Error) = before);
            return Status();
        }
        catch (Exception e) when (e is ModelIntegrityException or FileNotFoundException or DirectoryNotFoundException or HttpRequestException
                                      or ArgumentException or NotSupportedException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or ModelCacheFullException)
        {
            // Refused and reported: the record says why, nothing is served under the name.
            (S.Spec, S.State, S.MemoryBytes, S.Error) = (spec, Abstractions.ModelCacheState.Failed, 0, e.Message);
            await state.WriteStateAsync();
            throw e switch
            {
                ModelIntegrityException => NeuroRequestException.Invalid("sha256", e.Message),
                ModelCacheFullException => new NeuroRequestException(NeuroErrorKind.ResourceExhausted, "size_bytes", e.Message),
                _ => NeuroRequestException.Invalid("weights_uri", $"could not load the model: {e.Message}"),
            };
        }
    }

    public async Task<ModelCacheStatus> PinAsync(TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
        {
            throw NeuroRequestException.Invalid("duration", "must be positive");
        }
        if (S.State != Abstractions.ModelCacheState.Loaded)
        {
            throw new NeuroRequestException(NeuroErrorKind.Conflict, "model", "only a loaded model can be pinned");
        }
        var before = S.PinnedUntil;
        S.PinnedUntil = clock.Now + duration;
        await state.WriteOrUndoAsync(() => S.PinnedUntil = before);
        inference.Pin(S.Spec!.Name, duration); // the memory budget keeps it too
        return Status();
    }

    public async Task<ModelCacheStatus> EvictAsync()
    {
        if (ModelPinning.IsPinned(S.PinnedUntil, clock.Now))
        {
            throw new NeuroRequestException(NeuroErrorKind.Conflict, "model", $"model is pinned until {S.PinnedUntil:O}");
        }
        if (S.Spec is { } spec)
        {
            inference.Evict(spec.Name);
        }
        await state.ClearStateAsync();
        state.State = new ModelCacheEntryState();
        return Status();
    }

    private ModelCacheStatus Status()
    {
        var (owner, model) = ResourceKey.Parse(this.GetPrimaryKeyString());
        return new(owner, model, S.State, S.Spec, S.State == Abstractions.ModelCacheState.Loaded ? S.MemoryBytes : 0, S.PinnedUntil, S.LastUsedAt, silo.Name, S.Error);
    }
}
