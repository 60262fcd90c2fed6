using System.Runtime.CompilerServices;
using Microsoft.ML.OnnxRuntime;
using Neuro.Inference.Tokenization;

namespace Neuro.Inference.Generation;

/// <summary>Streams tokens for one conversation: feeds the uncached tokens, then decodes one token per step with the KV cache.</summary>
public interface ITokenGenerator
{
    /// <summary>
    /// Appends <paramref name="newTokens"/> to <paramref name="state"/>, prefills every token the state has not cached yet
    /// and streams generated tokens. Generated tokens are appended to the state, so the next turn continues the conversation.
    /// Cancellation stops within one decode step (an in-flight forward pass is also asked to terminate).
    /// </summary>
    IAsyncEnumerable<GeneratedToken> GenerateAsync(SequenceState state, IReadOnlyList<int> newTokens, GenerationOptions options, CancellationToken cancellationToken = default);
}

/// <summary>Unbatched generation: each call runs its own forward passes (batch size 1).</summary>
public sealed class DecoderGenerator(DecoderModel model, ITextTokenizer? tokenizer = null) : ITokenGenerator
{
    public DecoderModel Model => model;

    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(SequenceState state, IReadOnlyList<int> newTokens, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var run = GenerationRun.Start(model, state, newTokens, options, tokenizer);
        using var runOptions = new RunOptions();
        using var reg = cancellationToken.Register(() => runOptions.Terminate = true);
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var emitted = await Task.Run(() => Step(run, runOptions, cancellationToken), cancellationToken).ConfigureAwait(false);
                if (emitted is { } t) yield return t;
                if (run.Done) break;
            }
        }
        finally
        {
            run.End();
        }
    }

    private GeneratedToken? Step(GenerationRun run, RunOptions runOptions, CancellationToken ct)
    {
        OrtValue logits;
        try
        {
            logits = model.RunSingle(run.State, runOptions);
        }
        catch (OnnxRuntimeException) when (ct.IsCancellationRequested)
        {
            throw new OperationCanceledException("generation cancelled during a forward pass", ct);
        }
        using (logits)
        {
            var all = logits.GetTensorDataAsSpan<float>();
            var last = all[^model.VocabSize..];
            return run.Accept(last, out var token) ? token : null;
        }
    }
}
