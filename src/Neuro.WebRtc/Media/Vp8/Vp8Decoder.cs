using System.Runtime.InteropServices;
using Neuro.WebRtc.Media.Native;
using Neuro.WebRtc.Media.Video;

namespace Neuro.WebRtc.Media.Vp8;

/// <summary>
/// A libvpx VP8 decoder. Not thread-safe: one caller at a time (the receive loop that owns the track).
/// </summary>
public sealed unsafe class Vp8Decoder : IDisposable
{
    private void* _ctx;

    public Vp8Decoder(VideoPixelFormat outputFormat = VideoPixelFormat.Rgb24, int threads = 1)
    {
        NativeMedia.EnsureResolver();
        OutputFormat = outputFormat;
        _ctx = NativeMemory.AllocZeroed(LibVpx.CodecContextSize);
        var cfg = new VpxDecoderConfig { Threads = (uint)Math.Max(1, threads) };
        var err = LibVpx.vpx_codec_dec_init_ver(_ctx, LibVpx.vpx_codec_vp8_dx(), &cfg, new CLong(0), LibVpx.DecoderAbiVersion);
        if (err != LibVpx.CodecOk)
        {
            var message = LibVpx.Describe(err, null);
            NativeMemory.Free(_ctx);
            _ctx = null;
            throw new InvalidOperationException("vpx_codec_dec_init_ver failed: " + message);
        }
    }

    public VideoPixelFormat OutputFormat { get; }

    /// <summary>
    /// Decodes one complete VP8 frame. Returns the picture, or null with <paramref name="error"/> set when libvpx rejects
    /// the data (after which the caller should wait for a keyframe), or null with no error when the frame produced no
    /// picture (e.g. a non-shown frame).
    /// </summary>
    public VideoFrame? Decode(ReadOnlySpan<byte> frame, out string? error)
    {
        ObjectDisposedException.ThrowIf(_ctx is null, this);
        error = null;
        if (frame.IsEmpty)
        {
            error = "empty frame";
            return null;
        }

        int err;
        fixed (byte* data = frame)
        {
            err = LibVpx.vpx_codec_decode(_ctx, data, (uint)frame.Length, null, new CLong(0));
        }

        if (err != LibVpx.CodecOk)
        {
            error = LibVpx.Describe(err, _ctx);
            DrainFrames();
            return null;
        }

        void* iter = null;
        VideoFrame? result = null;
        VpxImage* img;
        while ((img = LibVpx.vpx_codec_get_frame(_ctx, &iter)) is not null)
        {
            // Should libvpx ever hand back more than one picture, the last is the newest.
            result = Convert(img, Vp8FrameInfo.Read(frame) is { IsKeyFrame: true });
        }

        return result;
    }

    private void DrainFrames()
    {
        void* iter = null;
        while (LibVpx.vpx_codec_get_frame(_ctx, &iter) is not null)
        {
        }
    }

    private VideoFrame Convert(VpxImage* img, bool key)
    {
        var width = (int)img->DisplayWidth;
        var height = (int)img->DisplayHeight;
        if (OutputFormat == VideoPixelFormat.I420)
        {
            var pixels = new byte[VideoFrame.ByteLength(width, height, VideoPixelFormat.I420)];
            int cw = (width + 1) / 2, ch = (height + 1) / 2;
            CopyPlane(img->PlaneY, img->StrideY, width, height, pixels.AsSpan(0, width * height));
            CopyPlane(img->PlaneU, img->StrideU, cw, ch, pixels.AsSpan(width * height, cw * ch));
            CopyPlane(img->PlaneV, img->StrideV, cw, ch, pixels.AsSpan(width * height + cw * ch, cw * ch));
            return new VideoFrame(width, height, VideoPixelFormat.I420, pixels) { IsKeyFrame = key };
        }

        var bpp = OutputFormat == VideoPixelFormat.Rgb24 ? 3 : 4;
        var rgb = new byte[width * height * bpp];
        ColorConversion.I420ToRgb(img->PlaneY, img->StrideY, img->PlaneU, img->StrideU, img->PlaneV, img->StrideV, width, height, rgb, bpp);
        return new VideoFrame(width, height, OutputFormat, rgb) { IsKeyFrame = key };
    }

    private static void CopyPlane(byte* source, int stride, int width, int height, Span<byte> destination)
    {
        for (var row = 0; row < height; row++)
        {
            new ReadOnlySpan<byte>(source + (long)row * stride, width).CopyTo(destination.Slice(row * width, width));
        }
    }

    public void Dispose()
    {
        if (_ctx is not null)
        {
            LibVpx.vpx_codec_destroy(_ctx);
            NativeMemory.Free(_ctx);
            _ctx = null;
        }
    }
}
