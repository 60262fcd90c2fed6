using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Neuro.Abstractions;
using Neuro.Inference.Generation;
using Neuro.Inference.Models;
using Neuro.Inference.Onnx;
using Neuro.Inference.Runtime;
using Neuro.Inference.Tokenization;

namespace Neuro.Grains.Inference;

/// <summary>Bound from <c>Neuro:Inference</c>.</summary>
public sealed class InferenceSettings
{
    public const string Section = "Neuro:Inference";

    /// <summary>Node-local directory models are fetched into (and verified) before they load.</summary>
    public string CacheDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "neuro-models");

    /// <summary>Memory loaded models may take on this silo.</summary>
    public long BudgetBytes { get; set; } = 2L << 30;

    public int MaxBatchSize { get; set; } = 16;

    /// <summary>Serves <see cref="InferenceHost.DevModel"/>: a tiny random-weight GPT-style model generated on first
    /// use, so the dev cluster streams tokens with nothing downloaded (its text is gibberish; its plumbing is real).</summary>
    public bool DevModel { get; set; } = true;

    public Dictionary<string, InferenceModel> Models { get; set; } = new(StringComparer.Ordinal);

    public ExecutionProviderKind ExecutionProvider { get; set; } = ExecutionProviderKind.Cpu;

    /// <summary>ORT intra-op threads (0 = one per core) and whether they spin; see <see cref="InferenceOptions"/>.</summary>
    public int IntraOpThreads { get; set; }

    public bool AllowSpinning { get; set; } = true;
}

/// <summary>A model sessions may name: where its ONNX file is and the sha256 it must have.</summary>
public sealed class InferenceModel
{
    public string Uri { get; set; } = "";
    public string Sha256 { get; set; } = "";
    public string Version { get; set; } = "1";
    public string Variant { get; set; } = "fp32";
}

/// <summary>
/// The silo's inference: loads models on demand through the sha256-verified file store and the memory-budget cache, and
/// keeps one batching generator per model, so every session grain on this silo that uses a model shares its decode steps.
/// A name that is neither configured nor loaded here is looked up in the model registry: a model some silo loaded
/// through its model cache is loaded here too, through this silo's own model cache grain.
/// </summary>
public sealed class InferenceHost(IOptions<InferenceSettings> settings, IGrainFactory grains, ILocalSiloDetails silo, ILogger<InferenceHost> log) : IDisposable
{
    public const string DevModel = "tiny-random";

    public sealed record Served(ITokenGenerator Generator, ITextTokenizer Tokenizer, DecoderModel Model);

    private readonly InferenceSettings _settings = settings.Value;
    private readonly ConcurrentDictionary<string, Lazy<Task<(Served Served, IDisposable Lease)>>> _served = new(StringComparer.Ordinal);
    private DecoderModelCache? _cache;
    private readonly Lock _gate = new();

    // Models the model-cache grains loaded on this silo, by name (the configured ones are in the settings).
    private readonly ConcurrentDictionary<string, ModelFileSpec> _registered = new(StringComparer.Ordinal);

    public bool Knows(string model) => _registered.ContainsKey(model) || _settings.Models.ContainsKey(model) || (_settings.DevModel && model == DevModel);

    /// <summary>Loads a model file (verified) and serves it under its name; a different file under the same name replaces it.</summary>
    public async Task<long> LoadAsync(ModelFileSpec spec, CancellationToken cancellationToken)
    {
        if (_registered.TryGetValue(spec.Name, out var current) && current != spec)
        {
            Evict(spec.Name);
        }
        _registered[spec.Name] = spec;
        try
        {
            await GetAsync(spec.Name, cancellationToken);
            return Cache().Memory.Entries.FirstOrDefault(e => e.Key == DecoderModelCache.Key(spec)).SizeBytes;
        }
        catch
        {
            _registered.TryRemove(spec.Name, out _);
            throw;
        }
    }

    public void Pin(string model, TimeSpan duration)
    {
        if (_registered.TryGetValue(model, out var spec))
        {
            Cache().Memory.Pin(DecoderModelCache.Key(spec), duration);
        }
    }

    /// <summary>Stops serving the model and frees its memory (sessions naming it load it again on demand only if it is
    /// configured; a model the cache grain loaded must be loaded again).</summary>
    public void Evict(string model)
    {
        if (_served.TryRemove(model, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
        {
            lazy.Value.Result.Lease.Dispose();
        }
        if (_registered.TryRemove(model, out var spec))
        {
            Cache().Memory.Unpin(DecoderModelCache.Key(spec));
            Cache().Memory.TryEvict(DecoderModelCache.Key(spec));
        }
    }

    public async Task<Served> GetAsync(string model, CancellationToken cancellationToken)
    {
        if (!Knows(model))
        {
            await LoadRegisteredAsync(model, cancellationToken);
        }
        var lazy = _served.GetOrAdd(model, name => new Lazy<Task<(Served, IDisposable)>>(() => LoadAsync(name)));
        try
        {
            return (await lazy.Value.WaitAsync(cancellationToken)).Served;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _served.TryRemove(model, out _); // a failed load is retried by the next caller, not cached
            throw;
        }
    }

    /// <summary>A name this silo does not know: the registry says which verified spec it stands for, and this silo's own
    /// model cache grain loads a node-local copy (fetch, sha256 check, memory budget) exactly as a direct load would, so
    /// its status, pin and eviction work here as on the silo that registered it.</summary>
    private async Task LoadRegisteredAsync(string model, CancellationToken cancellationToken)
    {
        var registration = await grains.GetGrain<IModelRegistryGrain>(model).GetAsync().WaitAsync(cancellationToken)
            ?? throw NeuroRequestException.NotFound("model",
                $"model '{model}' is not configured on this cluster (Neuro:Inference:Models) and not registered through a model cache");
        try
        {
            await grains.GetGrain<IModelCacheGrain>(ResourceKey.For(silo.Name, model)).EnsureLoadedAsync(registration.Spec).WaitAsync(cancellationToken);
        }
        catch (NeuroRequestException e)
        {
            // The caller named a registered model correctly; this silo cannot serve it (its copy failed verification,
            // the source is unreachable, the budget is full). The cache grain's status keeps the reason for operators.
            throw new NeuroRequestException(e.Kind == NeuroErrorKind.ResourceExhausted ? e.Kind : NeuroErrorKind.Unavailable, "model",
                $"model '{model}' is registered, but silo '{silo.Name}' could not load it: {e.Message}");
        }
    }

    private async Task<(Served, IDisposable)> LoadAsync(string name)
    {
        var spec = _registered.TryGetValue(name, out var registered) ? registered
            : name == DevModel && !_settings.Models.ContainsKey(name) ? await WriteDevModelAsync()
            : ToSpec(name, _settings.Models[name]);
        var lease = await Cache().AcquireAsync(spec);
        lease.Value.WarmUp();
        var tokenizer = new ByteTokenizer();
        var generator = new BatchingGenerator(lease.Value, new BatchingOptions { MaxBatchSize = _settings.MaxBatchSize }, tokenizer, log);
        log.LogInformation("model {Model} loaded from {Uri}", name, spec.Uri);
        return (new Served(generator, tokenizer, lease.Value), new Both(generator, lease));
    }

    private DecoderModelCache Cache()
    {
        lock (_gate)
        {
            if (_cache is null)
            {
                _cache = new DecoderModelCache(new ModelFileStore(_settings.CacheDirectory, logger: log), _settings.BudgetBytes,
                    new InferenceOptions { ExecutionProvider = _settings.ExecutionProvider, IntraOpThreads = _settings.IntraOpThreads, AllowSpinning = _settings.AllowSpinning }, log);
                _cache.Memory.Changed += e => Neuro.Core.Telemetry.NeuroMeters.ModelCacheChanged(e.Kind.ToString().ToLowerInvariant(), e.Key, e.SizeBytes, e.UsedBytes);
            }
            return _cache;
        }
    }

    private static ModelFileSpec ToSpec(string name, InferenceModel m) => new(name, m.Version, m.Uri, m.Sha256, m.Variant);

    /// <summary>Writes the dev model once and serves it like any other: by file URI and verified sha256.</summary>
    private async Task<ModelFileSpec> WriteDevModelAsync()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_settings.CacheDirectory, "generated")).FullName;
        var path = Path.Combine(dir, $"{DevModel}.onnx");
        // Byte vocabulary, 4 layers, 128 wide, 2048 positions, no end-of-sequence token: small enough to load in a blink,
        // long enough a context for multi-turn sessions and for a stream that can be cancelled half way.
        var spec = new DecoderModelSpec(260, 4, 4, 128, 2048, Seed: 1234, InitScale: 0.15f);
        await File.WriteAllBytesAsync(path, DecoderModelGenerator.Build(spec).ToByteArray());
        return new ModelFileSpec(DevModel, "1", new Uri(path).AbsoluteUri, await ModelFileStore.Sha256FileAsync(path));
    }

    public void Dispose()
    {
        foreach (var lazy in _served.Values.Where(l => l.IsValueCreated && l.Value.IsCompletedSuccessfully))
        {
            lazy.Value.Result.Lease.Dispose();
        }
        _cache?.Dispose();
    }

    private sealed class Both(IDisposable first, IDisposable second) : IDisposable
    {
        public void Dispose()
        {
            first.Dispose();
            second.Dispose();
        }
    }
}
