using Neuro.Inference.Generation;
using Neuro.Inference.Onnx;
using Neuro.Inference.Tokenization;

namespace Neuro.Inference.Tests;

public sealed class DecoderTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    /// <summary>Tolerance for cached vs recomputed logits: 1e-4 absolute (logits here are O(1); float32 reassociation differences are ~1e-6).</summary>
    private const float Tolerance = 1e-4f;

    [Fact]
    public void Metadata_is_read_from_the_model()
    {
        var m = fx.Model;
        Assert.Equal((fx.Spec.Layers, fx.Spec.Heads, fx.Spec.HeadDim, fx.Spec.VocabSize, fx.Spec.MaxPositions, fx.Spec.EosTokenId),
            (m.Layers, m.Heads, m.HeadDim, m.VocabSize, m.MaxContext, m.EosTokenId));
    }

    [Fact]
    public void Kv_cache_decode_gives_the_same_logits_as_full_recompute()
    {
        var tokens = Prompts.Make(40, seed: 7);
        var full = fx.Model.ForwardFull(tokens);

        using var state = new SequenceState(tokens.Take(9));
        var rows = new List<float[]> { fx.Model.Forward(state) }; // prefill 9 tokens at once
        for (int i = 9; i < tokens.Length; i++)
        {
            state.Tokens.Add(tokens[i]);
            rows.Add(fx.Model.Forward(state)); // one token with the cache
            Assert.Equal(i + 1, state.CachedLength);
        }
        var cached = rows.SelectMany(r => r).ToArray();
        Assert.Equal(full.Length, cached.Length);
        float maxDiff = 0;
        for (int i = 0; i < full.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(full[i] - cached[i]));
        Assert.True(maxDiff <= Tolerance, $"max |cached - full| = {maxDiff}");
        // and the logits are not degenerate (the comparison would be vacuous otherwise)
        Assert.True(full.Max() - full.Min() > 0.5f, $"logit range {full.Min()}..{full.Max()}");
    }

    [Fact]
    public async Task Greedy_generation_matches_argmax_of_full_recompute()
    {
        var prompt = Prompts.Make(12, seed: 3);
        var gen = new DecoderGenerator(fx.Model);
        using var state = new SequenceState();
        var outTokens = await Prompts.Collect(gen.GenerateAsync(state, prompt, new GenerationOptions { MaxNewTokens = 10, IgnoreEos = true }));
        Assert.Equal(10, outTokens.Count);
        var seq = prompt.ToList();
        foreach (var t in outTokens)
        {
            var logits = fx.Model.ForwardFull(seq);
            Assert.Equal(Sampler.ArgMax(logits.AsSpan(logits.Length - fx.Model.VocabSize)), t);
            seq.Add(t);
        }
        Assert.Equal(FinishReason.Length, state.LastFinishReason);
    }

    [Fact]
    public async Task Second_turn_prefills_only_the_new_tokens()
    {
        var gen = new DecoderGenerator(fx.Model);
        using var state = new SequenceState();
        var turn1 = Prompts.Make(20, seed: 11);
        var out1 = await Prompts.Collect(gen.GenerateAsync(state, turn1, GenerationOptions.Greedy(5) with { IgnoreEos = true }));
        Assert.Equal(20, state.LastPrefillTokens);
        Assert.Equal(20 + 5 - 1, state.CachedLength); // the last generated token is not fed yet

        var turn2 = Prompts.Make(6, seed: 12);
        var out2 = await Prompts.Collect(gen.GenerateAsync(state, turn2, GenerationOptions.Greedy(5) with { IgnoreEos = true }));
        Assert.Equal(1 + 6, state.LastPrefillTokens); // last generated token of turn 1 + the 6 new ones

        // same answer as recomputing the whole conversation from scratch
        using var fresh = new SequenceState(turn1.Concat(out1));
        var out2Fresh = await Prompts.Collect(gen.GenerateAsync(fresh, turn2, GenerationOptions.Greedy(5) with { IgnoreEos = true }));
        Assert.Equal(turn1.Length + out1.Count + 6, fresh.LastPrefillTokens);
        Assert.Equal(out2Fresh, out2);

        // after a handoff (cache dropped) the state recomputes and still answers the same
        var tokensBefore = state.Tokens.ToArray();
        state.DropCache();
        using var copy = new SequenceState(tokensBefore);
        var a = await Prompts.Collect(gen.GenerateAsync(state, [65, 66], GenerationOptions.Greedy(4) with { IgnoreEos = true }));
        var b = await Prompts.Collect(gen.GenerateAsync(copy, [65, 66], GenerationOptions.Greedy(4) with { IgnoreEos = true }));
        Assert.Equal(tokensBefore.Length + 2, state.LastPrefillTokens);
        Assert.Equal(b, a);
    }

    [Fact]
    public async Task Context_limit_gives_a_clear_error_and_leaves_the_state_unchanged()
    {
        var gen = new DecoderGenerator(fx.Model);
        using var state = new SequenceState();
        var ex = await Assert.ThrowsAsync<ContextLengthExceededException>(async () =>
            await Prompts.Collect(gen.GenerateAsync(state, Prompts.Make(fx.Spec.MaxPositions + 1, 1), GenerationOptions.Greedy(1))));
        Assert.Contains("context window is 128 tokens", ex.Message);
        Assert.Empty(state.Tokens);

        // a prompt that fits but leaves little room stops with ContextLength, never feeding a position past the window
        var toks = await Prompts.Collect(gen.GenerateAsync(state, Prompts.Make(fx.Spec.MaxPositions - 3, 2), GenerationOptions.Greedy(50) with { IgnoreEos = true }));
        Assert.Equal(3, toks.Count);
        Assert.Equal(FinishReason.ContextLength, state.LastFinishReason);
        await Assert.ThrowsAsync<ContextLengthExceededException>(async () => await Prompts.Collect(gen.GenerateAsync(state, [1], GenerationOptions.Greedy(1))));
    }

    [Fact]
    public async Task Sampling_is_reproducible_with_a_seed_and_varies_across_seeds()
    {
        var gen = new DecoderGenerator(fx.Model);
        var prompt = Prompts.Make(8, seed: 5);
        async Task<List<int>> Run(int seed, float temp = 1.5f, int topK = 0, float topP = 1f)
        {
            using var s = new SequenceState();
            return await Prompts.Collect(gen.GenerateAsync(s, prompt, new GenerationOptions { MaxNewTokens = 24, Temperature = temp, TopK = topK, TopP = topP, Seed = seed, IgnoreEos = true }));
        }
        Assert.Equal(await Run(42), await Run(42));
        Assert.Equal(await Run(42, topK: 20, topP: 0.9f), await Run(42, topK: 20, topP: 0.9f));
        var distinct = new HashSet<string>();
        for (int seed = 0; seed < 4; seed++) distinct.Add(string.Join(',', await Run(seed)));
        Assert.True(distinct.Count >= 3, "different seeds should give different samples");
        // top-k 1 is greedy whatever the temperature
        using var g = new SequenceState();
        var greedy = await Prompts.Collect(gen.GenerateAsync(g, prompt, GenerationOptions.Greedy(24) with { IgnoreEos = true }));
        Assert.Equal(greedy, await Run(9, topK: 1));
    }

    [Fact]
    public void Top_k_and_top_p_restrict_the_candidates()
    {
        var logits = new float[] { 0f, 5f, 4.9f, 1f, -3f, 4.8f };
        var topK2 = new Sampler(new GenerationOptions { Temperature = 10f, TopK = 2, Seed = 1 });
        var seen = Enumerable.Range(0, 300).Select(_ => topK2.Sample(logits)).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 2 }, seen);
        var topP = new Sampler(new GenerationOptions { Temperature = 1f, TopP = 0.5f, Seed = 1 });
        Assert.Equal(new HashSet<int> { 1, 2 }, Enumerable.Range(0, 300).Select(_ => topP.Sample(logits)).ToHashSet());
    }

    [Fact]
    public async Task Stop_tokens_and_stop_sequences_end_generation()
    {
        var gen = new DecoderGenerator(fx.Model, new ByteTokenizer());
        var prompt = Prompts.Make(10, seed: 21);
        using var s1 = new SequenceState();
        var free = await Prompts.Collect(gen.GenerateAsync(s1, prompt, GenerationOptions.Greedy(12) with { IgnoreEos = true }));
        Assert.Equal(12, free.Count);

        using var s2 = new SequenceState();
        var stopped = await Prompts.Collect(gen.GenerateAsync(s2, prompt, GenerationOptions.Greedy(12) with { IgnoreEos = true, StopTokenIds = [free[4]] }));
        Assert.Equal(free.TakeWhile(t => t != free[4]), stopped);
        Assert.Equal(FinishReason.Stop, s2.LastFinishReason);

        // text-level stop: a tokenizer where every id is one CJK character, so any id sequence decodes to valid text
        var cjk = new CharTokenizer();
        var genText = new DecoderGenerator(fx.Model, cjk);
        var stopText = cjk.Decode(free.Skip(3).Take(2)); // the text of generated tokens 3 and 4
        int firstMatch = Enumerable.Range(1, free.Count).First(n => cjk.Decode(free.Take(n)).Contains(stopText));
        using var s3 = new SequenceState();
        var streamed = "";
        var byText = new List<int>();
        await foreach (var t in genText.GenerateAsync(s3, prompt, GenerationOptions.Greedy(12) with { IgnoreEos = true, StopSequences = [stopText] }))
        {
            byText.Add(t.TokenId);
            streamed += t.Text;
        }
        Assert.Equal(free.Take(firstMatch), byText); // stops right after the token that completes the stop string
        Assert.True(firstMatch <= 5);
        Assert.EndsWith(stopText, streamed);
        Assert.Equal(FinishReason.Stop, s3.LastFinishReason);
    }

    private sealed class CharTokenizer : ITextTokenizer
    {
        public IReadOnlyList<int> Encode(string text) => text.Select(c => c - 0x4E00).ToArray();
        public string Decode(IEnumerable<int> ids) => string.Concat(ids.Select(i => (char)(0x4E00 + i)));
    }

    [Fact]
    public async Task Cancellation_stops_within_one_decode_step()
    {
        var gen = new DecoderGenerator(fx.Model);
        using var state = new SequenceState();
        using var cts = new CancellationTokenSource();
        var got = new List<int>();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var t in gen.GenerateAsync(state, Prompts.Make(5, 1), GenerationOptions.Greedy(100) with { IgnoreEos = true }, cts.Token))
            {
                got.Add(t.TokenId);
                if (got.Count == 3) cts.Cancel();
            }
        });
        Assert.Equal(3, got.Count); // no token after the one during which we cancelled
        Assert.Equal(FinishReason.Cancelled, state.LastFinishReason);
        Assert.Equal(5 + 3, state.Tokens.Count);
        // the state is usable again and consistent
        var more = await Prompts.Collect(gen.GenerateAsync(state, [10], GenerationOptions.Greedy(2) with { IgnoreEos = true }));
        Assert.Equal(2, more.Count);
    }

    [Fact]
    public void Generator_writes_a_valid_onnx_model_with_the_hf_layout()
    {
        var bytes = DecoderModelGenerator.ToBytes(DecoderModelSpec.Tiny(seed: 99));
        var parsed = ModelProto.Parser.ParseFrom(bytes);
        Assert.Contains(parsed.Graph.Input, i => i.Name == "past_key_values.1.value");
        Assert.Contains(parsed.Graph.Output, o => o.Name == "present.0.key");
        using var m = DecoderModel.Load(bytes, new Runtime.InferenceOptions { IntraOpThreads = 1, WarmUp = false });
        Assert.Equal(2, m.Layers);
        // different seeds give different weights
        Assert.NotEqual(m.ForwardFull([1, 2, 3]), fx.Model.ForwardFull([1, 2, 3]));
    }
}
