using Neuro.Inference.Tokenization;

namespace Neuro.Inference.Generation;

/// <summary>Per-call bookkeeping shared by the unbatched and batched generators: validation, sampling, stop rules, streamed text.</summary>
internal sealed class GenerationRun
{
    private readonly DecoderModel _model;
    private readonly ITextTokenizer? _tokenizer;
    private readonly HashSet<int> _stopIds;
    private readonly Sampler _sampler;
    private readonly List<int> _generated = [];
    private string _emittedText = "";
    private bool _entered;

    public SequenceState State { get; }
    public GenerationOptions Options { get; }
    public FinishReason? Finish { get; private set; }
    public int PrefillTokens { get; }
    /// <summary>Token count of the state once the prompt was appended (generated tokens follow).</summary>
    public int PromptEnd { get; private init; }

    private GenerationRun(DecoderModel model, SequenceState state, GenerationOptions options, ITextTokenizer? tokenizer, int prefill)
    {
        _model = model;
        State = state;
        Options = options;
        _tokenizer = tokenizer;
        _sampler = new Sampler(options);
        _stopIds = [.. options.StopTokenIds];
        if (!options.IgnoreEos && model.EosTokenId >= 0) _stopIds.Add(model.EosTokenId);
        PrefillTokens = prefill;
    }

    /// <summary>Validates, then appends <paramref name="newTokens"/> to the state. Nothing changes when it throws.</summary>
    public static GenerationRun Start(DecoderModel model, SequenceState state, IReadOnlyList<int> newTokens, GenerationOptions options, ITextTokenizer? tokenizer)
    {
        ArgumentNullException.ThrowIfNull(state);
        options.Validate();
        if (options.StopSequences.Count > 0 && tokenizer is null) throw new ArgumentException("stop sequences need a tokenizer", nameof(options));
        foreach (var t in newTokens)
            if ((uint)t >= (uint)model.VocabSize) throw new ArgumentOutOfRangeException(nameof(newTokens), t, $"token id outside the vocabulary (0..{model.VocabSize - 1})");
        state.Enter();
        try
        {
            state.EnsureModel(model);
            int cached = state.CachedLength, pending = state.Tokens.Count - cached;
            if (state.Tokens.Count + newTokens.Count > model.MaxContext)
                throw new ContextLengthExceededException(model.Name, cached, pending + newTokens.Count, model.MaxContext);
            if (pending + newTokens.Count == 0) throw new ArgumentException("nothing to generate from: no new tokens and nothing uncached", nameof(newTokens));
            state.Tokens.AddRange(newTokens);
            state.LastFinishReason = null;
            state.LastPrefillTokens = pending + newTokens.Count;
            return new GenerationRun(model, state, options, tokenizer, pending + newTokens.Count) { _entered = true, PromptEnd = state.Tokens.Count };
        }
        catch
        {
            state.Exit();
            throw;
        }
    }

    /// <summary>Samples from the last position's logits. Returns the token to emit (if any) and whether generation is over.</summary>
    public bool Accept(ReadOnlySpan<float> lastLogits, out GeneratedToken emitted)
    {
        emitted = default;
        var token = _sampler.Sample(lastLogits);
        if (_stopIds.Contains(token))
        {
            Finish = token == _model.EosTokenId ? FinishReason.EndOfSequence : FinishReason.Stop;
            return false;
        }
        State.Tokens.Add(token);
        _generated.Add(token);
        var delta = "";
        if (_tokenizer is not null)
        {
            var text = _tokenizer.Decode(_generated);
            var stable = text.EndsWith('\uFFFD') ? text.TrimEnd('\uFFFD') : text; // hold back an incomplete UTF-8 sequence
            if (stable.StartsWith(_emittedText, StringComparison.Ordinal)) { delta = stable[_emittedText.Length..]; _emittedText = stable; }
            foreach (var stop in Options.StopSequences)
                if (text.Contains(stop, StringComparison.Ordinal)) { Finish = FinishReason.Stop; break; }
        }
        emitted = new GeneratedToken(token, _generated.Count - 1, delta);
        if (Finish is null && _generated.Count >= Options.MaxNewTokens) Finish = FinishReason.Length;
        if (Finish is null && State.Tokens.Count >= _model.MaxContext) Finish = FinishReason.ContextLength;
        return true;
    }

    public bool Done => Finish is not null;

    /// <summary>Releases the state for the next call and records how it ended.</summary>
    public void End()
    {
        if (!_entered) return;
        _entered = false;
        State.LastFinishReason = Finish ?? FinishReason.Cancelled;
        State.Exit();
    }
}
