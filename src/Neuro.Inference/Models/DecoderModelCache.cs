using Microsoft.Extensions.Logging;
using Neuro.Inference.Generation;
using Neuro.Inference.Runtime;

namespace Neuro.Inference.Models;

/// <summary>
/// Fetch (sha256-verified) + load + keep under a memory budget: what a silo's model-cache grain delegates to.
/// A model's resident size is counted as its file size times <see cref="MemoryOverheadFactor"/> (weights plus ORT's arena).
/// </summary>
public sealed class DecoderModelCache(ModelFileStore store, long budgetBytes, InferenceOptions? options = null, ILogger? logger = null, TimeProvider? time = null) : IDisposable
{
    public ModelMemoryCache<DecoderModel> Memory { get; } = new(budgetBytes, time);
    public double MemoryOverheadFactor { get; init; } = 1.1;

    public static string Key(ModelFileSpec spec) => $"{spec.Name}:{spec.Version}:{spec.Variant}";

    public async Task<ModelMemoryCache<DecoderModel>.Lease> AcquireAsync(ModelFileSpec spec, CancellationToken ct = default)
    {
        var key = Key(spec);
        if (Memory.Contains(key))
            return await Memory.AcquireAsync(key, 0, _ => throw new InvalidOperationException("unreachable"), ct).ConfigureAwait(false);
        var path = await store.EnsureLocalAsync(spec, ct).ConfigureAwait(false); // verified before load
        var size = (long)(new FileInfo(path).Length * MemoryOverheadFactor);
        return await Memory.AcquireAsync(key, size, _ => Task.Run(() => DecoderModel.Load(path, options, logger, key), ct), ct).ConfigureAwait(false);
    }

    public void Dispose() => Memory.Dispose();
}
