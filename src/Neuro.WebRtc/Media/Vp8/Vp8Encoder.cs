using System.Runtime.InteropServices;
using Neuro.WebRtc.Media.Native;
using Neuro.WebRtc.Media.Video;

namespace Neuro.WebRtc.Media.Vp8;

public sealed record Vp8EncoderOptions
{
    public required int Width { get; init; }

    public required int Height { get; init; }

    public int BitrateKbps { get; init; } = 1500;

    public int FramesPerSecond { get; init; } = 30;

    /// <summary>Largest gap between keyframes the encoder chooses on its own; PLIs can force one sooner.</summary>
    public int KeyFrameInterval { get; init; } = 300;

    /// <summary>libvpx VP8E_SET_CPUUSED: higher is faster and worse; WebRTC senders use about 6-12 in real time.</summary>
    public int CpuUsed { get; init; } = 8;

    public int Threads { get; init; } = 1;
}

/// <summary>One encoded VP8 frame.</summary>
public sealed record EncodedVideoFrame(byte[] Data, bool IsKeyFrame);

/// <summary>
/// A libvpx VP8 encoder set up for real-time sending: one pass, CBR, no lag (every input frame comes out at once),
/// error-resilient, and frame dropping off so the output matches the input one for one. Not thread-safe.
/// </summary>
public sealed unsafe class Vp8Encoder : IDisposable
{
    private void* _ctx;
    private byte* _cfg;
    private long _pts;

    public Vp8Encoder(Vp8EncoderOptions options)
    {
        NativeMedia.EnsureResolver();
        Options = options;
        var iface = LibVpx.vpx_codec_vp8_cx();
        _cfg = (byte*)NativeMemory.AllocZeroed(LibVpx.EncoderConfigSize);
        _ctx = NativeMemory.AllocZeroed(LibVpx.CodecContextSize);
        var err = LibVpx.vpx_codec_enc_config_default(iface, _cfg, 0);
        if (err != LibVpx.CodecOk)
        {
            Free();
            throw new InvalidOperationException("vpx_codec_enc_config_default failed: " + LibVpx.Describe(err, null));
        }

        Set(LibVpx.CfgThreads, options.Threads);
        Set(LibVpx.CfgWidth, options.Width);
        Set(LibVpx.CfgHeight, options.Height);
        Set(LibVpx.CfgTimebaseNum, 1);
        Set(LibVpx.CfgTimebaseDen, options.FramesPerSecond);
        Set(LibVpx.CfgErrorResilient, LibVpx.ErrorResilientDefault);
        Set(LibVpx.CfgLagInFrames, 0);
        Set(LibVpx.CfgDropFrameThreshold, 0);
        Set(LibVpx.CfgEndUsage, LibVpx.RateControlCbr);
        Set(LibVpx.CfgTargetBitrate, options.BitrateKbps);
        Set(LibVpx.CfgMinQuantizer, 2);
        Set(LibVpx.CfgMaxQuantizer, 56);
        Set(LibVpx.CfgKeyFrameMode, LibVpx.KeyFrameAuto);
        Set(LibVpx.CfgKeyFrameMinDistance, 0);
        Set(LibVpx.CfgKeyFrameMaxDistance, options.KeyFrameInterval);

        // libvpx keeps the config pointer in the context, so _cfg lives as long as the encoder.
        err = LibVpx.vpx_codec_enc_init_ver(_ctx, iface, _cfg, new CLong(0), LibVpx.EncoderAbiVersion);
        if (err != LibVpx.CodecOk)
        {
            var message = LibVpx.Describe(err, _ctx);
            Free();
            throw new InvalidOperationException("vpx_codec_enc_init_ver failed: " + message);
        }

        LibVpx.vpx_codec_control_int(_ctx, LibVpx.Vp8eSetCpuUsed, options.CpuUsed);
    }

    public Vp8EncoderOptions Options { get; }

    private void Set(int offset, int value) => *(int*)(_cfg + offset) = value;

    /// <summary>
    /// Encodes one frame (I420, or RGB which is converted first). Returns null if libvpx produced no data for it.
    /// </summary>
    public EncodedVideoFrame? Encode(VideoFrame frame, bool forceKeyFrame = false)
    {
        ObjectDisposedException.ThrowIf(_ctx is null, this);
        if (frame.Width != Options.Width || frame.Height != Options.Height)
        {
            throw new ArgumentException($"encoder is {Options.Width}x{Options.Height}, frame is {frame.Width}x{frame.Height}", nameof(frame));
        }

        var i420 = ColorConversion.ToI420(frame);
        int w = i420.Width, h = i420.Height, cw = (w + 1) / 2;
        VpxImage image = default;
        fixed (byte* pixels = i420.Pixels)
        {
            // vpx_img_wrap assumes an aligned buffer layout, so we point the planes at our packed buffer ourselves.
            LibVpx.vpx_img_wrap(&image, LibVpx.ImgFmtI420, (uint)w, (uint)h, 1, pixels);
            image.PlaneY = pixels;
            image.PlaneU = pixels + w * h;
            image.PlaneV = pixels + w * h + cw * ((h + 1) / 2);
            image.StrideY = w;
            image.StrideU = cw;
            image.StrideV = cw;
            var flags = forceKeyFrame ? LibVpx.EncoderForceKeyFrame : 0;
            var err = LibVpx.vpx_codec_encode(_ctx, &image, _pts++, new CULong(1), new CLong(flags), new CULong(LibVpx.DeadlineRealtime));
            if (err != LibVpx.CodecOk)
            {
                throw new InvalidOperationException("vpx_codec_encode failed: " + LibVpx.Describe(err, _ctx));
            }
        }

        void* iter = null;
        byte* pkt;
        var output = new MemoryStream();
        var key = false;
        while ((pkt = LibVpx.vpx_codec_get_cx_data(_ctx, &iter)) is not null)
        {
            if (*(int*)(pkt + LibVpx.PktKind) != LibVpx.CxFramePacket)
            {
                continue;
            }

            var buffer = *(byte**)(pkt + LibVpx.PktBuffer);
            var size = (int)*(nuint*)(pkt + LibVpx.PktSize);
            key |= (*(uint*)(pkt + LibVpx.PktFlags) & LibVpx.FrameIsKey) != 0;
            output.Write(new ReadOnlySpan<byte>(buffer, size));
        }

        return output.Length == 0 ? null : new EncodedVideoFrame(output.ToArray(), key);
    }

    private void Free()
    {
        if (_ctx is not null)
        {
            NativeMemory.Free(_ctx);
            _ctx = null;
        }

        if (_cfg is not null)
        {
            NativeMemory.Free(_cfg);
            _cfg = null;
        }
    }

    public void Dispose()
    {
        if (_ctx is not null)
        {
            LibVpx.vpx_codec_destroy(_ctx);
        }

        Free();
    }
}
