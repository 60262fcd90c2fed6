using Neuro.WebRtc.Media.Rtcp;

namespace Neuro.WebRtc.Media.Rtp;

/// <summary>Turns 16-bit RTP sequence numbers into a monotonic 64-bit count, choosing the nearest wrap each time.</summary>
public sealed class SequenceUnwrapper
{
    private long? _last;

    public void Reset() => _last = null;

    public long Unwrap(ushort sequence)
    {
        var extended = Peek(sequence);
        if (_last is null || extended > _last)
        {
            _last = extended;
        }

        return extended;
    }

    /// <summary>What <see cref="Unwrap"/> would return, without moving the reference point.</summary>
    public long Peek(ushort sequence)
    {
        if (_last is not { } last)
        {
            return sequence;
        }

        var delta = (short)(ushort)(sequence - (ushort)last);
        return last + delta;
    }
}

/// <summary>
/// Per-source receive statistics for RTCP reception reports: the sequence bookkeeping of RFC 3550 A.1, the loss
/// figures of A.3 and the interarrival jitter of A.8 (in RTP timestamp units). Not thread-safe.
/// </summary>
public sealed class RtpReceiveStatistics
{
    private const int MaxDropout = 3000;
    private const int MaxMisorder = 100;
    private const int SequenceModulus = 1 << 16;

    private bool _initialized;
    private ushort _maxSeq;
    private uint _cycles;
    private uint _baseSeq;
    private uint _badSeq = SequenceModulus + 1;
    private long _received;
    private long _expectedPrior;
    private long _receivedPrior;
    private long _lastTransit;
    private bool _haveTransit;
    private long _jitterQ4; // jitter scaled by 16, the fixed-point form A.8 suggests
    private uint _lastSrCompactNtp;
    private long? _lastSrArrivalTicks;

    public RtpReceiveStatistics(uint ssrc, int clockRate)
    {
        Ssrc = ssrc;
        ClockRate = clockRate;
    }

    public uint Ssrc { get; }

    public int ClockRate { get; }

    public long PacketsReceived => _received;

    public uint ExtendedHighestSequence => _cycles + _maxSeq;

    /// <summary>Interarrival jitter in RTP timestamp units.</summary>
    public uint Jitter => (uint)(_jitterQ4 >> 4);

    public long CumulativeLost => _initialized ? (long)ExtendedHighestSequence - _baseSeq + 1 - _received : 0;

    /// <summary>
    /// Records one packet. <paramref name="arrival"/> is the arrival time in RTP clock units on any monotonic base
    /// (only differences matter).
    /// </summary>
    public void OnPacket(ushort sequence, uint rtpTimestamp, long arrival)
    {
        if (!_initialized)
        {
            InitSequence(sequence);
            _initialized = true;
        }
        else if (!UpdateSequence(sequence))
        {
            return;
        }

        _received++;

        // A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si); J += (|D| - J) / 16.
        var transit = arrival - rtpTimestamp;
        if (_haveTransit)
        {
            var d = Math.Abs(transit - _lastTransit);
            _jitterQ4 += d - ((_jitterQ4 + 8) >> 4);
        }

        _lastTransit = transit;
        _haveTransit = true;
    }

    private void InitSequence(ushort seq)
    {
        _baseSeq = seq;
        _maxSeq = seq;
        _badSeq = SequenceModulus + 1;
        _cycles = 0;
        _received = 0;
        _expectedPrior = 0;
        _receivedPrior = 0;
    }

    /// <summary>A.1's update_seq without probation (SRTP already authenticates the source).</summary>
    private bool UpdateSequence(ushort seq)
    {
        var delta = (ushort)(seq - _maxSeq);
        if (delta < MaxDropout)
        {
            if (seq < _maxSeq)
            {
                _cycles += SequenceModulus;
            }

            _maxSeq = seq;
        }
        else if (delta <= SequenceModulus - MaxMisorder)
        {
            // A very large jump: believe it only when the next packet continues from it (the sender restarted).
            if (seq == _badSeq)
            {
                InitSequence(seq);
            }
            else
            {
                _badSeq = (uint)((seq + 1) & (SequenceModulus - 1));
                return false;
            }
        }

        // Otherwise a duplicate or reordered packet: counted as received, as A.3 notes.
        return true;
    }

    /// <summary>Remembers an SR from this source so the next report can carry LSR and DLSR.</summary>
    public void OnSenderReport(RtcpSenderReport report, long arrivalTicks)
    {
        _lastSrCompactNtp = report.CompactNtp;
        _lastSrArrivalTicks = arrivalTicks;
    }

    /// <summary>
    /// The report block for this source as of now; also starts the next interval for the fraction-lost figure.
    /// <paramref name="nowTicks"/> and <paramref name="ticksPerSecond"/> are from the same clock as the SR arrival.
    /// </summary>
    public RtcpReportBlock CreateReportBlock(long nowTicks, long ticksPerSecond)
    {
        var expected = _initialized ? (long)ExtendedHighestSequence - _baseSeq + 1 : 0;
        var lost = expected - _received;
        var expectedInterval = expected - _expectedPrior;
        var receivedInterval = _received - _receivedPrior;
        _expectedPrior = expected;
        _receivedPrior = _received;
        var lostInterval = expectedInterval - receivedInterval;
        var fraction = expectedInterval == 0 || lostInterval <= 0 ? 0 : (byte)Math.Min(255, (lostInterval << 8) / expectedInterval);
        uint dlsr = 0;
        if (_lastSrArrivalTicks is { } srAt)
        {
            dlsr = (uint)Math.Min(uint.MaxValue, (nowTicks - srAt) * 65536 / ticksPerSecond);
        }

        return new RtcpReportBlock(
            Ssrc,
            (byte)fraction,
            (int)Math.Clamp(lost, -0x800000, 0x7FFFFF),
            ExtendedHighestSequence,
            Jitter,
            _lastSrArrivalTicks is null ? 0 : _lastSrCompactNtp,
            dlsr);
    }
}
