using System.Security.Cryptography;
using Neuro.WebRtc.Media.Rtcp;
using Neuro.WebRtc.Media.Rtp;
using Neuro.WebRtc.Media.Vp8;

namespace Neuro.WebRtc.Media.Video;

public sealed record VideoSenderOptions
{
    public required int Width { get; init; }

    public required int Height { get; init; }

    public int PayloadType { get; init; } = 96;

    /// <summary>Null picks a random SSRC.</summary>
    public uint? Ssrc { get; init; }

    public int BitrateKbps { get; init; } = 1500;

    public int FramesPerSecond { get; init; } = 30;

    public int KeyFrameInterval { get; init; } = 300;

    /// <summary>Largest RTP payload; 1200 leaves room for SRTP, UDP/IP and TURN headers under a 1500-byte MTU.</summary>
    public int MaxPayloadSize { get; init; } = 1200;

    /// <summary>Null picks a random first sequence number, as RFC 3550 asks.</summary>
    public ushort? InitialSequenceNumber { get; init; }

    /// <summary>Packets kept for answering NACKs.</summary>
    public int HistorySize { get; init; } = 512;
}

/// <summary>
/// Sends one VP8 video source: frames in, plain RTP packets out (for the transport to protect). Answers RTCP
/// feedback: a NACK resends the packets still in history, a PLI makes the next frame a keyframe. Frames and RTCP may
/// come from different threads (a capture loop and the transport's receive loop), so calls are serialized by a lock.
/// </summary>
public sealed class VideoSender : IDisposable
{
    private readonly object _gate = new();
    private readonly VideoSenderOptions _options;
    private readonly Vp8Encoder _encoder;
    private readonly Vp8Packetizer _packetizer;
    private readonly Dictionary<ushort, byte[]> _history = [];
    private readonly Queue<ushort> _historyOrder = new();
    private ushort _sequence;
    private bool _keyFrameRequested;

    public VideoSender(VideoSenderOptions options)
    {
        _options = options;
        Ssrc = options.Ssrc ?? (uint)RandomNumberGenerator.GetInt32(1, int.MaxValue);
        _sequence = options.InitialSequenceNumber ?? (ushort)RandomNumberGenerator.GetInt32(0, 1 << 16);
        _encoder = new Vp8Encoder(new Vp8EncoderOptions
        {
            Width = options.Width,
            Height = options.Height,
            BitrateKbps = options.BitrateKbps,
            FramesPerSecond = options.FramesPerSecond,
            KeyFrameInterval = options.KeyFrameInterval,
        });
        _packetizer = new Vp8Packetizer(options.MaxPayloadSize, RandomNumberGenerator.GetInt32(0, 1 << 15));
    }

    public uint Ssrc { get; }

    public long PacketsSent { get; private set; }

    public long OctetsSent { get; private set; }

    public long Retransmissions { get; private set; }

    public long KeyFramesRequested { get; private set; }

    /// <summary>Encodes and packetizes one frame with the given 90 kHz timestamp. Empty when the encoder produced nothing.</summary>
    public List<byte[]> SendFrame(VideoFrame frame, uint rtpTimestamp, bool forceKeyFrame = false)
    {
        lock (_gate)
        {
            var encoded = _encoder.Encode(frame, forceKeyFrame || _keyFrameRequested);
            _keyFrameRequested = false;
            return encoded is null ? [] : PacketizeLocked(encoded.Data, rtpTimestamp);
        }
    }

    /// <summary>Packetizes an already encoded VP8 frame.</summary>
    public List<byte[]> PacketizeEncoded(ReadOnlySpan<byte> vp8Frame, uint rtpTimestamp)
    {
        lock (_gate)
        {
            return PacketizeLocked(vp8Frame, rtpTimestamp);
        }
    }

    private List<byte[]> PacketizeLocked(ReadOnlySpan<byte> vp8Frame, uint rtpTimestamp)
    {
        var payloads = _packetizer.Packetize(vp8Frame);
        var packets = new List<byte[]>(payloads.Count);
        for (var i = 0; i < payloads.Count; i++)
        {
            var packet = new RtpPacket
            {
                PayloadType = (byte)_options.PayloadType,
                SequenceNumber = _sequence++,
                Timestamp = rtpTimestamp,
                Ssrc = Ssrc,
                Marker = i == payloads.Count - 1,
                Payload = payloads[i],
            }.ToArray();
            Remember(packet);
            PacketsSent++;
            OctetsSent += payloads[i].Length;
            packets.Add(packet);
        }

        return packets;
    }

    private void Remember(byte[] packet)
    {
        var seq = (ushort)((packet[2] << 8) | packet[3]);
        if (_history.Count >= _options.HistorySize && _historyOrder.TryDequeue(out var oldest))
        {
            _history.Remove(oldest);
        }

        _history[seq] = packet;
        _historyOrder.Enqueue(seq);
    }

    /// <summary>
    /// Handles an RTCP packet from the receiver. Returns the packets to resend for NACKs (possibly none). Malformed
    /// RTCP is ignored.
    /// </summary>
    public List<byte[]> ReceiveRtcp(ReadOnlyMemory<byte> data)
    {
        var resend = new List<byte[]>();
        var parsed = RtcpCompound.Parse(data);
        if (!parsed.Ok)
        {
            return resend;
        }

        lock (_gate)
        {
            HandleFeedback(parsed.Value, resend);
        }

        return resend;
    }

    private void HandleFeedback(IReadOnlyList<RtcpPacket> packets, List<byte[]> resend)
    {
        foreach (var packet in packets)
        {
            switch (packet)
            {
                case RtcpNack nack when nack.MediaSsrc == Ssrc:
                    foreach (var seq in nack.LostSequenceNumbers)
                    {
                        if (_history.TryGetValue(seq, out var original))
                        {
                            Retransmissions++;
                            resend.Add(original);
                        }
                    }

                    break;
                case RtcpPli pli when pli.MediaSsrc == Ssrc:
                    KeyFramesRequested++;
                    _keyFrameRequested = true;
                    break;
            }
        }
    }

    /// <summary>An SR describing what we sent so far, for the periodic RTCP the transport sends.</summary>
    public RtcpSenderReport CreateSenderReport(DateTimeOffset now, uint rtpTimestamp)
    {
        lock (_gate)
        {
            return new RtcpSenderReport
            {
                Ssrc = Ssrc,
                NtpTimestamp = Ntp.FromDateTime(now),
                RtpTimestamp = rtpTimestamp,
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

/// <summary>NTP timestamps (RFC 5905 format) as RTCP SRs carry them.</summary>
public static class Ntp
{
    private static readonly DateTimeOffset Epoch = new(1900, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static ulong FromDateTime(DateTimeOffset time)
    {
        var ticks = (time - Epoch).Ticks;
        var seconds = (ulong)(ticks / TimeSpan.TicksPerSecond);
        var fraction = (ulong)(ticks % TimeSpan.TicksPerSecond) * (1UL << 32) / TimeSpan.TicksPerSecond;
        return (seconds << 32) | fraction;
    }
}
