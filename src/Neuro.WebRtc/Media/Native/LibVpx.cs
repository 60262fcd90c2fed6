using System.Runtime.InteropServices;

namespace Neuro.WebRtc.Media.Native;

/// <summary>vpx_image_t from libvpx 1.12's vpx/vpx_image.h (VPX_IMAGE_ABI_VERSION 5); 136 bytes on 64-bit.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct VpxImage
{
    public int Fmt;
    public int ColorSpace;
    public int Range;
    public uint W;
    public uint H;
    public uint BitDepth;
    public uint DisplayWidth;
    public uint DisplayHeight;
    public uint RenderWidth;
    public uint RenderHeight;
    public uint XChromaShift;
    public uint YChromaShift;
    public byte* PlaneY;
    public byte* PlaneU;
    public byte* PlaneV;
    public byte* PlaneAlpha;
    public int StrideY;
    public int StrideU;
    public int StrideV;
    public int StrideAlpha;
    public int Bps;
    public void* UserPriv;
    public byte* ImgData;
    public int ImgDataOwner;
    public int SelfAllocd;
    public void* FbPriv;
}

/// <summary>vpx_codec_dec_cfg_t.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct VpxDecoderConfig
{
    public uint Threads;
    public uint Width;
    public uint Height;
}

/// <summary>
/// The libvpx entry points we use (Debian's libvpx.so.7 = libvpx 1.12). Structs we only pass through
/// (vpx_codec_ctx_t, vpx_codec_enc_cfg_t) are raw memory blocks with the field offsets below, taken from the 1.12
/// headers for LP64; the ABI versions are the ones the headers' init macros pass.
/// </summary>
internal static unsafe partial class LibVpx
{
    /// <summary>VPX_DECODER_ABI_VERSION = 3 + VPX_CODEC_ABI_VERSION (4 + VPX_IMAGE_ABI_VERSION 5).</summary>
    internal const int DecoderAbiVersion = 12;

    /// <summary>VPX_ENCODER_ABI_VERSION = 15 + VPX_CODEC_ABI_VERSION (9) + VPX_EXT_RATECTRL_ABI_VERSION (1).</summary>
    internal const int EncoderAbiVersion = 25;

    /// <summary>sizeof(vpx_codec_ctx_t) is 56; we allocate a little more so a minor layout change cannot overrun.</summary>
    internal const int CodecContextSize = 128;

    /// <summary>sizeof(vpx_codec_enc_cfg_t) is 504 in 1.12; the slack is for the same reason as above.</summary>
    internal const int EncoderConfigSize = 1024;

    // Field offsets inside vpx_codec_enc_cfg_t (libvpx 1.12, LP64).
    internal const int CfgThreads = 4;
    internal const int CfgWidth = 12;
    internal const int CfgHeight = 16;
    internal const int CfgTimebaseNum = 28;
    internal const int CfgTimebaseDen = 32;
    internal const int CfgErrorResilient = 36;
    internal const int CfgLagInFrames = 44;
    internal const int CfgDropFrameThreshold = 48;
    internal const int CfgEndUsage = 72;
    internal const int CfgTargetBitrate = 112;
    internal const int CfgMinQuantizer = 116;
    internal const int CfgMaxQuantizer = 120;
    internal const int CfgKeyFrameMode = 160;
    internal const int CfgKeyFrameMinDistance = 164;
    internal const int CfgKeyFrameMaxDistance = 168;

    // Offsets inside vpx_codec_cx_pkt_t for a VPX_CODEC_CX_FRAME_PKT.
    internal const int PktKind = 0;
    internal const int PktBuffer = 8;
    internal const int PktSize = 16;
    internal const int PktFlags = 40;

    internal const int ImgFmtI420 = 0x102;
    internal const int CodecOk = 0;
    internal const int CxFramePacket = 0;
    internal const int FrameIsKey = 0x1;
    internal const int EncoderForceKeyFrame = 0x1;
    internal const int DeadlineRealtime = 1;
    internal const int RateControlCbr = 1;
    internal const int KeyFrameAuto = 1;
    internal const int ErrorResilientDefault = 0x1;
    internal const int Vp8eSetCpuUsed = 13;

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial IntPtr vpx_codec_vp8_dx();

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial IntPtr vpx_codec_vp8_cx();

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial int vpx_codec_dec_init_ver(void* ctx, IntPtr iface, VpxDecoderConfig* cfg, CLong flags, int ver);

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial int vpx_codec_decode(void* ctx, byte* data, uint dataSize, void* userPriv, CLong deadline);

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial VpxImage* vpx_codec_get_frame(void* ctx, void** iter);

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial int vpx_codec_destroy(void* ctx);

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial IntPtr vpx_codec_err_to_string(int err);

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial IntPtr vpx_codec_error_detail(void* ctx);

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial int vpx_codec_enc_config_default(IntPtr iface, void* cfg, uint usage);

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial int vpx_codec_enc_init_ver(void* ctx, IntPtr iface, void* cfg, CLong flags, int ver);

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial int vpx_codec_encode(void* ctx, VpxImage* img, long pts, CULong duration, CLong flags, CULong deadline);

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial byte* vpx_codec_get_cx_data(void* ctx, void** iter);

    [LibraryImport(NativeMedia.Vpx)]
    internal static partial VpxImage* vpx_img_wrap(VpxImage* img, int fmt, uint width, uint height, uint align, byte* data);

    /// <summary>
    /// vpx_codec_control_ is variadic; on the SysV x86-64 and AArch64 Linux ABIs an int passed through "..." travels
    /// exactly like a fixed int argument, so a fixed three-argument import is safe there.
    /// </summary>
    [LibraryImport(NativeMedia.Vpx, EntryPoint = "vpx_codec_control_")]
    internal static partial int vpx_codec_control_int(void* ctx, int controlId, int value);

    internal static string Describe(int err, void* ctx)
    {
        var text = Marshal.PtrToStringUTF8(vpx_codec_err_to_string(err)) ?? $"error {err}";
        if (ctx is not null)
        {
            var detail = Marshal.PtrToStringUTF8(vpx_codec_error_detail(ctx));
            if (!string.IsNullOrEmpty(detail))
            {
                text += ": " + detail;
            }
        }

        return text;
    }
}
