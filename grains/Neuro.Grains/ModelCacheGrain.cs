using Neuro.Abstractions;
using Neuro.Core.Devices;

namespace Neuro.Grains;

public sealed class ModelCacheEntryState
{
    public ModelSpec? Spec { get; set; }
    public Abstractions.ModelCacheState State { get; set; }
    public DateTimeOffset? PinnedUntil { get; set; }
    public DateTimeOffset? LastUsedAt { get; set; }
}

/// <summary>One model on one silo. This issue gives it its state and contract; loading, verification and the
/// per-silo memory budget arrive with the inference runtime.</summary>
[ResourceOwnerPlacement]
public sealed class ModelCacheGrain(
    [PersistentState("model-cache", NeuroStorage.Name)] IPersistentState<ModelCacheEntryState> state,
    NeuroClock clock,
    ILocalSiloDetails silo) : Grain, IModelCacheGrain
{
    private ModelCacheEntryState S => state.State;

    public Task<ModelCacheStatus> GetStatusAsync() => Task.FromResult(Status());

    public async Task<ModelCacheStatus> EnsureLoadedAsync(ModelSpec spec)
    {
        var (_, model) = ResourceKey.Parse(this.GetPrimaryKeyString());
        if (spec.Name != model)
        {
            throw NeuroRequestException.Invalid("name", $"spec names model '{spec.Name}' but this cache entry is for '{model}'");
        }
        if (spec.SizeBytes <= 0)
        {
            throw NeuroRequestException.Invalid("size_bytes", "must be positive");
        }
        if (string.IsNullOrWhiteSpace(spec.WeightsUri))
        {
            throw NeuroRequestException.Invalid("weights_uri", "must not be empty");
        }
        var before = (S.Spec, S.State, S.LastUsedAt);
        S.Spec = spec;
        S.State = Abstractions.ModelCacheState.Loaded;
        S.LastUsedAt = clock.Now;
        await state.WriteOrUndoAsync(() => (S.Spec, S.State, S.LastUsedAt) = before);
        return Status();
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
        return Status();
    }

    public async Task<ModelCacheStatus> EvictAsync()
    {
        if (ModelPinning.IsPinned(S.PinnedUntil, clock.Now))
        {
            throw new NeuroRequestException(NeuroErrorKind.Conflict, "model", $"model is pinned until {S.PinnedUntil:O}");
        }
        await state.ClearStateAsync();
        state.State = new ModelCacheEntryState();
        return Status();
    }

    private ModelCacheStatus Status()
    {
        var (owner, model) = ResourceKey.Parse(this.GetPrimaryKeyString());
        return new(owner, model, S.State, S.Spec, S.State == Abstractions.ModelCacheState.Loaded ? S.Spec?.SizeBytes ?? 0 : 0, S.PinnedUntil, S.LastUsedAt, silo.Name);
    }
}
