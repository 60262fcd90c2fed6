using Neuro.WebRtc.Media.Rtcp;
using Neuro.WebRtc.Media.Rtp;
using Neuro.WebRtc.Media.Vp8;

namespace Neuro.WebRtc.Media.Video;

public sealed record VideoReceiverOptions
{
    /// <summary>The negotiated VP8 payload type; packets with another type (e.g. RTX) are ignored.</summary>
    public int PayloadType { get; init; } = 96;

    /// <summary>
    /// The sender's SSRC when signalling announced it (a=ssrc); null means take the first source seen, and switch to
    /// another only after the current one has been silent for <see cref="SourceSwitchSilence"/>.
    /// </summary>
    public uint? RemoteSsrc { get; init; }

    public TimeSpan SourceSwitchSilence { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Our SSRC, the sender SSRC of the RTCP we emit.</summary>
    public uint LocalSsrc { get; init; } = 1;

    /// <summary>SDES CNAME in our compound RTCP (RFC 3550 requires one in each compound packet).</summary>
    public string Cname { get; init; } = "neuro-webrtc";

    public VideoPixelFormat OutputFormat { get; init; } = VideoPixelFormat.Rgb24;

    public VideoJitterBufferOptions JitterBuffer { get; init; } = new();

    /// <summary>Least time between two PLIs while we wait for a keyframe.</summary>
    public TimeSpan PliInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Receiver reports go out this often from <see cref="VideoReceiver.OnTimer"/>.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(1);

    public int DecoderThreads { get; init; } = 1;

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

public sealed record VideoReceiverStats(
    long PacketsReceived,
    long PacketsIgnored,
    long FramesDecoded,
    long FramesDropped,
    long FramesSkippedWaitingForKeyFrame,
    long DecodeErrors,
    long NacksSent,
    long PlisSent,
    long ReportsSent);

/// <summary>
/// Receives one VP8 video source: plain (already SRTP-unprotected) RTP packets in, decoded frames out, plus the RTCP
/// the receiver owes the sender (NACK for gaps, PLI when a keyframe is needed, periodic RR). RTCP leaves through
/// <c>sendRtcp</c> as plain compound packets for the transport to protect. Calls are serialized by a lock; the
/// callbacks run on the caller's thread inside it, so they must not call back into the receiver.
/// </summary>
public sealed class VideoReceiver : IDisposable
{
    private readonly object _gate = new();
    private readonly VideoReceiverOptions _options;
    private readonly Action<VideoFrame> _onFrame;
    private readonly Action<byte[]> _sendRtcp;
    private readonly TimeProvider _time;
    private readonly long _ticksPerSecond;
    private readonly Vp8Decoder _decoder;
    private VideoJitterBuffer _buffer;
    private RtpReceiveStatistics? _stats;
    private bool _needKeyFrame = true;

    // Set when a loss or error proves we need a keyframe; at start-up we first wait for the sender's own keyframe.
    private bool _requestKeyFrame;
    private long? _lastPliAt;
    private long? _joinedAt;
    private long? _lastPacketAt;
    private long? _lastReportAt;
    private long _packetsReceived;
    private long _packetsIgnored;
    private long _framesDecoded;
    private long _framesDropped;
    private long _framesSkipped;
    private long _decodeErrors;
    private long _nacksSent;
    private long _plisSent;
    private long _reportsSent;

    public VideoReceiver(VideoReceiverOptions options, Action<VideoFrame> onFrame, Action<byte[]> sendRtcp)
    {
        _options = options;
        _onFrame = onFrame;
        _sendRtcp = sendRtcp;
        _time = options.Time;
        _ticksPerSecond = _time.TimestampFrequency;
        _decoder = new Vp8Decoder(options.OutputFormat, options.DecoderThreads);
        _buffer = NewBuffer();
    }

    /// <summary>The SSRC being received, learned from the first accepted packet.</summary>
    public uint? RemoteSsrc => _stats?.Ssrc;

    public bool WaitingForKeyFrame
    {
        get
        {
            lock (_gate)
            {
                return _needKeyFrame;
            }
        }
    }

    public VideoReceiverStats Stats
    {
        get
        {
            lock (_gate)
            {
                return new VideoReceiverStats(_packetsReceived, _packetsIgnored, _framesDecoded, _framesDropped, _framesSkipped,
                    _decodeErrors, _nacksSent, _plisSent, _reportsSent);
            }
        }
    }

    private VideoJitterBuffer NewBuffer() =>
        new(_options.JitterBuffer, p => Vp8Depacketizer.IsFrameStart(p.Span), p => Vp8Depacketizer.IsKeyFrameStart(p.Span), _ticksPerSecond);

    /// <summary>
    /// Takes one plain RTP packet. Returns null when it was accepted, or why it was not (malformed, other payload type
    /// or source). The bytes are copied, so the caller may reuse its receive buffer at once.
    /// </summary>
    public string? ReceiveRtp(ReadOnlySpan<byte> data)
    {
        // The jitter buffer holds packets until their frame completes; a private copy keeps them safe from a transport
        // that recycles its buffers. One copy of ~1.2 KB per packet is noise next to decoding.
        var parsed = RtpPacket.Parse(data.ToArray());
        lock (_gate)
        {
            if (!parsed.Ok)
            {
                _packetsIgnored++;
                return parsed.Error;
            }

            var packet = parsed.Value;
            if (packet.PayloadType != _options.PayloadType)
            {
                _packetsIgnored++;
                return $"payload type {packet.PayloadType} is not the video type {_options.PayloadType}";
            }

            var now = _time.GetTimestamp();
            if (_options.RemoteSsrc is { } expected && packet.Ssrc != expected)
            {
                _packetsIgnored++;
                return $"SSRC {packet.Ssrc:x8} is not the negotiated {expected:x8}";
            }

            if (_stats is not null && _stats.Ssrc != packet.Ssrc && _lastPacketAt is { } last && Elapsed(last, now) < _options.SourceSwitchSilence)
            {
                // Another source with our payload type while ours is live (e.g. a simulcast layer): not ours to decode.
                _packetsIgnored++;
                return $"SSRC {packet.Ssrc:x8} is not the source being received ({_stats.Ssrc:x8})";
            }

            _lastPacketAt = now;
            if (_stats is null || _stats.Ssrc != packet.Ssrc)
            {
                // A new source (first packet, or the sender switched SSRC): start afresh.
                _stats = new RtpReceiveStatistics(packet.Ssrc, 90000);
                _buffer = NewBuffer();
                _needKeyFrame = true;
                _requestKeyFrame = false;
                _joinedAt = now;
            }

            _packetsReceived++;
            _stats.OnPacket(packet.SequenceNumber, packet.Timestamp, now * 90000 / _ticksPerSecond);
            _buffer.Insert(packet);
            Process(now);
            return null;
        }
    }

    /// <summary>Takes one plain RTCP packet from the sender (SRs feed the LSR/DLSR of our reports). Returns an error or null.</summary>
    public string? ReceiveRtcp(ReadOnlyMemory<byte> data)
    {
        var parsed = RtcpCompound.Parse(data);
        if (!parsed.Ok)
        {
            return parsed.Error;
        }

        lock (_gate)
        {
            foreach (var packet in parsed.Value)
            {
                if (packet is RtcpSenderReport sr && _stats is not null && sr.Ssrc == _stats.Ssrc)
                {
                    _stats.OnSenderReport(sr, _time.GetTimestamp());
                }
                else if (packet is RtcpBye bye && _stats is not null && bye.Sources.Contains(_stats.Ssrc))
                {
                    // The source said goodbye: a new one may take over without waiting out the silence.
                    _lastPacketAt = null;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Drives time-based work: NACK retries, giving up on late frames, repeated PLIs and periodic receiver reports.
    /// Call it every 10-50 ms.
    /// </summary>
    public void OnTimer()
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            Process(now);
            if (_stats is not null && (_lastReportAt is null || Elapsed(_lastReportAt.Value, now) >= _options.ReportInterval))
            {
                _lastReportAt = now;
                _reportsSent++;
                _sendRtcp(RtcpCompound.Build(Report(now), Sdes()));
            }
        }
    }

    private TimeSpan Elapsed(long from, long to) => TimeSpan.FromSeconds((double)(to - from) / _ticksPerSecond);

    private RtcpReceiverReport Report(long now) => new()
    {
        Ssrc = _options.LocalSsrc,
        Reports = _stats is null ? [] : [_stats.CreateReportBlock(now, _ticksPerSecond)],
    };

    private RtcpSdes Sdes() => RtcpSdes.ForCname(_options.LocalSsrc, _options.Cname);

    private void Process(long now)
    {
        var frames = _buffer.Poll(now, out var dropped);
        if (dropped > 0)
        {
            _framesDropped += dropped;
            _needKeyFrame = true;
            _requestKeyFrame = true;
        }

        foreach (var frame in frames)
        {
            Decode(frame);
        }

        if (_buffer.Joining && _joinedAt is { } joined && Elapsed(joined, now) >= _options.JitterBuffer.MaxFrameWait)
        {
            // Joined mid-stream and no keyframe has come on its own: ask for one.
            _requestKeyFrame = true;
        }

        var lost = _buffer.TakeNacks(now);
        var feedback = new List<RtcpPacket>();
        if (lost.Count > 0 && _stats is not null)
        {
            _nacksSent++;
            feedback.Add(new RtcpNack { SenderSsrc = _options.LocalSsrc, MediaSsrc = _stats.Ssrc, LostSequenceNumbers = lost });
        }

        if (_needKeyFrame && _requestKeyFrame && _stats is not null && (_lastPliAt is null || Elapsed(_lastPliAt.Value, now) >= _options.PliInterval))
        {
            _lastPliAt = now;
            _plisSent++;
            feedback.Add(new RtcpPli { SenderSsrc = _options.LocalSsrc, MediaSsrc = _stats.Ssrc });
        }

        if (feedback.Count > 0)
        {
            // Feedback rides in a full compound packet (RR + SDES first) so peers without rtcp-rsize accept it too.
            _sendRtcp(RtcpCompound.Build([Report(now), Sdes(), .. feedback]));
        }
    }

    private void Decode(AssembledFrame frame)
    {
        var assembled = Vp8Depacketizer.Assemble(frame.Payloads);
        if (!assembled.Ok)
        {
            _decodeErrors++;
            _needKeyFrame = true;
            _requestKeyFrame = true;
            return;
        }

        var isKey = Vp8FrameInfo.Read(assembled.Value) is { IsKeyFrame: true };
        if (_needKeyFrame && !isKey)
        {
            // Inter frames after a loss reference pictures we do not have; decoding them would show garbage.
            _framesSkipped++;
            _requestKeyFrame = true;
            return;
        }

        var picture = _decoder.Decode(assembled.Value, out var error);
        if (error is not null)
        {
            _decodeErrors++;
            _needKeyFrame = true;
            _requestKeyFrame = true;
            return;
        }

        if (isKey)
        {
            _needKeyFrame = false;
            _requestKeyFrame = false;
        }

        if (picture is not null)
        {
            _framesDecoded++;
            _onFrame(new VideoFrame(picture.Width, picture.Height, picture.Format, picture.Pixels)
            {
                RtpTimestamp = frame.RtpTimestamp,
                IsKeyFrame = isKey,
            });
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _decoder.Dispose();
        }
    }
}
