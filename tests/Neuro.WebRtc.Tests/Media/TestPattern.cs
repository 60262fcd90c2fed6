using Neuro.WebRtc.Media.Video;

namespace Neuro.WebRtc.Tests.Media;

/// <summary>
/// A number drawn as a 4x2 grid of blocks, each block one of the 8 corners of the RGB cube (3 bits per block, 24 bits
/// in all), so reading it back exercises all three colour channels and the I420 round trip. Block edges are left out
/// of the average because codecs blur them.
/// </summary>
internal static class TestPattern
{
    private const int Columns = 4;
    private const int Rows = 2;

    public static VideoFrame Draw(int width, int height, int number, VideoPixelFormat format = VideoPixelFormat.Rgb24)
    {
        var bpp = format == VideoPixelFormat.Rgba32 ? 4 : 3;
        var pixels = new byte[width * height * bpp];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var block = (y * Rows / height) * Columns + (x * Columns / width);
                var bits = (number >> (3 * block)) & 7;
                var i = (y * width + x) * bpp;
                pixels[i] = (byte)((bits & 4) != 0 ? 230 : 25);
                pixels[i + 1] = (byte)((bits & 2) != 0 ? 230 : 25);
                pixels[i + 2] = (byte)((bits & 1) != 0 ? 230 : 25);
                if (bpp == 4)
                {
                    pixels[i + 3] = 255;
                }
            }
        }

        var rgb = new VideoFrame(width, height, format == VideoPixelFormat.Rgba32 ? VideoPixelFormat.Rgba32 : VideoPixelFormat.Rgb24, pixels);
        return format == VideoPixelFormat.I420 ? ColorConversion.ToI420(rgb) : rgb;
    }

    /// <summary>Reads the number back, or -1 when some block's average is too far from both levels to call.</summary>
    public static int Read(VideoFrame frame)
    {
        var rgb = frame.Format == VideoPixelFormat.I420 ? ColorConversion.ToRgb(frame, VideoPixelFormat.Rgb24) : frame;
        var bpp = rgb.Format == VideoPixelFormat.Rgba32 ? 4 : 3;
        var number = 0;
        for (var block = 0; block < Columns * Rows; block++)
        {
            int bx = block % Columns, by = block / Columns;
            int x0 = bx * rgb.Width / Columns, x1 = (bx + 1) * rgb.Width / Columns;
            int y0 = by * rgb.Height / Rows, y1 = (by + 1) * rgb.Height / Rows;
            int mx = (x1 - x0) / 4, my = (y1 - y0) / 4;
            var sum = new long[3];
            long n = 0;
            for (var y = y0 + my; y < y1 - my; y++)
            {
                for (var x = x0 + mx; x < x1 - mx; x++)
                {
                    var i = (y * rgb.Width + x) * bpp;
                    sum[0] += rgb.Pixels[i];
                    sum[1] += rgb.Pixels[i + 1];
                    sum[2] += rgb.Pixels[i + 2];
                    n++;
                }
            }

            var bits = 0;
            for (var c = 0; c < 3; c++)
            {
                var mean = sum[c] / (double)n;
                if (mean is > 80 and < 175)
                {
                    return -1;
                }

                if (mean >= 175)
                {
                    bits |= 4 >> c;
                }
            }

            number |= bits << (3 * block);
        }

        return number;
    }
}
