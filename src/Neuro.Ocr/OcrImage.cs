using Neuro.Agents;

namespace Neuro.Ocr;

/// <summary>An 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B. What the OCR models read.</summary>
public sealed class OcrImage
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Rgb { get; }

    public OcrImage(int width, int height, byte[] rgb)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (rgb.LongLength != (long)width * height * 3)
        {
            throw new ArgumentException($"expected {width}x{height}x3 bytes, got {rgb.LongLength}", nameof(rgb));
        }
        (Width, Height, Rgb) = (width, height, rgb);
    }

    /// <summary>Decodes a screenshot (what <see cref="IAgentEnvironment.ScreenshotAsync"/> returns) with the agent
    /// runtime's PNG decoder. Alpha is composited over white, the page background a transparent screenshot would have.</summary>
    public static OcrImage FromPng(byte[] png)
    {
        var (width, height, channels, pixels) = PngDownscaler.Decode(png);
        return FromPixels(width, height, channels, pixels);
    }

    /// <summary>From interleaved 8-bit pixels with 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA) channels.</summary>
    public static OcrImage FromPixels(int width, int height, int channels, byte[] pixels)
    {
        if (channels is < 1 or > 4 || pixels.LongLength != (long)width * height * channels)
        {
            throw new ArgumentException($"expected {width}x{height}x{channels} bytes with 1..4 channels", nameof(pixels));
        }
        if (channels == 3)
        {
            return new OcrImage(width, height, pixels);
        }
        var n = width * height;
        var rgb = new byte[n * 3];
        for (var i = 0; i < n; i++)
        {
            byte r, g, b;
            int alpha;
            switch (channels)
            {
                case 1: r = g = b = pixels[i]; alpha = 255; break;
                case 2: r = g = b = pixels[i * 2]; alpha = pixels[i * 2 + 1]; break;
                default: r = pixels[i * 4]; g = pixels[i * 4 + 1]; b = pixels[i * 4 + 2]; alpha = pixels[i * 4 + 3]; break;
            }
            rgb[i * 3] = Over(r, alpha);
            rgb[i * 3 + 1] = Over(g, alpha);
            rgb[i * 3 + 2] = Over(b, alpha);
        }
        return new OcrImage(width, height, rgb);

        static byte Over(byte c, int a) => (byte)((c * a + 255 * (255 - a) + 127) / 255);
    }

    /// <summary>Bilinear sample of channel <paramref name="c"/> at a continuous position (pixel centres at +0.5),
    /// clamped at the edges; the resampling both models' training pipelines used (OpenCV's INTER_LINEAR).</summary>
    internal float Sample(float x, float y, int c)
    {
        x -= 0.5f;
        y -= 0.5f;
        var x0 = (int)MathF.Floor(x);
        var y0 = (int)MathF.Floor(y);
        var fx = x - x0;
        var fy = y - y0;
        var xa = Math.Clamp(x0, 0, Width - 1);
        var xb = Math.Clamp(x0 + 1, 0, Width - 1);
        var ya = Math.Clamp(y0, 0, Height - 1);
        var yb = Math.Clamp(y0 + 1, 0, Height - 1);
        float P(int px, int py) => Rgb[(py * Width + px) * 3 + c];
        var top = P(xa, ya) + (P(xb, ya) - P(xa, ya)) * fx;
        var bottom = P(xa, yb) + (P(xb, yb) - P(xa, yb)) * fx;
        return top + (bottom - top) * fy;
    }

    /// <summary>Luminance (0..255) of one pixel.</summary>
    internal int Luma(int x, int y)
    {
        var i = (y * Width + x) * 3;
        return (Rgb[i] * 299 + Rgb[i + 1] * 587 + Rgb[i + 2] * 114) / 1000;
    }
}
