using System.Runtime.InteropServices;

namespace Neuro.WebRtc.Media.Native;

/// <summary>The libopus entry points we use (Debian's libopus.so.0, opus.h of libopus 1.3).</summary>
internal static unsafe partial class LibOpus
{
    internal const int Ok = 0;
    internal const int ApplicationVoip = 2048;
    internal const int ApplicationAudio = 2049;
    internal const int ApplicationRestrictedLowDelay = 2051;
    internal const int SetBitrateRequest = 4002;
    internal const int SetComplexityRequest = 4010;
    internal const int SetInbandFecRequest = 4012;
    internal const int SetPacketLossPercRequest = 4014;

    [LibraryImport(NativeMedia.Opus)]
    internal static partial IntPtr opus_encoder_create(int sampleRate, int channels, int application, out int error);

    [LibraryImport(NativeMedia.Opus)]
    internal static partial int opus_encode(IntPtr encoder, short* pcm, int frameSize, byte* data, int maxDataBytes);

    /// <summary>
    /// opus_encoder_ctl is variadic; the SET requests take one opus_int32, which the SysV x86-64 and Linux AArch64
    /// ABIs pass exactly like a fixed int argument.
    /// </summary>
    [LibraryImport(NativeMedia.Opus, EntryPoint = "opus_encoder_ctl")]
    internal static partial int opus_encoder_ctl_set(IntPtr encoder, int request, int value);

    [LibraryImport(NativeMedia.Opus)]
    internal static partial void opus_encoder_destroy(IntPtr encoder);

    [LibraryImport(NativeMedia.Opus)]
    internal static partial IntPtr opus_decoder_create(int sampleRate, int channels, out int error);

    [LibraryImport(NativeMedia.Opus)]
    internal static partial int opus_decode(IntPtr decoder, byte* data, int length, short* pcm, int frameSize, int decodeFec);

    [LibraryImport(NativeMedia.Opus)]
    internal static partial void opus_decoder_destroy(IntPtr decoder);

    [LibraryImport(NativeMedia.Opus)]
    internal static partial IntPtr opus_strerror(int error);

    internal static string Describe(int error) => Marshal.PtrToStringUTF8(opus_strerror(error)) ?? $"opus error {error}";
}
