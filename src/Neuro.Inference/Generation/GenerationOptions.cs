namespace Neuro.Inference.Generation;

/// <summary>Sampling and stopping controls for one generation call.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>0 = greedy (argmax, lowest id on ties).</summary>
    public float Temperature { get; init; }
    /// <summary>Keep only the k most likely tokens (0 = off).</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of tokens whose probability reaches p (1 = off).</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Seed of the per-call random generator; the same seed, prompt and options give the same tokens.</summary>
    public int Seed { get; init; }
    /// <summary>Token ids that end generation (not emitted). The model's eos_token_id is added unless <see cref="IgnoreEos"/>.</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    /// <summary>Strings that end generation once the decoded output contains them (needs a tokenizer); the token completing one is emitted.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];
    public bool IgnoreEos { get; init; }

    public static GenerationOptions Greedy(int maxNewTokens) => new() { MaxNewTokens = maxNewTokens };

    internal void Validate()
    {
        if (MaxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "must be at least 1");
        if (Temperature < 0 || float.IsNaN(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "must be >= 0");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "must be >= 0");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "must be in (0, 1]");
    }
}

/// <summary>One streamed token. <see cref="Text"/> is the new text it adds (empty without a tokenizer or mid UTF-8 sequence).</summary>
public readonly record struct GeneratedToken(int TokenId, int Index, string Text);

/// <summary>The prompt does not fit the model's context window.</summary>
public sealed class ContextLengthExceededException(string model, int cached, int added, int maxContext)
    : InvalidOperationException($"context length exceeded for model '{model}': {cached} cached + {added} new = {cached + added} tokens, but the model's context window is {maxContext} tokens (max_position_embeddings); shorten the conversation or start a new session")
{
    public int MaxContext { get; } = maxContext;
    public int RequestedTokens { get; } = cached + added;
}
