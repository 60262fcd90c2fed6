using System.Diagnostics;
using Neuro.Agents;
using Xunit.Abstractions;

namespace Neuro.Neko.Tests;

/// <summary>Our baseline JPEG decoder against JPEGs from FFmpeg's mjpeg encoder (PyAV, peers/make_jpeg.py).</summary>
public sealed class JpegDecoderTests(ITestOutputHelper output)
{
    internal static byte[] MakeJpeg(int width, int height, string pixFmt)
    {
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "peers", "make_jpeg.py"));
        foreach (var a in new[] { width.ToString(), height.ToString(), pixFmt, "2" }) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        using var ms = new MemoryStream();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(ms);
        var err = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(30_000), "make_jpeg.py hung");
        copy.Wait(10_000);
        Assert.True(p.ExitCode == 0, err.Result);
        return ms.ToArray();
    }

    private static (int R, int G, int B) Expected(int x, int y, int w, int h) =>
        (x * 255 / (w - 1), y * 255 / (h - 1), 128 + ((x / 16 + y / 16) % 2 == 1 ? 64 : -64));

    [Theory]
    [InlineData(320, 240, "yuvj420p")]
    [InlineData(67, 45, "yuvj420p")] // not a whole number of MCUs
    [InlineData(100, 30, "yuvj422p")]
    [InlineData(50, 50, "yuvj444p")]
    public void Decodes_ffmpeg_baseline_jpeg_close_to_the_source(int width, int height, string pixFmt)
    {
        var jpeg = MakeJpeg(width, height, pixFmt);
        Assert.True(JpegDecoder.TryDecode(jpeg, out int w, out int h, out var rgb, out var error), error);
        Assert.Equal((width, height), (w, h));
        double sum = 0;
        int far = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, b) = Expected(x, y, w, h);
                int o = (y * w + x) * 3;
                int e = Math.Abs(rgb[o] - r) + Math.Abs(rgb[o + 1] - g) + Math.Abs(rgb[o + 2] - b);
                sum += e / 3.0;
                if (e / 3 > 40) far++;
            }
        double mean = sum / (w * h);
        output.WriteLine($"{width}x{height} {pixFmt}: mean abs error {mean:F2} per channel, {far} pixels off by > 40");
        Assert.True(mean < 6, $"mean error {mean:F2}");
        Assert.True(far < w * h / 50, $"{far} pixels far off");

        // Through the PNG writer, readable by the agent runtime's PNG decoder, pixels unchanged.
        var png = PngDownscaler.EncodeRgb(w, h, rgb);
        var (pw, ph, channels, pixels) = PngDownscaler.Decode(png);
        Assert.Equal((w, h, 3), (pw, ph, channels));
        Assert.Equal(rgb, pixels);
    }

    [Fact]
    public void Refuses_progressive_and_truncated_files_with_a_reason()
    {
        var jpeg = MakeJpeg(64, 64, "yuvj420p");
        var progressive = jpeg.ToArray();
        int sof = Enumerable.Range(0, progressive.Length - 1).First(i => progressive[i] == 0xFF && progressive[i + 1] == 0xC0);
        progressive[sof + 1] = 0xC2;
        Assert.False(JpegDecoder.TryDecode(progressive, out _, out _, out _, out var error));
        Assert.Contains("not supported", error);
        Assert.False(JpegDecoder.TryDecode(jpeg[..(jpeg.Length / 2)], out _, out _, out _, out error));
        Assert.NotNull(error);
        Assert.False(JpegDecoder.TryDecode([0xFF, 0xD8, 0xFF, 0xD9], out _, out _, out _, out error));
    }

    [Fact]
    public void Fuzzed_jpegs_never_throw()
    {
        var seed = MakeJpeg(48, 32, "yuvj420p");
        var rng = new Random(42);
        int ok = 0, refused = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 3000; i++)
        {
            var data = seed.ToArray();
            for (int e = rng.Next(1, 6); e > 0; e--)
            {
                switch (rng.Next(4))
                {
                    case 0: data[rng.Next(data.Length)] ^= (byte)(1 << rng.Next(8)); break;
                    case 1: data[rng.Next(data.Length)] = (byte)rng.Next(256); break;
                    case 2: data = data[..Math.Max(2, rng.Next(data.Length))]; break;
                    default: data[rng.Next(Math.Min(data.Length, 200))] = (byte)rng.Next(256); break; // the headers
                }
            }
            if (JpegDecoder.TryDecode(data, out _, out _, out _, out _)) ok++; else refused++;
        }
        output.WriteLine($"3000 mutated JPEGs: {ok} decoded (garbage pixels), {refused} refused, {clock.ElapsedMilliseconds} ms");
        Assert.True(refused > 100);
    }
}
