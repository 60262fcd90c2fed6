using Neuro.Abstractions;
using Neuro.Core.Devices;
using Neuro.Inference.Models;

namespace Neuro.Grains;

public sealed class ModelRegistryState
{
    public ModelSpec? Spec { get; set; }
    public List<string> Silos { get; set; } = [];
    public DateTimeOffset RegisteredAt { get; set; }
}

/// <summary>The cluster-wide record of one model loaded through a model cache (key: the model name). Default placement:
/// it holds no memory of its own, only the spec and which silos loaded it. A silo's <see cref="Inference.InferenceHost"/>
/// asks it for a name it does not know, then loads its own copy through its own model cache grain (fetch, sha256, budget).</summary>
public sealed class ModelRegistryGrain(
    [PersistentState("model-registry", NeuroStorage.Name)] IPersistentState<ModelRegistryState> state,
    NeuroClock clock) : Grain, IModelRegistryGrain
{
    private ModelRegistryState S => state.State;

    private string Name => this.GetPrimaryKeyString();

    public Task<ModelRegistration?> GetAsync() => Task.FromResult(View());

    public async Task<ModelRegistration> RegisterAsync(ModelSpec spec, string silo)
    {
        if (spec.Name != Name)
        {
            throw NeuroRequestException.Invalid("name", $"spec names model '{spec.Name}' but this registry entry is for '{Name}'");
        }
        var file = ModelFiles.Pick(spec);
        if (S.Spec is { } current)
        {
            // Compared by the file a silo would load (uri, version, variant, sha256), not by the spec record: its
            // variant list compares by reference after a grain call.
            if (ModelFiles.Pick(current) is var registered && registered != file)
            {
                throw ModelFiles.Conflict(registered);
            }
            if (!S.Silos.Contains(silo))
            {
                S.Silos.Add(silo);
                await state.WriteOrUndoAsync(() => S.Silos.Remove(silo));
            }
            return View()!;
        }
        (S.Spec, S.Silos, S.RegisteredAt) = (spec, [silo], clock.Now);
        await state.WriteOrUndoAsync(() => state.State = new ModelRegistryState());
        return View()!;
    }

    public async Task<ModelRegistration?> UnregisterAsync()
    {
        if (View() is not { } registration)
        {
            return null;
        }
        var caches = S.Silos.Select(silo => (Silo: silo, Cache: GrainFactory.GetGrain<IModelCacheGrain>(ResourceKey.For(silo, Name)))).ToList();
        // All or nothing: a pinned copy anywhere refuses the whole unregistration before anything changes.
        foreach (var (silo, cache) in caches)
        {
            ModelCacheStatus status;
            try
            {
                status = await cache.GetStatusAsync();
            }
            catch (NeuroRequestException e) when (e.Kind == NeuroErrorKind.Unavailable)
            {
                continue; // that silo left the cluster: its copy went with its memory
            }
            if (ModelPinning.IsPinned(status.PinnedUntil, clock.Now))
            {
                throw new NeuroRequestException(NeuroErrorKind.Conflict, "model", $"model '{Name}' is pinned on silo '{silo}' until {status.PinnedUntil:O}");
            }
        }
        await state.ClearStateAsync();
        state.State = new ModelRegistryState();
        // Not awaited: a cache grain that is loading this model waits on RegisterAsync here, so waiting for its eviction
        // would deadlock the two. The name is already gone, so no silo resolves it again; each copy is dropped when its
        // cache grain gets to the call.
        foreach (var (_, cache) in caches)
        {
            cache.EvictAsync().Ignore();
        }
        return registration;
    }

    private ModelRegistration? View() => S.Spec is { } spec ? new ModelRegistration(spec, S.Silos.ToArray(), S.RegisteredAt) : null;
}

/// <summary>Which file of a <see cref="ModelSpec"/> a silo loads: one rule for the model cache and the registry.</summary>
internal static class ModelFiles
{
    /// <summary>The variant of the spec's quantization profile when variants are listed, else the spec itself.</summary>
    public static ModelFileSpec Pick(ModelSpec spec)
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

    public static NeuroRequestException Conflict(ModelFileSpec registered) => new(NeuroErrorKind.Conflict, "sha256",
        $"model '{registered.Name}' is registered with another file ({registered.Uri}, version {registered.Version}, sha256 {registered.Sha256}); " +
        "unregister it before registering a different one");

    private static string Required(string? sha, string field) =>
        sha is { Length: 64 } && sha.All(Uri.IsHexDigit) ? sha : throw NeuroRequestException.Invalid(field, "a 64-hex-digit sha256 is required: weights are verified before they load");
}
