using Neuro.Agents;

namespace Neuro.Neko.Tests;

public sealed class VideoFrameSourceTests
{
    private static byte[] Solid(int w, int h, byte r) { var b = new byte[w * h * 3]; for (int i = 0; i < b.Length; i += 3) b[i] = r; return b; }

    [Fact]
    public async Task Newest_frame_after_the_skipped_ones_is_served_as_png()
    {
        var source = new VideoFrameSource { SkipInitialFrames = 2 };
        Assert.False(source.Push(64, 48, Solid(64, 48, 1)));
        Assert.False(source.Push(64, 48, Solid(64, 48, 2)));
        Assert.False(source.Push(16, 48, Solid(16, 48, 9))); // too small: ignored, not counted as the newest
        Assert.False(source.Push(64, 48, new byte[10]));     // wrong length
        Assert.True(source.Push(64, 48, Solid(64, 48, 3)));
        Assert.True(source.Push(64, 40, Solid(64, 40, 4)));
        var (w, h, _, pixels) = PngDownscaler.Decode(await source.CapturePngAsync(CancellationToken.None));
        Assert.Equal((64, 40, (byte)4), (w, h, pixels[0]));
        Assert.Equal(2, source.FramesAccepted);
    }

    [Fact]
    public async Task Without_a_fresh_frame_the_fallback_answers_or_it_fails_fast()
    {
        await Assert.ThrowsAsync<TimeoutException>(() => new VideoFrameSource().CapturePngAsync(CancellationToken.None));
        var fallbackFrame = new VideoFrameSource { SkipInitialFrames = 0 };
        fallbackFrame.Push(32, 32, Solid(32, 32, 7));
        var source = new VideoFrameSource(fallbackFrame) { SkipInitialFrames = 0, MaxAge = TimeSpan.FromMilliseconds(50) };
        source.Push(40, 40, Solid(40, 40, 5));
        Assert.Equal(40, PngDownscaler.Decode(await source.CapturePngAsync(CancellationToken.None)).Width);
        await Task.Delay(200);
        Assert.Equal(32, PngDownscaler.Decode(await source.CapturePngAsync(CancellationToken.None)).Width); // stale: fallback
    }
}
