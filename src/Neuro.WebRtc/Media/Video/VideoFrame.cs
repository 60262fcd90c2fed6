namespace Neuro.WebRtc.Media.Video;

public enum VideoPixelFormat
{
    /// <summary>3 bytes per pixel, R G B, rows of Width*3 bytes with no padding.</summary>
    Rgb24,

    /// <summary>4 bytes per pixel, R G B A (A = 255), rows of Width*4 bytes.</summary>
    Rgba32,

    /// <summary>Planar Y, then U, then V, each without row padding; chroma planes are ((W+1)/2) x ((H+1)/2).</summary>
    I420,
}

/// <summary>A decoded (or to-be-encoded) picture in tightly packed memory.</summary>
public sealed class VideoFrame
{
    public VideoFrame(int width, int height, VideoPixelFormat format, byte[] pixels)
    {
        if (width <= 0 || height <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(width), "frame dimensions must be positive");
        }

        if (pixels.Length < ByteLength(width, height, format))
        {
            throw new ArgumentException($"{format} {width}x{height} needs {ByteLength(width, height, format)} bytes", nameof(pixels));
        }

        Width = width;
        Height = height;
        Format = format;
        Pixels = pixels;
    }

    public int Width { get; }

    public int Height { get; }

    public VideoPixelFormat Format { get; }

    public byte[] Pixels { get; }

    /// <summary>RTP timestamp of the packets the frame came from (90 kHz clock); 0 for frames not from RTP.</summary>
    public uint RtpTimestamp { get; init; }

    public bool IsKeyFrame { get; init; }

    public static int ByteLength(int width, int height, VideoPixelFormat format) => format switch
    {
        VideoPixelFormat.Rgb24 => width * height * 3,
        VideoPixelFormat.Rgba32 => width * height * 4,
        _ => width * height + 2 * ((width + 1) / 2) * ((height + 1) / 2),
    };

    public override string ToString() => $"{Width}x{Height} {Format}{(IsKeyFrame ? " key" : "")} ts={RtpTimestamp}";
}

/// <summary>
/// BT.601 limited-range conversions, the matrix libvpx and browsers assume for VP8 unless told otherwise. Integer
/// arithmetic with 8 fractional bits (the usual 298/409/100/208/516 coefficients).
/// </summary>
public static class ColorConversion
{
    private static readonly int[] YTerm = Table(i => 298 * (i - 16) + 128);
    private static readonly int[] RFromV = Table(i => 409 * (i - 128));
    private static readonly int[] GFromU = Table(i => -100 * (i - 128));
    private static readonly int[] GFromV = Table(i => -208 * (i - 128));
    private static readonly int[] BFromU = Table(i => 516 * (i - 128));

    private static int[] Table(Func<int, int> f) => Enumerable.Range(0, 256).Select(f).ToArray();

    public static unsafe void I420ToRgb(
        byte* y, int strideY, byte* u, int strideU, byte* v, int strideV, int width, int height, Span<byte> destination, int bytesPerPixel)
    {
        if (destination.Length < width * height * bytesPerPixel)
        {
            throw new ArgumentException("destination is too small", nameof(destination));
        }

        fixed (byte* dst = destination)
        fixed (int* yTerm = YTerm, rv = RFromV, gu = GFromU, gv = GFromV, bu = BFromU)
        {
            for (var row = 0; row < height; row++)
            {
                var yRow = y + (long)row * strideY;
                var uRow = u + (long)(row >> 1) * strideU;
                var vRow = v + (long)(row >> 1) * strideV;
                var o = dst + (long)row * width * bytesPerPixel;
                for (var col = 0; col < width; col++)
                {
                    // Chroma terms are shared by each pair of columns; the table lookups replace the multiplies.
                    int ui = uRow[col >> 1], vi = vRow[col >> 1];
                    var c = yTerm[yRow[col]];
                    o[0] = Clamp((c + rv[vi]) >> 8);
                    o[1] = Clamp((c + gu[ui] + gv[vi]) >> 8);
                    o[2] = Clamp((c + bu[ui]) >> 8);
                    if (bytesPerPixel == 4)
                    {
                        o[3] = 255;
                    }

                    o += bytesPerPixel;
                }
            }
        }
    }

    public static VideoFrame ToRgb(VideoFrame i420, VideoPixelFormat format)
    {
        if (i420.Format != VideoPixelFormat.I420 || format == VideoPixelFormat.I420)
        {
            throw new ArgumentException("converts I420 to Rgb24 or Rgba32");
        }

        var bpp = format == VideoPixelFormat.Rgb24 ? 3 : 4;
        var output = new byte[i420.Width * i420.Height * bpp];
        var cw = (i420.Width + 1) / 2;
        var ch = (i420.Height + 1) / 2;
        unsafe
        {
            fixed (byte* p = i420.Pixels)
            {
                var y = p;
                var u = p + i420.Width * i420.Height;
                var v = u + cw * ch;
                I420ToRgb(y, i420.Width, u, cw, v, cw, i420.Width, i420.Height, output, bpp);
            }
        }

        return new VideoFrame(i420.Width, i420.Height, format, output) { RtpTimestamp = i420.RtpTimestamp, IsKeyFrame = i420.IsKeyFrame };
    }

    /// <summary>RGB24/RGBA32 to I420; chroma is the average of each 2x2 block.</summary>
    public static VideoFrame ToI420(VideoFrame rgb)
    {
        if (rgb.Format == VideoPixelFormat.I420)
        {
            return rgb;
        }

        var bpp = rgb.Format == VideoPixelFormat.Rgb24 ? 3 : 4;
        int w = rgb.Width, h = rgb.Height, cw = (w + 1) / 2, ch = (h + 1) / 2;
        var output = new byte[VideoFrame.ByteLength(w, h, VideoPixelFormat.I420)];
        var src = rgb.Pixels;
        for (var row = 0; row < h; row++)
        {
            for (var col = 0; col < w; col++)
            {
                var i = (row * w + col) * bpp;
                output[row * w + col] = Clamp(((66 * src[i] + 129 * src[i + 1] + 25 * src[i + 2] + 128) >> 8) + 16);
            }
        }

        var uOffset = w * h;
        var vOffset = uOffset + cw * ch;
        for (var crow = 0; crow < ch; crow++)
        {
            for (var ccol = 0; ccol < cw; ccol++)
            {
                int r = 0, g = 0, b = 0, n = 0;
                for (var dy = 0; dy < 2; dy++)
                {
                    for (var dx = 0; dx < 2; dx++)
                    {
                        int row = 2 * crow + dy, col = 2 * ccol + dx;
                        if (row < h && col < w)
                        {
                            var i = (row * w + col) * bpp;
                            r += src[i];
                            g += src[i + 1];
                            b += src[i + 2];
                            n++;
                        }
                    }
                }

                r /= n;
                g /= n;
                b /= n;
                output[uOffset + crow * cw + ccol] = Clamp(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
                output[vOffset + crow * cw + ccol] = Clamp(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
            }
        }

        return new VideoFrame(w, h, VideoPixelFormat.I420, output) { RtpTimestamp = rgb.RtpTimestamp, IsKeyFrame = rgb.IsKeyFrame };
    }

    private static byte Clamp(int x) => (byte)(x < 0 ? 0 : x > 255 ? 255 : x);
}
