using System.Diagnostics;
using Neuro.WebRtc.Media.Opus;
using Neuro.WebRtc.Media.Video;
using Neuro.WebRtc.Media.Vp8;
using Xunit.Abstractions;

namespace Neuro.WebRtc.Tests.Media;

/// <summary>
/// Timing of the codec paths on this machine, printed to the test output (docs/webrtc-media.md quotes a run). The
/// bounds are loose (a real-time budget, not a regression guard) so a busy CI box does not fail them.
/// </summary>
public sealed class MediaBenchmarks(ITestOutputHelper output)
{
    /// <summary>Desktop-like content: a gradient, a moving block of detailed texture, and small text-like marks.</summary>
    private static VideoFrame Scene(int width, int height, int t)
    {
        var pixels = new byte[width * height * 3];
        var random = new Random(t / 10); // the texture changes every 10 frames, like a redraw
        var marks = Enumerable.Range(0, 200).Select(_ => (x: random.Next(width - 8), y: random.Next(height - 12))).ToArray();
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = (y * width + x) * 3;
                var inBox = x > t * 4 % width && x < t * 4 % width + width / 4 && y > height / 3 && y < height * 2 / 3;
                var texture = inBox ? (byte)((x * 37 + y * 91 + t * 13) * 2654435761u >> 24) : (byte)0;
                pixels[i] = (byte)(x * 255 / width ^ texture);
                pixels[i + 1] = (byte)(y * 255 / height);
                pixels[i + 2] = (byte)(128 + texture / 2);
            }
        }

        foreach (var (mx, my) in marks)
        {
            for (var y = my; y < my + 10; y++)
            {
                for (var x = mx; x < mx + 6; x += 2)
                {
                    var i = (y * width + x) * 3;
                    pixels[i] = pixels[i + 1] = pixels[i + 2] = 0;
                }
            }
        }

        return new VideoFrame(width, height, VideoPixelFormat.Rgb24, pixels);
    }

    [Theory]
    [InlineData(640, 480, 1500)]
    [InlineData(1280, 720, 3000)]
    public void Vp8_decode_time_per_frame(int width, int height, int kbps)
    {
        const int frames = 60;
        using var encoder = new Vp8Encoder(new Vp8EncoderOptions { Width = width, Height = height, BitrateKbps = kbps });
        var encoded = new List<byte[]>();
        var encodeClock = Stopwatch.StartNew();
        for (var t = 0; t < frames; t++)
        {
            var scene = ColorConversion.ToI420(Scene(width, height, t));
            encodeClock.Start();
            encoded.Add(encoder.Encode(scene)!.Data);
            encodeClock.Stop();
        }

        var decodeOnly = Time(VideoPixelFormat.I420, encoded);
        var decodeRgb = Time(VideoPixelFormat.Rgb24, encoded);
        var decodeRgba = Time(VideoPixelFormat.Rgba32, encoded);
        var bytes = encoded.Sum(e => e.Length);
        output.WriteLine(
            $"VP8 {width}x{height} @ {kbps} kbps, {frames} frames, {bytes / frames} B/frame avg (keyframe {encoded[0].Length} B): " +
            $"decode {decodeOnly:F2} ms/frame (I420), {decodeRgb:F2} ms/frame (to RGB24), {decodeRgba:F2} ms/frame (to RGBA); " +
            $"encode {encodeClock.Elapsed.TotalMilliseconds / frames:F2} ms/frame");
        Assert.True(decodeRgb < 100, $"decode to RGB took {decodeRgb} ms per frame");
    }

    private static double Time(VideoPixelFormat format, List<byte[]> encoded)
    {
        // The best of four passes: the first pays for JIT and libvpx set-up, and on a shared box the minimum is the
        // figure least disturbed by other load.
        var perFrame = double.MaxValue;
        for (var pass = 0; pass < 4; pass++)
        {
            using var decoder = new Vp8Decoder(format);
            var clock = Stopwatch.StartNew();
            foreach (var frame in encoded)
            {
                Assert.NotNull(decoder.Decode(frame, out var error));
                Assert.Null(error);
            }

            perFrame = Math.Min(perFrame, clock.Elapsed.TotalMilliseconds / encoded.Count);
        }

        return perFrame;
    }

    [Theory]
    [InlineData(1, 64000)]
    [InlineData(2, 128000)]
    public void Opus_encode_time_per_20ms_frame(int channels, int bitrate)
    {
        const int frames = 500; // 10 s of audio
        using var encoder = new OpusEncoder(channels, bitrate);
        var pcm = InteropTests.Tone(440, channels, frames * 0.02);
        for (var i = 0; i < 50; i++)
        {
            encoder.Encode(pcm.AsSpan(i * 960 * channels, 960 * channels)); // warm-up
        }

        var bytes = 0L;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < frames; i++)
        {
            bytes += encoder.Encode(pcm.AsSpan(i * 960 * channels, 960 * channels)).Length;
        }

        var perFrame = clock.Elapsed.TotalMilliseconds / frames;
        output.WriteLine($"Opus {channels} ch @ {bitrate / 1000} kbps: encode {perFrame:F3} ms per 20 ms frame, {bytes / frames} B/frame avg");
        Assert.True(perFrame < 20, $"Opus encode took {perFrame} ms per 20 ms frame: slower than real time");
    }
}
