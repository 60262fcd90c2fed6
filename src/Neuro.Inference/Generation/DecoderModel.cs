using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Neuro.Inference.Runtime;

namespace Neuro.Inference.Generation;

/// <summary>
/// A decoder-only LM in the Hugging Face / optimum "with past" layout, loaded into one ONNX Runtime session.
/// Layer count, head count, head size, vocabulary and the past/present tensor names are read from the model's
/// input/output metadata; the context length from its <c>max_position_embeddings</c> metadata property.
/// Thread-safe: concurrent <see cref="Run"/> calls are allowed (ORT sessions are).
/// </summary>
public sealed partial class DecoderModel : IDisposable
{
    private static long _nextId;
    private readonly InferenceSession _session;
    private readonly string[] _pastNames;    // k0, v0, k1, v1, ...
    private readonly string[] _presentNames; // same order

    public long Id { get; } = Interlocked.Increment(ref _nextId);
    public string Name { get; }
    public int Layers { get; }
    public int Heads { get; }
    public int HeadDim { get; }
    public int VocabSize { get; }
    public int MaxContext { get; }
    public int EosTokenId { get; }
    public bool HasPositionIds { get; }
    public long ModelBytes { get; }
    public ExecutionProviderKind Provider { get; }
    public InferenceSession Session => _session;

    /// <summary>Bytes of KV cache one token occupies (keys + values, all layers).</summary>
    public long KvBytesPerToken => 2L * Layers * Heads * HeadDim * sizeof(float);

    [GeneratedRegex(@"^past_key_values\.(\d+)\.(key|value)$")] private static partial Regex PastRegex();

    private DecoderModel(string name, InferenceSession session, long modelBytes, ExecutionProviderKind provider, InferenceOptions options)
    {
        Name = name;
        _session = session;
        ModelBytes = modelBytes;
        Provider = provider;
        var inputs = session.InputMetadata;
        foreach (var required in new[] { "input_ids", "attention_mask" })
            if (!inputs.ContainsKey(required)) throw new InvalidDataException($"model '{name}' has no '{required}' input; expected the HF decoder-with-past layout");
        HasPositionIds = inputs.ContainsKey("position_ids");
        var layers = inputs.Keys.Select(k => PastRegex().Match(k)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value)).Distinct().Order().ToArray();
        if (layers.Length == 0 || layers[^1] != layers.Length - 1)
            throw new InvalidDataException($"model '{name}' has no contiguous past_key_values.{{i}}.key|value inputs");
        Layers = layers.Length;
        _pastNames = new string[2 * Layers];
        _presentNames = new string[2 * Layers];
        var outputs = session.OutputMetadata;
        for (int i = 0; i < Layers; i++)
        {
            _pastNames[2 * i] = $"past_key_values.{i}.key";
            _pastNames[2 * i + 1] = $"past_key_values.{i}.value";
            _presentNames[2 * i] = PresentName(outputs, i, "key", name);
            _presentNames[2 * i + 1] = PresentName(outputs, i, "value", name);
        }
        var kdims = inputs[_pastNames[0]].Dimensions;
        if (kdims.Length != 4 || kdims[1] <= 0 || kdims[3] <= 0)
            throw new InvalidDataException($"model '{name}': past key shape [{string.Join(',', kdims)}] is not [batch, heads, past, head_dim]");
        if (inputs[_pastNames[0]].ElementDataType != TensorElementType.Float)
            throw new InvalidDataException($"model '{name}': only float32 KV caches are supported, got {inputs[_pastNames[0]].ElementDataType}");
        Heads = kdims[1];
        HeadDim = kdims[3];
        if (!outputs.TryGetValue("logits", out var logitsMeta)) throw new InvalidDataException($"model '{name}' has no 'logits' output");
        var meta = session.ModelMetadata.CustomMetadataMap;
        VocabSize = logitsMeta.Dimensions is [_, _, > 0 and var v] ? v
            : meta.TryGetValue("vocab_size", out var vs) ? int.Parse(vs)
            : throw new InvalidDataException($"model '{name}': vocabulary size unknown (logits last dim is symbolic, no vocab_size metadata)");
        MaxContext = meta.TryGetValue("max_position_embeddings", out var mp) && int.TryParse(mp, out var mpi) ? mpi : options.DefaultMaxContext;
        EosTokenId = meta.TryGetValue("eos_token_id", out var eos) && int.TryParse(eos, out var e) ? e : -1;
    }

    private static string PresentName(IReadOnlyDictionary<string, NodeMetadata> outputs, int i, string kind, string model)
    {
        foreach (var candidate in new[] { $"present.{i}.{kind}", $"present_key_values.{i}.{kind}" })
            if (outputs.ContainsKey(candidate)) return candidate;
        throw new InvalidDataException($"model '{model}' has no present.{i}.{kind} output");
    }

    public static DecoderModel Load(string path, InferenceOptions? options = null, ILogger? logger = null, string? name = null)
    {
        options ??= new InferenceOptions();
        using var so = OrtSessionFactory.CreateSessionOptions(options, logger, out var used);
        var session = new InferenceSession(path, so);
        return Init(new DecoderModel(name ?? Path.GetFileNameWithoutExtension(path), session, new FileInfo(path).Length, used, options), options);
    }

    public static DecoderModel Load(byte[] model, InferenceOptions? options = null, ILogger? logger = null, string name = "model")
    {
        options ??= new InferenceOptions();
        using var so = OrtSessionFactory.CreateSessionOptions(options, logger, out var used);
        var session = new InferenceSession(model, so);
        return Init(new DecoderModel(name, session, model.Length, used, options), options);
    }

    private static DecoderModel Init(DecoderModel m, InferenceOptions options)
    {
        if (options.WarmUp) m.WarmUp();
        return m;
    }

    /// <summary>One prefill of 4 tokens and one decode step on a scratch sequence.</summary>
    public void WarmUp()
    {
        using var state = new SequenceState();
        var n = Math.Min(4, MaxContext - 1);
        state.Tokens.AddRange(Enumerable.Range(0, n).Select(i => i % VocabSize));
        using (var r = RunSingle(state, null)) { }
        state.Tokens.Add(0);
        using (var r = RunSingle(state, null)) { }
    }

    /// <summary>Feeds the tokens of <paramref name="state"/> it has not cached yet and returns their logits, row-major [n, vocab].</summary>
    public float[] Forward(SequenceState state)
    {
        using var logits = RunSingle(state, null);
        return logits.GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>Full recompute without any cache: logits [tokens.Count, vocab] of a fresh sequence.</summary>
    public float[] ForwardFull(IReadOnlyList<int> tokens)
    {
        using var state = new SequenceState(tokens);
        return Forward(state);
    }

    /// <summary>Feeds the uncached tokens of <paramref name="state"/> (its KV cache becomes the presents); returns logits [1, n, vocab].</summary>
    internal OrtValue RunSingle(SequenceState state, RunOptions? runOptions)
    {
        state.EnsureModel(this);
        int past = state.CachedLength, n = state.Tokens.Count - past;
        if (n <= 0) throw new InvalidOperationException("no uncached tokens to feed");
        var ids = new long[n];
        var pos = new long[n];
        var mask = new long[past + n];
        for (int i = 0; i < n; i++) { ids[i] = state.Tokens[past + i]; pos[i] = past + i; }
        Array.Fill(mask, 1L);
        var pastValues = state.Kv ?? EmptyPast(1);
        var (logits, presents) = Run(1, n, ids, pos, mask, pastValues, runOptions);
        state.ReplaceKv(presents, past + n);
        return logits;
    }

    private OrtValue[]? _emptyPast1;
    private readonly Lock _emptyLock = new();

    /// <summary>Zero-length past tensors [1, heads, 0, head_dim] for a sequence with nothing cached (shared, read-only, disposed with the model).</summary>
    internal OrtValue[] EmptyPast(int batch)
    {
        if (batch != 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "only batch 1 starts from an empty cache");
        if (_emptyPast1 is not null) return _emptyPast1;
        var arr = new OrtValue[2 * Layers];
        for (int i = 0; i < arr.Length; i++) arr[i] = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, Heads, 0, HeadDim]);
        lock (_emptyLock)
        {
            if (_emptyPast1 is null) _emptyPast1 = arr;
            else foreach (var v in arr) v.Dispose();
            return _emptyPast1;
        }
    }

    /// <summary>
    /// One forward pass. ids/pos are [batch, seq], mask is [batch, total], past is 2·layers tensors [batch, heads, total - seq, head_dim].
    /// Inputs are bound from managed memory and outputs to ORT's CPU arena with an <see cref="OrtIoBinding"/>; the caller owns the returned values.
    /// </summary>
    internal (OrtValue Logits, OrtValue[] Presents) Run(int batch, int seq, long[] ids, long[] pos, long[] mask, IReadOnlyList<OrtValue> past, RunOptions? runOptions)
    {
        int total = mask.Length / batch;
        using var idsV = OrtValue.CreateTensorValueFromMemory(ids, [batch, seq]);
        using var maskV = OrtValue.CreateTensorValueFromMemory(mask, [batch, total]);
        using var posV = OrtValue.CreateTensorValueFromMemory(pos, [batch, seq]);
        using var binding = _session.CreateIoBinding();
        binding.BindInput("input_ids", idsV);
        binding.BindInput("attention_mask", maskV);
        if (HasPositionIds) binding.BindInput("position_ids", posV);
        for (int i = 0; i < _pastNames.Length; i++) binding.BindInput(_pastNames[i], past[i]);
        binding.BindOutputToDevice("logits", OrtMemoryInfo.DefaultInstance);
        foreach (var p in _presentNames) binding.BindOutputToDevice(p, OrtMemoryInfo.DefaultInstance);
        if (runOptions is null)
        {
            using var ro = new RunOptions();
            _session.RunWithBinding(ro, binding);
        }
        else _session.RunWithBinding(runOptions, binding);
        var names = binding.GetOutputNames();
        var values = binding.GetOutputValues();
        OrtValue? logits = null;
        var presents = new OrtValue[_presentNames.Length];
        for (int i = 0; i < names.Length; i++)
        {
            if (names[i] == "logits") { logits = values[i]; continue; }
            presents[Array.IndexOf(_presentNames, names[i])] = values[i];
        }
        return (logits ?? throw new InvalidOperationException("no logits output"), presents);
    }

    public void Dispose()
    {
        _session.Dispose();
        if (_emptyPast1 is not null) foreach (var v in _emptyPast1) v.Dispose();
    }
}
