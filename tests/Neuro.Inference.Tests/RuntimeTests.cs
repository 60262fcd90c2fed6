using Microsoft.Extensions.Logging;
using Microsoft.ML.Tokenizers;
using Neuro.Inference.Generation;
using Neuro.Inference.Onnx;
using Neuro.Inference.Runtime;
using Neuro.Inference.Tokenization;

namespace Neuro.Inference.Tests;

public sealed class RuntimeTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Entries.Add((logLevel, formatter(state, exception)));
    }

    [Theory]
    [InlineData(ExecutionProviderKind.Cuda, "CUDAExecutionProvider")]
    [InlineData(ExecutionProviderKind.TensorRt, "TensorrtExecutionProvider")]
    public void Gpu_provider_falls_back_to_cpu_with_a_warning_when_the_build_lacks_it(ExecutionProviderKind kind, string name)
    {
        Assert.Contains("CPUExecutionProvider", OrtSessionFactory.AvailableProviders());
        Assert.DoesNotContain(name, OrtSessionFactory.AvailableProviders()); // the CPU package is what this machine has
        var log = new ListLogger();
        using var m = DecoderModel.Load(fx.ModelPath, new InferenceOptions { ExecutionProvider = kind, IntraOpThreads = 1 }, log);
        Assert.Equal(ExecutionProviderKind.Cpu, m.Provider);
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains(name) && e.Message.Contains("falling back to CPU"));
        Assert.Equal(fx.Model.ForwardFull([1, 2, 3]), m.ForwardFull([1, 2, 3]));
    }

    [Fact]
    public void Cl100k_tokenizer_round_trips_text()
    {
        var tok = new MlTokenizer(TiktokenTokenizer.CreateForModel("gpt-4"));
        var ids = tok.Encode("The capital of France is Paris.");
        Assert.InRange(ids.Count, 5, 10);
        Assert.Equal("The capital of France is Paris.", tok.Decode(ids));
    }

    [Fact]
    public async Task Streamed_text_deltas_concatenate_to_the_decoded_output()
    {
        var tok = new ByteTokenizer();
        var gen = new DecoderGenerator(fx.Model, tok);
        using var s = new SequenceState();
        var text = "";
        var ids = new List<int>();
        await foreach (var t in gen.GenerateAsync(s, tok.Encode("hello"), GenerationOptions.Greedy(20) with { IgnoreEos = true }))
        {
            text += t.Text;
            ids.Add(t.TokenId);
        }
        Assert.Equal(tok.Decode(ids).TrimEnd('\uFFFD'), text);
    }

    [Fact]
    public void Malformed_model_is_rejected_with_an_error()
    {
        Assert.ThrowsAny<Exception>(() => DecoderModel.Load([1, 2, 3, 4], new InferenceOptions { WarmUp = false }));
    }
}

public sealed class Int8VariantTests
{
    [Fact]
    public async Task Int8_variant_runs_is_smaller_and_tracks_the_fp32_model()
    {
        var spec = DecoderModelSpec.Tiny(seed: 77) with { HiddenSize = 64, Heads = 4 };
        var fp32Bytes = DecoderModelGenerator.ToBytes(spec);
        var int8Bytes = DecoderModelGenerator.ToBytes(spec.AsInt8());
        Assert.True(int8Bytes.Length < fp32Bytes.Length * 0.6, $"int8 {int8Bytes.Length} B vs fp32 {fp32Bytes.Length} B");
        var opts = new InferenceOptions { IntraOpThreads = 1, WarmUp = false };
        using var fp32 = DecoderModel.Load(fp32Bytes, opts);
        using var int8 = DecoderModel.Load(int8Bytes, opts);
        Assert.Equal("int8", int8.Session.ModelMetadata.CustomMetadataMap["neuro.weights"]);

        var tokens = Prompts.Make(24, seed: 8);
        var a = fp32.ForwardFull(tokens);
        var b = int8.ForwardFull(tokens);
        // quantization error is small relative to the logit spread: correlation close to 1, but not bit-identical
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) * (a[i] - ma); sbb += (b[i] - mb) * (b[i] - mb); }
        var corr = sab / Math.Sqrt(saa * sbb);
        Assert.True(corr > 0.98, $"correlation {corr}");
        Assert.NotEqual(a, b);

        // the KV-cache path works on the int8 variant too (the activations are quantized per call, so compare loosely)
        using var state = new SequenceState(tokens.Take(20));
        int8.Forward(state);
        var rows = new List<float>();
        foreach (var t in tokens.Skip(20)) { state.Tokens.Add(t); rows.AddRange(int8.Forward(state)); }
        var tail = b.AsSpan(b.Length - rows.Count).ToArray();
        Assert.True(rows.Zip(tail).Max(x => Math.Abs(x.First - x.Second)) < 0.25f);
        var gen = new DecoderGenerator(int8);
        using var s = new SequenceState();
        var outTokens = await Prompts.Collect(gen.GenerateAsync(s, tokens, GenerationOptions.Greedy(8) with { IgnoreEos = true }));
        Assert.Equal(8, outTokens.Count);
    }
}
