using Neuro.Inference.Generation;

namespace Neuro.Inference.Tests;

public sealed class BatchingTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private static GenerationOptions G(int n) => GenerationOptions.Greedy(n) with { IgnoreEos = true };

    private async Task<List<int>> Unbatched(int[] prompt, int n, SequenceState? state = null)
    {
        var own = state is null;
        state ??= new SequenceState();
        try { return await Prompts.Collect(new DecoderGenerator(fx.Model).GenerateAsync(state, prompt, G(n))); }
        finally { if (own) state.Dispose(); }
    }

    [Fact]
    public async Task Batched_greedy_equals_unbatched_with_sequences_joining_and_leaving()
    {
        // different prompt lengths (so rows are left-padded differently) and lengths (so rows leave at different steps)
        var prompts = Enumerable.Range(0, 6).Select(i => Prompts.Make(3 + 7 * i, seed: 100 + i)).ToArray();
        var lengths = new[] { 30, 12, 25, 5, 40, 18 };
        var expected = new List<int>[prompts.Length];
        for (int i = 0; i < prompts.Length; i++) expected[i] = await Unbatched(prompts[i], lengths[i]);

        using var batcher = new BatchingGenerator(fx.Model, new BatchingOptions { AdmissionWindow = TimeSpan.FromMilliseconds(100) });
        var states = prompts.Select(_ => new SequenceState()).ToArray();
        var first = Enumerable.Range(0, 4).Select(i => Task.Run(() => Prompts.Collect(batcher.GenerateAsync(states[i], prompts[i], G(lengths[i]))))).ToList();
        await Task.Delay(20);
        // two more join while the first four are decoding
        var late = Enumerable.Range(4, 2).Select(i => Task.Run(() => Prompts.Collect(batcher.GenerateAsync(states[i], prompts[i], G(lengths[i]))))).ToList();
        var results = await Task.WhenAll(first.Concat(late));

        for (int i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], results[i]);
        Assert.True(batcher.Stats.MaxBatch >= 3, $"max batch {batcher.Stats.MaxBatch}: requests were not batched");
        Assert.True(batcher.Stats.DecodeRows > batcher.Stats.DecodeSteps, "no step ran more than one row");

        // the states keep their KV caches after leaving the batch: a second turn continues them exactly like unbatched
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(states[i].Tokens.Count - 1, states[i].CachedLength);
            using var replay = new SequenceState(prompts[i].Concat(expected[i]));
            var want = await Unbatched([42, 43], 6, replay);
            var got = await Prompts.Collect(batcher.GenerateAsync(states[i], [42, 43], G(6)));
            Assert.Equal(3, states[i].LastPrefillTokens);
            Assert.Equal(want, got);
        }
        foreach (var s in states) s.Dispose();
    }

    [Fact]
    public async Task Cancelling_one_batched_stream_stops_it_within_one_step_and_others_continue()
    {
        using var batcher = new BatchingGenerator(fx.Model, new BatchingOptions { AdmissionWindow = TimeSpan.FromMilliseconds(50) });
        var promptA = Prompts.Make(10, 1);
        var promptB = Prompts.Make(14, 2);
        var expectedB = await Unbatched(promptB, 60);
        using var sa = new SequenceState();
        using var sb = new SequenceState();
        using var cts = new CancellationTokenSource();
        var got = new List<int>();
        var a = Task.Run(async () =>
        {
            await foreach (var t in batcher.GenerateAsync(sa, promptA, G(1000), cts.Token))
            {
                got.Add(t.TokenId);
                if (got.Count == 5) cts.Cancel();
            }
        });
        var b = Task.Run(() => Prompts.Collect(batcher.GenerateAsync(sb, promptB, G(60))));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => a);
        Assert.Equal(5, got.Count);
        // the loop has released the state by the time the stream ended: it is consistent and reusable
        Assert.Equal(FinishReason.Cancelled, sa.LastFinishReason);
        // tokens generated ahead into the stream buffer but never received were dropped from the conversation (and its cache)
        Assert.Equal(10 + 5, sa.Tokens.Count);
        Assert.True(sa.CachedLength <= sa.Tokens.Count);
        Assert.Equal(expectedB, await b);
        using var replay = new SequenceState(sa.Tokens);
        var want = await Unbatched([7], 3, replay);
        var more = await Prompts.Collect(batcher.GenerateAsync(sa, [7], G(3)));
        Assert.Equal(want, more); // the truncated cache is consistent with its tokens
    }

    [Fact]
    public async Task A_slow_reader_is_paused_not_buffered_and_still_gets_the_right_tokens()
    {
        using var batcher = new BatchingGenerator(fx.Model, new BatchingOptions { StreamCapacity = 2, AdmissionWindow = TimeSpan.FromMilliseconds(50) });
        var p1 = Prompts.Make(6, 31);
        var p2 = Prompts.Make(9, 32);
        var e1 = await Unbatched(p1, 20);
        var e2 = await Unbatched(p2, 40);
        using var s1 = new SequenceState();
        using var s2 = new SequenceState();
        // The slow reader takes its first token, then stops reading until the fast stream has finished: no timing race,
        // the pause is certain (a sleep per token raced the fast stream on a loaded 2-core CI machine).
        var fastFinished = new TaskCompletionSource();
        var slow = Task.Run(async () =>
        {
            var l = new List<int>();
            await foreach (var t in batcher.GenerateAsync(s1, p1, G(20)))
            {
                l.Add(t.TokenId);
                if (l.Count == 1)
                {
                    await fastFinished.Task;
                }
            }
            return l;
        });
        var fast = Task.Run(() => Prompts.Collect(batcher.GenerateAsync(s2, p2, G(40))));
        var fastDone = await fast.WaitAsync(TimeSpan.FromSeconds(60)); // a batcher blocked by the paused reader would time out here
        Assert.False(slow.IsCompleted, "the slow reader should still be reading when the fast one is done");
        // while paused, the slow stream's sequence could not have run ahead by more than the buffer (+1 in flight)
        Assert.True(s1.Tokens.Count - p1.Length <= 20);
        fastFinished.SetResult();
        Assert.Equal(e2, fastDone);
        Assert.Equal(e1, await slow);
    }
}
