namespace Neuro.Ocr.Tests;

/// <summary>One engine for the whole test assembly: loading and warming both models costs about a second.</summary>
public sealed class OcrModels : IDisposable
{
    public OcrEngine Engine { get; } = OcrEngine.Load();

    public void Dispose() => Engine.Dispose();
}

[CollectionDefinition(Name)]
public sealed class OcrCollection : ICollectionFixture<OcrModels>
{
    public const string Name = "ocr";
}
