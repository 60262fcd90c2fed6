using Neuro.Inference.Generation;
using Neuro.Inference.Onnx;
using Neuro.Inference.Runtime;

namespace Neuro.Inference.Tests;

/// <summary>One generated tiny decoder (written to a temp file) shared by the tests of a class.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("neuro-inf-").FullName;
    public string ModelPath { get; }
    public DecoderModelSpec Spec { get; } = DecoderModelSpec.Tiny();
    public DecoderModel Model { get; }

    public TinyModelFixture()
    {
        ModelPath = Path.Combine(Dir, "tiny.onnx");
        DecoderModelGenerator.WriteFile(Spec, ModelPath);
        Model = DecoderModel.Load(ModelPath, new InferenceOptions { IntraOpThreads = 1 });
    }

    public void Dispose()
    {
        Model.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

internal static class Prompts
{
    public static int[] Make(int n, int seed) { var r = new Random(seed); return Enumerable.Range(0, n).Select(_ => r.Next(0, 256)).ToArray(); }

    public static async Task<List<int>> Collect(IAsyncEnumerable<GeneratedToken> tokens, CancellationToken ct = default)
    {
        var list = new List<int>();
        await foreach (var t in tokens.WithCancellation(ct)) list.Add(t.TokenId);
        return list;
    }
}
