using Neuro.WebRtc.Media.Native;

namespace Neuro.WebRtc.Media.Opus;

public enum OpusApplication
{
    /// <summary>Tuned for speech (the TTS track).</summary>
    Voip = LibOpus.ApplicationVoip,

    /// <summary>Tuned for music and general audio.</summary>
    Audio = LibOpus.ApplicationAudio,

    RestrictedLowDelay = LibOpus.ApplicationRestrictedLowDelay,
}

/// <summary>
/// A libopus encoder at 48 kHz (the only rate WebRTC's Opus RTP uses, RFC 7587 §4.1). Input is interleaved 16-bit PCM.
/// Not thread-safe.
/// </summary>
public sealed unsafe class OpusEncoder : IDisposable
{
    public const int SampleRate = 48000;

    /// <summary>Opus's largest packet for one frame is 1275 bytes; a little slack costs nothing.</summary>
    private const int MaxPacketSize = 1500;

    private IntPtr _encoder;

    public OpusEncoder(int channels = 1, int bitrate = 64000, OpusApplication application = OpusApplication.Audio, int complexity = 5)
    {
        if (channels is not (1 or 2))
        {
            throw new ArgumentOutOfRangeException(nameof(channels), "Opus RTP sends mono or stereo");
        }

        NativeMedia.EnsureResolver();
        Channels = channels;
        _encoder = LibOpus.opus_encoder_create(SampleRate, channels, (int)application, out var error);
        if (error != LibOpus.Ok || _encoder == IntPtr.Zero)
        {
            throw new InvalidOperationException("opus_encoder_create failed: " + LibOpus.Describe(error));
        }

        Check(LibOpus.opus_encoder_ctl_set(_encoder, LibOpus.SetBitrateRequest, bitrate), "OPUS_SET_BITRATE");
        Check(LibOpus.opus_encoder_ctl_set(_encoder, LibOpus.SetComplexityRequest, complexity), "OPUS_SET_COMPLEXITY");
    }

    public int Channels { get; }

    private static void Check(int result, string what)
    {
        if (result != LibOpus.Ok)
        {
            throw new InvalidOperationException($"{what} failed: {LibOpus.Describe(result)}");
        }
    }

    /// <summary>
    /// Encodes one frame of <c>samplesPerChannel * Channels</c> interleaved samples; samplesPerChannel must be an Opus
    /// frame size (120, 240, 480, 960, 1920 or 2880 at 48 kHz).
    /// </summary>
    public byte[] Encode(ReadOnlySpan<short> pcm)
    {
        ObjectDisposedException.ThrowIf(_encoder == IntPtr.Zero, this);
        if (pcm.Length % Channels != 0)
        {
            throw new ArgumentException("sample count is not a multiple of the channel count", nameof(pcm));
        }

        var output = stackalloc byte[MaxPacketSize];
        int length;
        fixed (short* samples = pcm)
        {
            length = LibOpus.opus_encode(_encoder, samples, pcm.Length / Channels, output, MaxPacketSize);
        }

        if (length < 0)
        {
            throw new InvalidOperationException("opus_encode failed: " + LibOpus.Describe(length));
        }

        return new ReadOnlySpan<byte>(output, length).ToArray();
    }

    public void Dispose()
    {
        if (_encoder != IntPtr.Zero)
        {
            LibOpus.opus_encoder_destroy(_encoder);
            _encoder = IntPtr.Zero;
        }
    }
}

/// <summary>A libopus decoder at 48 kHz, interleaved 16-bit output. Not thread-safe.</summary>
public sealed unsafe class OpusDecoder : IDisposable
{
    /// <summary>120 ms, the longest an Opus packet can last.</summary>
    private const int MaxFrameSamples = 5760;

    private IntPtr _decoder;

    public OpusDecoder(int channels = 1)
    {
        if (channels is not (1 or 2))
        {
            throw new ArgumentOutOfRangeException(nameof(channels), "Opus decodes to mono or stereo");
        }

        NativeMedia.EnsureResolver();
        Channels = channels;
        _decoder = LibOpus.opus_decoder_create(OpusEncoder.SampleRate, channels, out var error);
        if (error != LibOpus.Ok || _decoder == IntPtr.Zero)
        {
            throw new InvalidOperationException("opus_decoder_create failed: " + LibOpus.Describe(error));
        }
    }

    public int Channels { get; }

    /// <summary>Decodes one packet; an empty packet asks for concealment of a lost one. Returns null and an error for bad data.</summary>
    public short[]? Decode(ReadOnlySpan<byte> packet, out string? error)
    {
        ObjectDisposedException.ThrowIf(_decoder == IntPtr.Zero, this);
        error = null;
        var pcm = new short[MaxFrameSamples * Channels];
        int samples;
        fixed (byte* data = packet)
        fixed (short* output = pcm)
        {
            samples = LibOpus.opus_decode(_decoder, packet.IsEmpty ? null : data, packet.Length, output, MaxFrameSamples, 0);
        }

        if (samples < 0)
        {
            error = LibOpus.Describe(samples);
            return null;
        }

        return pcm.AsSpan(0, samples * Channels).ToArray();
    }

    public void Dispose()
    {
        if (_decoder != IntPtr.Zero)
        {
            LibOpus.opus_decoder_destroy(_decoder);
            _decoder = IntPtr.Zero;
        }
    }
}
