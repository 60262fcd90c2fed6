namespace Neuro.Ocr;

/// <summary>An axis-aligned box in image pixels: <see cref="Left"/>/<see cref="Top"/> inclusive edges,
/// <see cref="Right"/>/<see cref="Bottom"/> exclusive, the way a DOM rectangle's left + width reads.</summary>
public readonly record struct PixelBox(float Left, float Top, float Right, float Bottom)
{
    public float Width => Right - Left;
    public float Height => Bottom - Top;
    public float CenterX => (Left + Right) / 2;
    public float CenterY => (Top + Bottom) / 2;
}

/// <summary>One word: a run of characters between spaces (or, for scripts without spaces, a run between ink gaps).</summary>
public sealed record OcrWord(string Text, PixelBox Box, float Confidence);

/// <summary>One detected text line with what the recogniser read in it; <see cref="Words"/> split it on spaces.</summary>
public sealed record OcrLine(string Text, PixelBox Box, float Confidence, IReadOnlyList<OcrWord> Words);

/// <summary>Where the time of one <see cref="OcrEngine.Recognize"/> went.</summary>
public sealed record OcrTimings(TimeSpan Detection, TimeSpan Recognition, int Regions);
