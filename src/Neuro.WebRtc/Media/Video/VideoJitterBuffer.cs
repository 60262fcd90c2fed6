using Neuro.WebRtc.Media.Rtp;

namespace Neuro.WebRtc.Media.Video;

public sealed record VideoJitterBufferOptions
{
    /// <summary>How long the oldest incomplete frame may hold up the ones behind it before we give up on it.</summary>
    public TimeSpan MaxFrameWait { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Packets held at most; beyond that the oldest frame is dropped. Bounds memory at about this x MTU.</summary>
    public int MaxPackets { get; init; } = 1024;

    /// <summary>Gap in sequence numbers beyond which we assume the sender restarted rather than NACK thousands of packets.</summary>
    public int MaxGap { get; init; } = 1000;

    public TimeSpan NackRetryInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    public int MaxNackRetries { get; init; } = 5;

    /// <summary>Sequence numbers per NACK round; the rest wait for the next one, keeping the RTCP packet under the MTU.</summary>
    public int MaxNacksPerRound { get; init; } = 100;
}

/// <summary>A complete frame: its packets' payloads in sequence order.</summary>
public sealed record AssembledFrame(uint RtpTimestamp, long FirstSequence, long LastSequence, IReadOnlyList<ReadOnlyMemory<byte>> Payloads);

/// <summary>
/// Reorders RTP packets of one video source and hands out complete frames in order. A frame is complete when its
/// packets run without a gap from a frame-start packet (codec-specific, e.g. VP8 S=1/PID=0) to the packet with the
/// marker bit. Gaps become NACK candidates; a frame still incomplete after <see cref="VideoJitterBufferOptions.MaxFrameWait"/>
/// is dropped, which the caller learns from <see cref="FramesDropped"/> (the decoder then needs a keyframe).
/// Not thread-safe. Times are <see cref="TimeProvider"/> timestamps.
/// </summary>
public sealed class VideoJitterBuffer
{
    private readonly VideoJitterBufferOptions _options;
    private readonly Func<ReadOnlyMemory<byte>, bool> _isFrameStart;
    private readonly Func<ReadOnlyMemory<byte>, bool> _isKeyFrameStart;
    private readonly SortedDictionary<long, RtpPacket> _packets = [];
    private readonly SortedDictionary<long, NackState> _missing = [];
    private readonly SequenceUnwrapper _unwrapper = new();
    private readonly long _ticksPerSecond;
    private long? _next;
    private long? _highest;
    private long? _lowest;
    private RtpPacket? _restartCandidate;
    private long? _headWaitingSince;

    /// <param name="isKeyFrameStart">
    /// Where a stream may be joined: until the first frame is handed out only keyframes qualify, because nothing before
    /// one can be decoded and committing to an inter frame would throw away a keyframe that is merely reordered.
    /// </param>
    public VideoJitterBuffer(
        VideoJitterBufferOptions options, Func<ReadOnlyMemory<byte>, bool> isFrameStart, Func<ReadOnlyMemory<byte>, bool> isKeyFrameStart, long ticksPerSecond)
    {
        _options = options;
        _isFrameStart = isFrameStart;
        _isKeyFrameStart = isKeyFrameStart;
        _ticksPerSecond = ticksPerSecond;
    }

    public int PacketCount => _packets.Count;

    public int MissingCount => _missing.Count;

    /// <summary>Frames given up on (incomplete for too long, or pushed out by the packet bound), cumulative.</summary>
    public long FramesDropped { get; private set; }

    public long PacketsDiscarded { get; private set; }

    private sealed class NackState
    {
        public long? LastSentAt;
        public int Retries;
    }

    /// <summary>Adds a packet. Returns false for duplicates and for packets older than what was already handed out.</summary>
    public bool Insert(RtpPacket packet)
    {
        if (_highest is { } high && Math.Abs(_unwrapper.Peek(packet.SequenceNumber) - high) > _options.MaxGap)
        {
            // Far from where the stream is. Believe it only when the next packet follows on (as RFC 3550 A.1 does):
            // then the sender restarted its numbering or we were cut off for long, and nothing buffered is useful.
            // A lone stray packet is dropped instead of wiping the buffer.
            if (_restartCandidate is { } candidate && (ushort)(candidate.SequenceNumber + 1) == packet.SequenceNumber)
            {
                Reset();
                _unwrapper.Reset();
                _restartCandidate = null;
                Insert(candidate);
                return Insert(packet);
            }

            _restartCandidate = packet;
            PacketsDiscarded++;
            return false;
        }

        _restartCandidate = null;
        var ext = _unwrapper.Unwrap(packet.SequenceNumber);

        _missing.Remove(ext);
        if ((_next is { } next && ext < next) || _packets.ContainsKey(ext))
        {
            PacketsDiscarded++;
            return false;
        }

        if (_highest is { } highest)
        {
            if (ext > highest + 1)
            {
                for (var s = highest + 1; s < ext; s++)
                {
                    _missing[s] = new NackState();
                }
            }
        }

        if (_highest is null || ext > _highest)
        {
            _highest = ext;
        }

        // While joining, packets can arrive below the first one we saw; the numbers between are missing too.
        if (_next is null && _lowest is { } lowest && ext < lowest - 1)
        {
            for (var s = ext + 1; s < lowest; s++)
            {
                if (!_packets.ContainsKey(s))
                {
                    _missing[s] = new NackState();
                }
            }
        }

        if (_lowest is null || ext < _lowest)
        {
            _lowest = ext;
        }

        _packets[ext] = packet;
        return true;
    }

    private void Reset()
    {
        PacketsDiscarded += _packets.Count;
        _packets.Clear();
        _missing.Clear();
        _next = null;
        _highest = null;
        _lowest = null;
        _headWaitingSince = null;
    }

    /// <summary>Sequence numbers to NACK now: newly missing ones and ones whose retry interval has passed.</summary>
    public List<ushort> TakeNacks(long now)
    {
        var list = new List<ushort>();
        var retry = (long)(_options.NackRetryInterval.TotalSeconds * _ticksPerSecond);
        List<long>? exhausted = null;
        foreach (var (seq, state) in _missing)
        {
            if (state.LastSentAt is { } sent && now - sent < retry)
            {
                continue;
            }

            if (state.Retries >= _options.MaxNackRetries)
            {
                (exhausted ??= []).Add(seq);
                continue;
            }

            if (list.Count >= _options.MaxNacksPerRound)
            {
                break;
            }

            state.Retries++;
            state.LastSentAt = now;
            list.Add((ushort)seq);
        }

        foreach (var seq in exhausted ?? [])
        {
            _missing.Remove(seq);
        }

        return list;
    }

    /// <summary>
    /// Hands out every frame that is complete and next in order, dropping a head frame that has waited too long.
    /// <paramref name="dropped"/> counts frames given up on during this call.
    /// </summary>
    public List<AssembledFrame> Poll(long now, out int dropped)
    {
        dropped = 0;
        var frames = new List<AssembledFrame>();
        var maxWait = (long)(_options.MaxFrameWait.TotalSeconds * _ticksPerSecond);
        while (_packets.Count > 0)
        {
            long head;
            if (_next is { } next)
            {
                head = next;
            }
            else
            {
                // Joining a stream: the earliest frame start we hold is the candidate, but we do not commit to it (or
                // discard what lies before it) until it completes, since an earlier frame's start may still arrive.
                var start = FindJoinPoint();
                if (start is null)
                {
                    if (_packets.Count > _options.MaxPackets)
                    {
                        // Keep the newer half: a keyframe's first packets may be among them.
                        DiscardBelow(_packets.Keys.ElementAt(_packets.Count / 2));
                    }

                    break;
                }

                head = start.Value;
            }

            if (_next is not null && _packets.TryGetValue(head, out var filler) && filler.Payload.IsEmpty)
            {
                // Padding-only packets (bandwidth probes, RFC 3550 §5.1 P bit) share the media numbering between
                // frames; step over them instead of waiting for a frame that will never start there.
                _packets.Remove(head);
                _next = head + 1;
                _headWaitingSince = null;
                continue;
            }

            var frame = TryAssemble(head);
            if (frame is not null)
            {
                frames.Add(frame);
                DiscardBelow(frame.LastSequence + 1);
                _next = frame.LastSequence + 1;
                _headWaitingSince = null;
                continue;
            }

            _headWaitingSince ??= now;
            if (now - _headWaitingSince.Value < maxWait && _packets.Count <= _options.MaxPackets)
            {
                break;
            }

            // Give up on the head frame: skip to the next frame start that is not part of it.
            _packets.TryGetValue(head, out var headPacket);
            var nextStart = FindFrameStart(head + 1, headPacket?.Timestamp);
            dropped++;
            FramesDropped++;
            _headWaitingSince = now;
            if (nextStart is null)
            {
                if (_packets.Count > _options.MaxPackets)
                {
                    DiscardBelow(_packets.Keys.Last() + 1);
                    _next = null;
                }
                else
                {
                    // Nothing to skip to yet: forget the head's packets and wait for a new frame start.
                    DiscardBelow((_highest ?? head) + 1);
                    _next = (_highest ?? head) + 1;
                }

                break;
            }

            DiscardBelow(nextStart.Value);
            _next = nextStart;
        }

        return frames;
    }

    /// <summary>True until the first frame has been handed out (or after a restart): no keyframe yet.</summary>
    public bool Joining => _next is null;

    private long? FindJoinPoint()
    {
        foreach (var (seq, packet) in _packets)
        {
            if (_isKeyFrameStart(packet.Payload))
            {
                return seq;
            }
        }

        return null;
    }

    private long? FindFrameStart(long from, uint? excludeTimestamp)
    {
        foreach (var (seq, packet) in _packets)
        {
            if (seq >= from && packet.Timestamp != excludeTimestamp && _isFrameStart(packet.Payload))
            {
                return seq;
            }
        }

        return null;
    }

    private AssembledFrame? TryAssemble(long first)
    {
        if (!_packets.TryGetValue(first, out var head) || !_isFrameStart(head.Payload))
        {
            return null;
        }

        var payloads = new List<ReadOnlyMemory<byte>> { head.Payload };
        var seq = first;
        var packet = head;
        while (!packet.Marker)
        {
            if (!_packets.TryGetValue(seq + 1, out var following))
            {
                return null;
            }

            if (following.Timestamp != head.Timestamp)
            {
                // The sender left the marker off; a new timestamp still proves the frame ended.
                break;
            }

            seq++;
            packet = following;
            payloads.Add(packet.Payload);
        }

        return new AssembledFrame(head.Timestamp, first, seq, payloads);
    }

    private void DiscardBelow(long bound)
    {
        while (_packets.Count > 0)
        {
            var first = _packets.Keys.First();
            if (first >= bound)
            {
                break;
            }

            _packets.Remove(first);
        }

        while (_missing.Count > 0)
        {
            var first = _missing.Keys.First();
            if (first >= bound)
            {
                break;
            }

            _missing.Remove(first);
        }
    }
}
