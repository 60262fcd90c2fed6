namespace Neuro.WebRtc.Sctp;

/// <summary>Which side sends INIT. In WebRTC the DTLS client normally does; the server side still answers an INIT,
/// and both sides sending INIT at once (simultaneous open, RFC 9260 §5.2.1) also ends in one association.</summary>
public enum SctpRole
{
    /// <summary>Sends INIT at start.</summary>
    Client,

    /// <summary>Waits for the peer's INIT.</summary>
    Server,
}

/// <summary>Association settings. Defaults follow RFC 9260 §16 and RFC 8831 (port 5000, 256 KiB messages).</summary>
public sealed class SctpOptions
{
    /// <summary>SCTP port on both sides; SDP's <c>a=sctp-port</c> (RFC 8841), 5000 unless the peer said otherwise.</summary>
    public ushort LocalPort { get; init; } = 5000;

    public ushort RemotePort { get; init; } = 5000;

    /// <summary>Largest user message we send: the peer's SDP <c>a=max-message-size</c> (RFC 8841 §6; its 0 means
    /// "no limit", for which a large value will do). Larger sends fail with <see cref="SctpMessageTooLargeException"/>.</summary>
    public int MaxMessageSize { get; init; } = 256 * 1024;

    /// <summary>Largest user message we accept (what our SDP advertises as <c>a=max-message-size</c>); larger
    /// reassembled messages are dropped. Keep it well below <see cref="ReceiveBufferSize"/>.</summary>
    public int MaxReceiveMessageSize { get; init; } = 256 * 1024;

    /// <summary>Largest SCTP packet (common header included). WebRTC keeps packets ~1200 bytes so that DTLS, UDP and
    /// IP headers still fit a 1280-byte IPv6 minimum MTU; it is also capped by the transport's datagram size.</summary>
    public int MaxPacketSize { get; init; } = 1200;

    /// <summary>Receive buffer: what we advertise as a_rwnd when empty, and the bound on bytes held for the reader.</summary>
    public int ReceiveBufferSize { get; init; } = 1024 * 1024;

    /// <summary>Bytes queued or in flight before <c>SendAsync</c> waits (back-pressure to the writer).</summary>
    public int SendBufferSize { get; init; } = 1024 * 1024;

    public ushort OutboundStreams { get; init; } = 1024;
    public ushort InboundStreams { get; init; } = 1024;

    public TimeSpan RtoInitial { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan RtoMin { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan RtoMax { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Association.Max.Retrans: consecutive timeouts after which the peer counts as gone.</summary>
    public int MaxRetransmissions { get; init; } = 10;

    /// <summary>Max.Init.Retransmits: INIT / COOKIE ECHO attempts before giving up.</summary>
    public int MaxInitRetransmissions { get; init; } = 8;

    /// <summary>Delayed SACK timer (RFC 9260 §6.2: at most 500 ms; 200 ms is the usual default).</summary>
    public TimeSpan DelayedAckTime { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>HB.interval; idle associations probe the peer this often (plus RTO), <see cref="TimeSpan.Zero"/> = off.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Valid.Cookie.Life.</summary>
    public TimeSpan CookieLifetime { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Granularity of the association's timers.</summary>
    public TimeSpan TimerTick { get; init; } = TimeSpan.FromMilliseconds(10);

    internal void Validate()
    {
        if (MaxPacketSize < 256) throw new ArgumentOutOfRangeException(nameof(MaxPacketSize), "must be at least 256 bytes");
        if (MaxMessageSize < 1) throw new ArgumentOutOfRangeException(nameof(MaxMessageSize));
        if (MaxReceiveMessageSize < 1 || MaxReceiveMessageSize > ReceiveBufferSize)
            throw new ArgumentOutOfRangeException(nameof(MaxReceiveMessageSize), "must be positive and fit the receive buffer");
        if (ReceiveBufferSize < 4 * MaxPacketSize)
            throw new ArgumentOutOfRangeException(nameof(ReceiveBufferSize), "must hold at least four packets");
        if (OutboundStreams == 0 || InboundStreams == 0) throw new ArgumentOutOfRangeException(nameof(OutboundStreams));
    }
}

/// <summary>Association states (RFC 9260 §4).</summary>
public enum SctpState
{
    Closed,
    CookieWait,
    CookieEchoed,
    Established,
    ShutdownPending,
    ShutdownSent,
    ShutdownReceived,
    ShutdownAckSent,
}

/// <summary>Partial reliability of one message (RFC 3758 PR-SCTP): at most one limit is normally set.</summary>
public readonly record struct SctpPartialReliability(int? MaxRetransmits, TimeSpan? Lifetime)
{
    public static SctpPartialReliability Reliable => default;
}

/// <summary>A user message is larger than the negotiated maximum message size.</summary>
public sealed class SctpMessageTooLargeException(int size, int max)
    : ArgumentException($"message of {size} bytes exceeds the maximum message size of {max} bytes")
{
    public int Size { get; } = size;
    public int MaxMessageSize { get; } = max;
}

/// <summary>The association is closed (shut down, aborted or failed); the message says why.</summary>
public sealed class SctpAssociationClosedException(string reason) : InvalidOperationException($"SCTP association closed: {reason}")
{
    public string Reason { get; } = reason;
}
