using Microsoft.ML.OnnxRuntime;

namespace Neuro.Inference.Generation;

public enum FinishReason { Length, Stop, EndOfSequence, ContextLength, Cancelled }

/// <summary>
/// One conversation's generation state: every token so far and the KV cache of the tokens already fed to the model.
/// A session grain keeps one of these between turns, so a follow-up turn prefills only the tokens not yet cached.
/// Not thread-safe: one generation at a time per state (a second concurrent one throws).
/// Dispose it (or <see cref="DropCache"/>) to free the KV memory.
/// </summary>
public sealed class SequenceState : IDisposable
{
    private int _busy;

    /// <summary>Conversation tokens: prompts and generated tokens, in order.</summary>
    public List<int> Tokens { get; } = [];

    /// <summary>Past key/value tensors [1, heads, CachedLength, head_dim], k0, v0, k1, v1, ...; null when nothing is cached.</summary>
    internal OrtValue[]? Kv { get; private set; }

    /// <summary>Tokens whose keys/values are in the cache (a prefix of <see cref="Tokens"/>).</summary>
    public int CachedLength { get; private set; }

    /// <summary>Id of the <see cref="DecoderModel"/> instance the cache belongs to (0 = none).</summary>
    public long ModelId { get; private set; }

    /// <summary>How many tokens the last generation call prefilled (fed in its first forward pass).</summary>
    public int LastPrefillTokens { get; internal set; }
    public FinishReason? LastFinishReason { get; internal set; }

    /// <summary>Bytes held by the KV cache.</summary>
    public long KvBytes { get; private set; }

    public SequenceState() { }
    public SequenceState(IEnumerable<int> tokens) => Tokens.AddRange(tokens);

    /// <summary>Forget the KV cache (tokens stay); the next call recomputes it, e.g. after a handoff to another silo.</summary>
    public void DropCache()
    {
        if (Kv is not null) foreach (var v in Kv) v.Dispose();
        Kv = null;
        CachedLength = 0;
        KvBytes = 0;
        ModelId = 0;
    }

    internal void EnsureModel(DecoderModel model)
    {
        if (ModelId != model.Id) { DropCache(); ModelId = model.Id; }
        if (CachedLength > Tokens.Count) throw new InvalidOperationException("cache is longer than the token list (tokens were removed)");
    }

    internal void ReplaceKv(OrtValue[] presents, int length)
    {
        var old = Kv;
        Kv = presents;
        CachedLength = length;
        KvBytes = 0;
        foreach (var v in presents) KvBytes += v.GetTensorSizeInBytes();
        if (old is not null) foreach (var v in old) v.Dispose();
    }

    /// <summary>Hands the cache over to a batch (the batch copies it out first); the batch gives it back with <see cref="ReplaceKv"/>.</summary>
    internal void DetachKvForBatch()
    {
        if (Kv is not null) foreach (var v in Kv) v.Dispose();
        Kv = null;
        CachedLength = 0;
        KvBytes = 0;
    }

    /// <summary>Keeps the first <paramref name="count"/> tokens (and their cached keys/values), e.g. to drop tokens a client never received.</summary>
    public void TruncateTo(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count >= Tokens.Count) return;
        Tokens.RemoveRange(count, Tokens.Count - count);
        if (CachedLength <= count) return;
        if (count == 0 || Kv is null) { var id = ModelId; DropCache(); ModelId = id; return; }
        var shape = Kv[0].GetTensorTypeAndShape().Shape; // [1, heads, len, head_dim]
        long heads = shape[1], len = shape[2], dh = shape[3];
        var cut = new OrtValue[Kv.Length];
        for (int t = 0; t < Kv.Length; t++)
        {
            cut[t] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, [1, heads, count, dh]);
            var src = Kv[t].GetTensorDataAsSpan<float>();
            var dst = cut[t].GetTensorMutableDataAsSpan<float>();
            for (int h = 0; h < heads; h++)
                src.Slice((int)(h * len * dh), (int)(count * dh)).CopyTo(dst.Slice((int)(h * count * dh), (int)(count * dh)));
        }
        ReplaceKv(cut, count);
    }

    internal void Enter()
    {
        if (Interlocked.Exchange(ref _busy, 1) == 1) throw new InvalidOperationException("a generation is already running on this sequence");
    }

    internal void Exit() => Volatile.Write(ref _busy, 0);

    public void Dispose() => DropCache();
}
