using System.Security.Cryptography;
using Neuro.WebRtc.Media.Opus;
using Neuro.WebRtc.Media.Rtcp;
using Neuro.WebRtc.Media.Rtp;
using Neuro.WebRtc.Media.Video;

namespace Neuro.WebRtc.Media.Audio;

public sealed record AudioSenderOptions
{
    /// <summary>The negotiated Opus payload type (Neko uses 111).</summary>
    public int PayloadType { get; init; } = 111;

    public int Channels { get; init; } = 1;

    public int Bitrate { get; init; } = 64000;

    public OpusApplication Application { get; init; } = OpusApplication.Audio;

    /// <summary>Null picks a random SSRC.</summary>
    public uint? Ssrc { get; init; }

    /// <summary>Null picks random starting values, as RFC 3550 asks.</summary>
    public ushort? InitialSequenceNumber { get; init; }

    public uint? InitialTimestamp { get; init; }
}

/// <summary>
/// An outgoing Opus track: 48 kHz interleaved PCM in, plain RTP packets out (one 20 ms Opus frame per packet, the
/// timestamp advancing 960 per packet, RFC 7587). PCM may come in any amount; whole 20 ms frames are sent and the rest
/// is kept for the next call. Calls are serialized by a lock, so the SR may be taken from the transport's thread.
/// </summary>
public sealed class AudioSender : IDisposable
{
    public const int SamplesPerFrame = 960;

    private readonly object _gate = new();
    private readonly AudioSenderOptions _options;
    private readonly OpusEncoder _encoder;
    private readonly short[] _pending;
    private int _pendingCount;
    private ushort _sequence;
    private uint _timestamp;
    private bool _startOfTalkspurt = true;

    public AudioSender(AudioSenderOptions options)
    {
        _options = options;
        _encoder = new OpusEncoder(options.Channels, options.Bitrate, options.Application);
        _pending = new short[SamplesPerFrame * options.Channels];
        Ssrc = options.Ssrc ?? (uint)RandomNumberGenerator.GetInt32(1, int.MaxValue);
        _sequence = options.InitialSequenceNumber ?? (ushort)RandomNumberGenerator.GetInt32(0, 1 << 16);
        _timestamp = options.InitialTimestamp ?? (uint)RandomNumberGenerator.GetInt32(0, int.MaxValue);
    }

    public uint Ssrc { get; }

    public int Channels => _options.Channels;

    public long PacketsSent { get; private set; }

    public long OctetsSent { get; private set; }

    /// <summary>The RTP timestamp the next packet will carry.</summary>
    public uint NextTimestamp => _timestamp;

    /// <summary>Encodes whole 20 ms frames from the buffered and new samples; returns their RTP packets.</summary>
    public List<byte[]> Send(ReadOnlySpan<short> interleavedPcm)
    {
        lock (_gate)
        {
            return SendLocked(interleavedPcm);
        }
    }

    private List<byte[]> SendLocked(ReadOnlySpan<short> interleavedPcm)
    {
        var packets = new List<byte[]>();
        while (!interleavedPcm.IsEmpty)
        {
            var take = Math.Min(_pending.Length - _pendingCount, interleavedPcm.Length);
            interleavedPcm[..take].CopyTo(_pending.AsSpan(_pendingCount));
            _pendingCount += take;
            interleavedPcm = interleavedPcm[take..];
            if (_pendingCount == _pending.Length)
            {
                packets.Add(Packetize(_encoder.Encode(_pending)));
                _pendingCount = 0;
            }
        }

        return packets;
    }

    /// <summary>
    /// Marks a pause: samples still buffered are padded with silence and sent, the RTP timestamp jumps by
    /// <paramref name="silence"/> (rounded to whole frames) and the next packet carries the marker bit (RFC 3551 §4.1).
    /// </summary>
    public List<byte[]> Pause(TimeSpan silence)
    {
        lock (_gate)
        {
            return PauseLocked(silence);
        }
    }

    private List<byte[]> PauseLocked(TimeSpan silence)
    {
        var packets = new List<byte[]>();
        if (_pendingCount > 0)
        {
            _pending.AsSpan(_pendingCount).Clear();
            packets.Add(Packetize(_encoder.Encode(_pending)));
            _pendingCount = 0;
        }

        _timestamp += (uint)(Math.Round(silence.TotalSeconds * 50) * SamplesPerFrame);
        _startOfTalkspurt = true;
        return packets;
    }

    private byte[] Packetize(byte[] opus)
    {
        var packet = new RtpPacket
        {
            PayloadType = (byte)_options.PayloadType,
            SequenceNumber = _sequence++,
            Timestamp = _timestamp,
            Ssrc = Ssrc,
            Marker = _startOfTalkspurt,
            Payload = opus,
        }.ToArray();
        _startOfTalkspurt = false;
        _timestamp += SamplesPerFrame;
        PacketsSent++;
        OctetsSent += opus.Length;
        return packet;
    }

    /// <summary>An SR for what was sent so far; <paramref name="now"/> maps to the next packet's timestamp.</summary>
    public RtcpSenderReport CreateSenderReport(DateTimeOffset now)
    {
        lock (_gate)
        {
            return new RtcpSenderReport
            {
                Ssrc = Ssrc,
                NtpTimestamp = Ntp.FromDateTime(now),
                RtpTimestamp = _timestamp,
                PacketCount = (uint)PacketsSent,
                OctetCount = (uint)OctetsSent,
            };
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _encoder.Dispose();
        }
    }
}
