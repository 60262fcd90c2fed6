using Neuro.Agents;

namespace Neuro.Ocr;

/// <summary>The agent runtime's <see cref="IScreenTextReader"/> backed by <see cref="OcrEngine"/>, for
/// <see cref="OcrGroundingPolicy"/>. Recognition is CPU-bound, so it runs on the thread pool rather than the caller's.</summary>
public sealed class OcrScreenReader(OcrEngine engine) : IScreenTextReader
{
    public Task<IReadOnlyList<ScreenTextLine>> ReadAsync(byte[] screenshot, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            return (IReadOnlyList<ScreenTextLine>)engine.Recognize(OcrImage.FromPng(screenshot)).Select(ToScreen).ToArray();
        }, cancellationToken);

    private static ScreenTextLine ToScreen(OcrLine line) =>
        new(line.Text, Rect(line.Box), line.Confidence, line.Words.Select(w => new ScreenWord(w.Text, Rect(w.Box), w.Confidence)).ToArray());

    private static ScreenRect Rect(PixelBox b) => new(b.Left, b.Top, b.Right, b.Bottom);
}
