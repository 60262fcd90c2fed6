using Microsoft.Extensions.Logging;
using Microsoft.ML.Tokenizers;
using Neuro.Inference.Generation;
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
