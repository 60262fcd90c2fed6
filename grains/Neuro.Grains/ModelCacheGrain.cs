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
/// pin deadline; the host's cache enforces the memory budget (pinned models stay, others go least recently used).</summary>
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
        var file = Pick(spec);
        var before = (S.Spec, S.State, S.LastUsedAt, S.MemoryBytes, S.Error);
        try
        {
            var bytes = await inference.LoadAsync(file, CancellationToken.None);
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

    /// <summary>The file to load: the variant of the spec's quantization profile when variants are listed, else the spec itself.</summary>
    private static ModelFileSpec Pick(ModelSpec spec)
    {
        if (spec.Variants is { Count: > 0 } variants)
        {
            var v = variants.FirstOrDefault(x => x.Quantization == spec.Quantization)
                ?? throw NeuroRequestException.Invalid("quantization",
                    $"no '{spec.Quantization}' variant; this model has {string.Join(", ", variants.Select(x => x.Quantization))}");
            return new ModelFileSpec(spec.Name, spec.Version, v.WeightsUri, Required(v.Sha256, "variants.sha256"), v.Quantization);
        }
        if (string.IsNullOrWhiteSpace(spec.WeightsUri))
        {
            throw NeuroRequestException.Invalid("weights_uri", "must not be empty");
        }
        return new ModelFileSpec(spec.Name, spec.Version, spec.WeightsUri, Required(spec.Sha256, "sha256"), spec.Quantization);
    }

    private static string Required(string? sha, string field) =>
        sha is { Length: 64 } && sha.All(Uri.IsHexDigit) ? sha : throw NeuroRequestException.Invalid(field, "a 64-hex-digit sha256 is required: weights are verified before they load");

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
