using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Threading.Channels;

namespace Neuro.WebRtc.Sctp;

/// <summary>A received user message, handed to the upper layer on the association's loop.</summary>
internal readonly record struct SctpIncomingMessage(ushort StreamId, uint PayloadProtocolId, byte[] Data, bool Unordered);

/// <summary>Why an association ended.</summary>
public sealed record SctpCloseReason(string Reason, bool Graceful);

/// <summary>Counters for tests and benchmarks; a snapshot, read without locking.</summary>
public sealed record SctpStatistics(
    long PacketsSent, long PacketsReceived, long PacketsDropped, long DataChunksSent, long Retransmissions,
    long FastRetransmissions, long Timeouts, int CongestionWindow, int SlowStartThreshold, int PeerReceiverWindow,
    double SmoothedRttMs, double RtoMs, int ReceiveBufferHeld, int SendBufferHeld, int MaxReceiveBufferHeld,
    long AbandonedMessages, long ForwardTsnsSent, long OversizedMessagesDropped);

/// <summary>
/// One SCTP association (RFC 9260) over an <see cref="IDatagramTransport"/>, as WebRTC uses it (RFC 8261): one
/// packet per datagram, no IP addresses, a single path.
/// </summary>
/// <remarks>
/// All protocol state lives on one loop task fed by a channel of events (received datagrams, sends, timer ticks,
/// reader credit), so the state machine needs no locks and is processed in a single, well-defined order.
/// Simplifications, all allowed by the RFC or harmless over DTLS: no multi-homing; no peer restart (an INIT on an
/// established association is dropped: the DTLS session would be new anyway); chunks are never bundled with
/// COOKIE ECHO; a stale cookie is refused with ERROR but the client does not retry with a Cookie Preservative; we
/// never renege on gap-acked data, and treat the peer's gap acks as final too.
/// </remarks>
public sealed class SctpAssociation : IAsyncDisposable
{
    private readonly IDatagramTransport _transport;
    private readonly SctpOptions _options;
    private readonly Channel<LoopEvent> _events = Channel.CreateUnbounded<LoopEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _established = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<SctpCloseReason> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _cookieSecret = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _packetBuffer;
    private readonly int _maxPacket;
    private readonly int _maxDataPayload;
    private const int MaxQueuedPackets = 4096;
    private Task? _loopTask, _receiveTask, _tickTask;
    private int _queuedPackets;
    private int _tickQueued;
    private volatile SctpState _state = SctpState.Closed;

    // Handshake.
    private uint _myTag, _peerTag, _myInitialTsn;
    private int _initRetries;
    private byte[]? _cookieToEcho;
    private long _t1Deadline = long.MaxValue;

    // Sending.
    private uint _nextTsn;
    private uint _lastCumAckReceived;
    private readonly Queue<OutboundMessage> _pending = new();
    private readonly List<OutstandingChunk> _outstanding = new();
    private readonly Queue<SendRequest> _sendWaiters = new();
    private ushort[] _nextSsn = [];
    private int _pendingBytes, _outstandingBytes, _flightSize;
    private int _cwnd, _ssthresh, _partialBytesAcked, _peerRwnd;
    private bool _inFastRecovery, _fastRetransmitNow, _forwardTsnNow;
    private uint _fastRecoveryExit;
    private long _t3Deadline = long.MaxValue;
    private int _errorCount;
    private uint? _rttProbeTsn;
    private long _rttProbeSent;
    private double _srtt, _rttvar, _rto;
    private bool _haveRtt;
    private ushort _outboundStreams, _inboundStreams;
    private bool _peerSupportsForwardTsn, _peerSupportsReconfig;

    // Receiving.
    private uint _cumTsnReceived, _highestTsnReceived;
    private readonly HashSet<uint> _receivedAbove = new();
    private readonly Dictionary<uint, SctpDataChunk> _fragments = new();
    private readonly Dictionary<ushort, InboundStream> _inStreams = new();
    private readonly List<uint> _duplicates = new();
    private int _bytesHeld, _maxBytesHeld;
    private int _packetsSinceSack;
    private bool _sackNow;
    private long _sackDeadline = long.MaxValue;
    private uint _lastAdvertisedRwnd;

    // Shutdown, heartbeat, stream reset.
    private long _t2Deadline = long.MaxValue;
    private TaskCompletionSource? _shutdownDone;
    private long _lastSendTime, _heartbeatDeadline = long.MaxValue;
    private bool _heartbeatOutstanding;
    private uint _reconfigRequestSeq, _peerReconfigExpected;
    private readonly List<ushort> _streamsToReset = new();
    private SctpOutgoingResetRequest? _resetInFlight;
    private long _reconfigDeadline = long.MaxValue;
    private SctpReconfigResponse? _reconfigResponseToSend;

    // Statistics.
    private long _abandonedMessages, _forwardTsnsSent, _oversizedDropped;
    private long _packetsSent, _packetsReceived, _packetsDropped, _dataChunksSent, _retransmissions, _fastRetransmissions, _timeouts;

    private SctpAssociation(IDatagramTransport transport, SctpRole role, SctpOptions options)
    {
        options.Validate();
        _transport = transport;
        _options = options;
        Role = role;
        _maxPacket = Math.Min(options.MaxPacketSize, transport.MaxDatagramSize);
        _maxDataPayload = _maxPacket - SctpPacket.CommonHeaderLength - SctpDataChunk.HeaderLength;
        _packetBuffer = new byte[_maxPacket];
        _rto = options.RtoInitial.TotalMilliseconds;
        _myTag = RandomNonZero();
        _myInitialTsn = RandomNonZero();
        _nextTsn = _myInitialTsn;
        _lastCumAckReceived = _myInitialTsn - 1;
        _reconfigRequestSeq = _myInitialTsn;
        _cwnd = Math.Min(4 * _maxPacket, Math.Max(2 * _maxPacket, 4380));
        _ssthresh = int.MaxValue;
    }

    /// <summary>
    /// Creates the association and starts it: a <see cref="SctpRole.Client"/> sends INIT at once, a
    /// <see cref="SctpRole.Server"/> waits for one. The association reads the transport from now on; it never
    /// disposes it (the DTLS session outlives or is closed by its owner).
    /// </summary>
    public static SctpAssociation Start(IDatagramTransport transport, SctpRole role, SctpOptions? options = null)
    {
        var association = Create(transport, role, options);
        association.Run();
        return association;
    }

    /// <summary>Creates without starting, so an upper layer can attach its handlers before any packet is read.</summary>
    internal static SctpAssociation Create(IDatagramTransport transport, SctpRole role, SctpOptions? options) =>
        new(transport, role, options ?? new SctpOptions());

    public SctpRole Role { get; }
    public SctpState State => _state;
    public SctpOptions Options => _options;
    public int MaxMessageSize => _options.MaxMessageSize;

    /// <summary>Completes when the association is established; faults if it closes first.</summary>
    public Task Established => _established.Task;

    /// <summary>Completes when the association has closed (gracefully, by ABORT, or because the peer is gone).</summary>
    public Task<SctpCloseReason> Closed => _closed.Task;

    /// <summary>Negotiated stream counts (valid once established).</summary>
    public ushort OutboundStreamCount => _outboundStreams;

    public ushort InboundStreamCount => _inboundStreams;
    internal bool PeerSupportsReconfig => _peerSupportsReconfig;

    /// <summary>Our verification tag (tests forge packets that must pass the tag check).</summary>
    internal uint LocalVerificationTag => _myTag;

    /// <summary>Called on the loop for each complete user message. The receiver must call
    /// <see cref="ReleaseReceiveBuffer"/> with the message length once the application has taken it.</summary>
    internal Action<SctpIncomingMessage>? MessageReceived { get; set; }

    /// <summary>Called on the loop when the peer reset its outgoing side of these streams (RFC 6525).</summary>
    internal Action<IReadOnlyList<ushort>>? IncomingStreamsReset { get; set; }

    /// <summary>Called on the loop when our own outgoing stream reset was performed by the peer.</summary>
    internal Action<IReadOnlyList<ushort>>? OutgoingStreamsReset { get; set; }

    public SctpStatistics Statistics => new(
        Interlocked.Read(ref _packetsSent), Interlocked.Read(ref _packetsReceived), Interlocked.Read(ref _packetsDropped),
        Interlocked.Read(ref _dataChunksSent), Interlocked.Read(ref _retransmissions), Interlocked.Read(ref _fastRetransmissions),
        Interlocked.Read(ref _timeouts), _cwnd, _ssthresh, _peerRwnd, _srtt, _rto, Volatile.Read(ref _bytesHeld),
        Volatile.Read(ref _pendingBytes) + Volatile.Read(ref _outstandingBytes), Volatile.Read(ref _maxBytesHeld),
        Interlocked.Read(ref _abandonedMessages), Interlocked.Read(ref _forwardTsnsSent), Interlocked.Read(ref _oversizedDropped));

    public async Task ConnectAsync(CancellationToken cancellationToken = default) =>
        await _established.Task.WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Queues one user message. Completes once the message is accepted into the send buffer (not when the peer has
    /// it); waits while the buffer is full, which is how a slow receiver slows the writer down.
    /// </summary>
    public ValueTask SendAsync(ushort streamId, uint payloadProtocolId, ReadOnlyMemory<byte> message, bool unordered,
        CancellationToken cancellationToken = default) =>
        SendAsync(streamId, payloadProtocolId, message, unordered, SctpPartialReliability.Reliable, cancellationToken);

    /// <summary>
    /// Queues one user message with partial reliability (RFC 3758): once it has been retransmitted more than
    /// allowed, or its lifetime is over, it is abandoned and the peer is told to skip it with FORWARD TSN. Without
    /// the peer's Forward-TSN support the message is sent reliably.
    /// </summary>
    public ValueTask SendAsync(ushort streamId, uint payloadProtocolId, ReadOnlyMemory<byte> message, bool unordered,
        SctpPartialReliability reliability, CancellationToken cancellationToken = default)
    {
        if (message.Length > _options.MaxMessageSize) throw new SctpMessageTooLargeException(message.Length, _options.MaxMessageSize);
        if (message.Length == 0) throw new ArgumentException("SCTP cannot carry an empty message", nameof(message));
        if (_closed.Task.IsCompleted) throw new SctpAssociationClosedException(_closed.Task.Result.Reason);
        var outbound = new OutboundMessage(message.ToArray(), streamId, payloadProtocolId, unordered)
        {
            MaxRetransmits = reliability.MaxRetransmits ?? -1,
            ExpiresAt = reliability.Lifetime is { } life ? Now + (long)life.TotalMilliseconds : long.MaxValue,
        };
        var request = new SendRequest(outbound);
        if (cancellationToken.CanBeCanceled)
            request.Registration = cancellationToken.Register(static r => ((SendRequest)r!).Done.TrySetCanceled(), request);
        Post(new LoopEvent(EventKind.Send) { Send = request });
        return new ValueTask(request.Done.Task);
    }

    /// <summary>Graceful shutdown (RFC 9260 §9.2): queued data is delivered first. Completes when closed.</summary>
    public async Task ShutdownAsync(CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(new LoopEvent(EventKind.Shutdown) { Done = done });
        await done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends ABORT with a user-initiated-abort cause and closes at once (RFC 9260 §9.1).</summary>
    public void Abort(string reason) => Post(new LoopEvent(EventKind.Abort) { Reason = reason });

    /// <summary>Asks the peer to reset our outgoing side of a stream (RFC 6525), after data queued on it.</summary>
    internal void ResetStream(ushort streamId) => Post(new LoopEvent(EventKind.ResetStream) { Stream = streamId });

    /// <summary>The application consumed <paramref name="bytes"/> of delivered data; the window may open again.</summary>
    internal void ReleaseReceiveBuffer(int bytes) => Post(new LoopEvent(EventKind.Credit) { Credit = bytes });

    public async ValueTask DisposeAsync()
    {
        if (!_closed.Task.IsCompleted) Abort("disposed");
        try
        {
            await _closed.Task.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        _stop.Cancel();
        _events.Writer.TryComplete();
        foreach (var task in new[] { _loopTask, _receiveTask, _tickTask })
        {
            if (task is null) continue;
            try
            {
                await task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        _stop.Dispose();
    }

    private void Post(LoopEvent e)
    {
        if (!_events.Writer.TryWrite(e))
        {
            e.Send?.Done.TrySetException(new SctpAssociationClosedException(_closed.Task.IsCompleted ? _closed.Task.Result.Reason : "stopped"));
            e.Done?.TrySetResult();
        }
    }

    internal void Run()
    {
        _loopTask = Task.Run(LoopAsync);
        _receiveTask = Task.Run(ReceiveLoopAsync);
        _tickTask = Task.Run(TickLoopAsync);
        if (Role == SctpRole.Client) Post(new LoopEvent(EventKind.Connect));
    }

    private async Task ReceiveLoopAsync()
    {
        int size = Math.Max(_transport.MaxDatagramSize, _maxPacket);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(size);
                int n = await _transport.ReceiveAsync(buffer, _stop.Token).ConfigureAwait(false);
                if (n < 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    Post(new LoopEvent(EventKind.TransportClosed));
                    return;
                }
                // A peer flooding faster than the loop can process must not grow the queue without bound: beyond
                // the cap datagrams are dropped here, which SCTP treats as ordinary loss.
                if (Volatile.Read(ref _queuedPackets) >= MaxQueuedPackets)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    Interlocked.Increment(ref _packetsDropped);
                    continue;
                }
                Interlocked.Increment(ref _queuedPackets);
                Post(new LoopEvent(EventKind.Packet) { Buffer = buffer, Length = n });
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException or IOException)
        {
            Post(new LoopEvent(EventKind.TransportClosed) { Reason = ex.Message });
        }
    }

    private async Task TickLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.TimerTick);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                // One queued tick is enough; a busy loop must not accumulate a backlog of them.
                if (Interlocked.Exchange(ref _tickQueued, 1) == 0) Post(new LoopEvent(EventKind.Tick));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task LoopAsync()
    {
        var reader = _events.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var e))
                {
                    try
                    {
                        await HandleEventAsync(e).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                    {
                        return;
                    }
                    catch (Exception ex)
                    {
                        // A bug here must not leave the peer hanging: tell it and close.
                        await AbortInternalAsync($"internal error: {ex.GetType().Name}: {ex.Message}", SctpErrorCauseCode.ProtocolViolation).ConfigureAwait(false);
                    }
                    finally
                    {
                        if (e.Buffer is not null) ArrayPool<byte>.Shared.Return(e.Buffer);
                    }
                    if (_state == SctpState.Closed && _closed.Task.IsCompleted) break;
                }
                if (_state != SctpState.Closed || !_closed.Task.IsCompleted)
                    await PumpAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            // Whatever stopped the loop, nobody may wait forever on it: later posts fail fast (see Post), and
            // what is already queued is answered here.
            Close("association stopped", graceful: false);
            _events.Writer.TryComplete();
            while (reader.TryRead(out var e))
            {
                if (e.Buffer is not null) ArrayPool<byte>.Shared.Return(e.Buffer);
                e.Send?.Done.TrySetException(new SctpAssociationClosedException("association stopped"));
                e.Done?.TrySetResult();
            }
        }
    }

    private static long Now => Environment.TickCount64;

    private async Task HandleEventAsync(LoopEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.Connect:
                if (_state != SctpState.Closed || _closed.Task.IsCompleted) return;
                _state = SctpState.CookieWait;
                _initRetries = 0;
                await SendInitAsync().ConfigureAwait(false);
                break;
            case EventKind.Packet:
                Interlocked.Decrement(ref _queuedPackets);
                Interlocked.Increment(ref _packetsReceived);
                if (_closed.Task.IsCompleted) return;
                if (!SctpPacket.TryParse(e.Buffer.AsSpan(0, e.Length), out var packet, out _))
                {
                    Interlocked.Increment(ref _packetsDropped);
                    return;
                }
                await HandlePacketAsync(packet).ConfigureAwait(false);
                break;
            case EventKind.Send:
                HandleSend(e.Send!);
                break;
            case EventKind.Credit:
                _bytesHeld -= e.Credit;
                // Tell a sender that was throttled that the window opened (RFC 9260 §6.2 window update); without
                // this a zero window would only reopen on the sender's next probe.
                uint rwnd = CurrentRwnd();
                if (_state is SctpState.Established or SctpState.ShutdownPending or SctpState.ShutdownSent &&
                    rwnd >= _lastAdvertisedRwnd + Math.Max(_maxPacket, _options.ReceiveBufferSize / 4))
                    _sackNow = true;
                break;
            case EventKind.Tick:
                Interlocked.Exchange(ref _tickQueued, 0);
                await HandleTimersAsync().ConfigureAwait(false);
                break;
            case EventKind.Shutdown:
                await HandleShutdownRequestAsync(e.Done!).ConfigureAwait(false);
                break;
            case EventKind.Abort:
                await AbortInternalAsync(e.Reason ?? "aborted", SctpErrorCauseCode.UserInitiatedAbort).ConfigureAwait(false);
                break;
            case EventKind.ResetStream:
                if (_peerSupportsReconfig && !_streamsToReset.Contains(e.Stream)) _streamsToReset.Add(e.Stream);
                else if (!_peerSupportsReconfig) OutgoingStreamsReset?.Invoke([e.Stream]);
                break;
            case EventKind.TransportClosed:
                Close(e.Reason is null ? "transport closed" : $"transport failed: {e.Reason}", graceful: false);
                break;
        }
    }

    // ---------------------------------------------------------------- packets in

    private async Task HandlePacketAsync(SctpPacket packet)
    {
        if (packet.SourcePort != _options.RemotePort || packet.DestinationPort != _options.LocalPort)
        {
            Interlocked.Increment(ref _packetsDropped);
            return;
        }
        var first = packet.Chunks[0];
        if (first is SctpInitChunk { IsAck: false } init)
        {
            // INIT travels alone with tag 0 (RFC 9260 §8.5.1); anything else is a forgery or garbage.
            if (packet.Chunks.Count != 1 || packet.VerificationTag != 0) return;
            await HandleInitAsync(init).ConfigureAwait(false);
            return;
        }
        bool reflectedAllowed = first is SctpErrorChunk { IsAbort: true, TagReflected: true } ||
                                first is SctpSimpleChunk { Type: SctpChunkType.ShutdownComplete, TagReflected: true };
        if (first is SctpCookieEchoChunk)
        {
            // The tag is checked against the cookie's own tag once the cookie is authenticated.
        }
        else if (reflectedAllowed ? packet.VerificationTag != _peerTag : packet.VerificationTag != _myTag)
        {
            // §8.5: a packet not for this association; an out-of-the-blue ABORT with a wrong tag must not kill us.
            Interlocked.Increment(ref _packetsDropped);
            return;
        }

        bool hadData = false;
        foreach (var chunk in packet.Chunks)
        {
            if (_state == SctpState.Closed && _closed.Task.IsCompleted) return;
            switch (chunk)
            {
                case SctpInitChunk { IsAck: true } initAck:
                    await HandleInitAckAsync(initAck, packet.VerificationTag).ConfigureAwait(false);
                    break;
                case SctpInitChunk:
                    return; // INIT bundled with other chunks: discard the packet.
                case SctpCookieEchoChunk echo:
                    if (!await HandleCookieEchoAsync(echo, packet.VerificationTag).ConfigureAwait(false)) return;
                    break;
                case SctpSimpleChunk { Type: SctpChunkType.CookieAck }:
                    if (_state == SctpState.CookieEchoed) Establish();
                    break;
                case SctpDataChunk data:
                    if (_state is SctpState.Established or SctpState.ShutdownPending or SctpState.ShutdownSent)
                    {
                        HandleData(data);
                        hadData = true;
                    }
                    break;
                case SctpSackChunk sack:
                    if (IsEstablishedLike) HandleSack(sack);
                    break;
                case SctpHeartbeatChunk { IsAck: false } hb:
                    if (IsEstablishedLike)
                        await SendChunksAsync(_peerTag, new SctpHeartbeatChunk { IsAck = true, Info = hb.Info }).ConfigureAwait(false);
                    break;
                case SctpHeartbeatChunk hbAck:
                    HandleHeartbeatAck(hbAck);
                    break;
                case SctpErrorChunk { IsAbort: true } abort:
                    Close($"peer aborted: {string.Join("; ", abort.Causes)}", graceful: false);
                    return;
                case SctpErrorChunk error:
                    if (_state == SctpState.CookieEchoed && error.Causes.Any(c => c.Code == SctpErrorCauseCode.StaleCookie))
                        Close("peer refused our cookie as stale", graceful: false);
                    break;
                case SctpShutdownChunk shutdown:
                    await HandleShutdownAsync(shutdown).ConfigureAwait(false);
                    break;
                case SctpSimpleChunk { Type: SctpChunkType.ShutdownAck }:
                    if (_state is SctpState.ShutdownSent or SctpState.ShutdownAckSent)
                    {
                        await SendChunksAsync(_peerTag, new SctpSimpleChunk(SctpChunkType.ShutdownComplete)).ConfigureAwait(false);
                        Close("shut down", graceful: true);
                        return;
                    }
                    break;
                case SctpSimpleChunk { Type: SctpChunkType.ShutdownComplete }:
                    if (_state == SctpState.ShutdownAckSent)
                    {
                        Close("shut down", graceful: true);
                        return;
                    }
                    break;
                case SctpForwardTsnChunk forward:
                    if (IsEstablishedLike) HandleForwardTsn(forward);
                    break;
                case SctpReconfigChunk reconfig:
                    if (IsEstablishedLike) HandleReconfig(reconfig);
                    break;
                case SctpUnknownChunk unknown:
                    // Upper two bits of the type (RFC 9260 §3.2): 00/01 stop processing the packet, 01/11 report.
                    int action = unknown.RawType >> 6;
                    if (action is 1 or 3 && IsEstablishedLike)
                    {
                        var padded = new byte[SctpChunk.Padded(unknown.ChunkLength)];
                        unknown.WriteTo(padded);
                        var raw = padded[..unknown.ChunkLength];
                        await SendChunksAsync(_peerTag, new SctpErrorChunk
                        {
                            IsAbort = false,
                            Causes = [new SctpErrorCause(SctpErrorCauseCode.UnrecognizedChunkType, raw)],
                        }).ConfigureAwait(false);
                    }
                    if (action is 0 or 1) return;
                    break;
            }
        }
        if (hadData)
        {
            _packetsSinceSack++;
            if (_packetsSinceSack >= 2) _sackNow = true;
            else if (_sackDeadline == long.MaxValue) _sackDeadline = Now + (long)_options.DelayedAckTime.TotalMilliseconds;
            // SACK per packet rather than per batch of events: when a whole flight arrives in one batch, a single
            // SACK for it is a single point of failure, and its loss would leave the sender waiting for T3.
            if (_sackNow && _state != SctpState.ShutdownSent) await SendSackIfNeededAsync(bundleData: true).ConfigureAwait(false);
            if (_state == SctpState.ShutdownSent)
            {
                // §9.2: every DATA in SHUTDOWN-SENT is answered with SHUTDOWN (after the SACK), T2 restarted.
                _sackNow = true;
                await SendSackIfNeededAsync().ConfigureAwait(false);
                await SendShutdownAsync().ConfigureAwait(false);
            }
        }
    }

    private bool IsEstablishedLike => _state is SctpState.Established or SctpState.ShutdownPending or SctpState.ShutdownSent
        or SctpState.ShutdownReceived or SctpState.ShutdownAckSent;

    // ---------------------------------------------------------------- handshake

    private async Task SendInitAsync()
    {
        var init = new SctpInitChunk
        {
            IsAck = false,
            InitiateTag = _myTag,
            AdvertisedReceiverWindow = (uint)_options.ReceiveBufferSize,
            OutboundStreams = _options.OutboundStreams,
            InboundStreams = _options.InboundStreams,
            InitialTsn = _myInitialTsn,
            ForwardTsnSupported = true,
            SupportedExtensions = [(byte)SctpChunkType.ForwardTsn, (byte)SctpChunkType.Reconfig],
        };
        await SendChunksAsync(0, init).ConfigureAwait(false);
        _t1Deadline = Now + (long)_rto;
    }

    private async Task HandleInitAsync(SctpInitChunk init)
    {
        uint localTag;
        switch (_state)
        {
            case SctpState.Closed when !_closed.Task.IsCompleted:
                // Stateless (§5.1): a fresh tag goes only into the cookie; nothing is kept until COOKIE ECHO.
                localTag = RandomNonZero();
                break;
            case SctpState.CookieWait or SctpState.CookieEchoed:
                // Simultaneous open (§5.2.1): answer with the same tag and TSN as our own INIT, stay in this state.
                localTag = _myTag;
                break;
            default:
                return;
        }
        uint localTsn = localTag == _myTag ? _myInitialTsn : RandomNonZero();
        var cookie = new SctpStateCookie(
            localTag, init.InitiateTag, localTsn, init.InitialTsn, init.AdvertisedReceiverWindow,
            Math.Min(_options.OutboundStreams, init.InboundStreams), Math.Min(_options.InboundStreams, init.OutboundStreams),
            init.ForwardTsnSupported, init.SupportedExtensions.Contains((byte)SctpChunkType.Reconfig),
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).Seal(_cookieSecret);
        var ack = new SctpInitChunk
        {
            IsAck = true,
            InitiateTag = localTag,
            AdvertisedReceiverWindow = (uint)_options.ReceiveBufferSize,
            OutboundStreams = _options.OutboundStreams,
            InboundStreams = _options.InboundStreams,
            InitialTsn = localTsn,
            StateCookie = cookie,
            ForwardTsnSupported = true,
            SupportedExtensions = [(byte)SctpChunkType.ForwardTsn, (byte)SctpChunkType.Reconfig],
            UnrecognizedParameters = init.UnrecognizedParameters,
        };
        await SendChunksAsync(init.InitiateTag, ack).ConfigureAwait(false);
    }

    private async Task HandleInitAckAsync(SctpInitChunk ack, uint tag)
    {
        // §5.2.3: INIT ACK outside COOKIE-WAIT is discarded.
        if (_state != SctpState.CookieWait || tag != _myTag) return;
        _peerTag = ack.InitiateTag;
        AdoptPeer(ack.InitialTsn, ack.AdvertisedReceiverWindow, Math.Min(_options.OutboundStreams, ack.InboundStreams),
            Math.Min(_options.InboundStreams, ack.OutboundStreams), ack.ForwardTsnSupported,
            ack.SupportedExtensions.Contains((byte)SctpChunkType.Reconfig));
        _cookieToEcho = ack.StateCookie!;
        _state = SctpState.CookieEchoed;
        _initRetries = 0;
        await SendChunksAsync(_peerTag, new SctpCookieEchoChunk { Cookie = _cookieToEcho }).ConfigureAwait(false);
        _t1Deadline = Now + (long)_rto;
    }

    /// <summary>False when the packet must be dropped (bad cookie).</summary>
    private async Task<bool> HandleCookieEchoAsync(SctpCookieEchoChunk echo, uint tag)
    {
        var cookie = SctpStateCookie.Open(_cookieSecret, echo.Cookie);
        // A cookie we did not sign, or one whose tag does not match the packet's, is silently dropped (§5.1.5).
        if (cookie is null || cookie.LocalTag != tag) return false;
        long age = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - cookie.CreatedUnixMs;
        if (age > _options.CookieLifetime.TotalMilliseconds || age < -60_000)
        {
            var staleness = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(staleness, (uint)Math.Clamp((age - _options.CookieLifetime.TotalMilliseconds) * 1000, 0, uint.MaxValue));
            await SendChunksAsync(cookie.PeerTag, new SctpErrorChunk
            {
                IsAbort = false,
                Causes = [new SctpErrorCause(SctpErrorCauseCode.StaleCookie, staleness)],
            }).ConfigureAwait(false);
            return false;
        }
        switch (_state)
        {
            case SctpState.Closed when !_closed.Task.IsCompleted:
                _myTag = cookie.LocalTag;
                _myInitialTsn = cookie.LocalInitialTsn;
                _nextTsn = _myInitialTsn;
                _lastCumAckReceived = _myInitialTsn - 1;
                _reconfigRequestSeq = _myInitialTsn;
                break;
            case SctpState.CookieWait or SctpState.CookieEchoed:
                // Collision (§5.2.4 cases B and D): the cookie carries our own tag, so it answers our INIT.
                if (cookie.LocalTag != _myTag) return false;
                break;
            default:
                // Established: only a repeat of the cookie that set us up (case D) earns another COOKIE ACK.
                if (cookie.LocalTag == _myTag && cookie.PeerTag == _peerTag)
                    await SendChunksAsync(_peerTag, new SctpSimpleChunk(SctpChunkType.CookieAck)).ConfigureAwait(false);
                return true;
        }
        _peerTag = cookie.PeerTag;
        AdoptPeer(cookie.PeerInitialTsn, cookie.PeerReceiverWindow, cookie.OutboundStreams, cookie.InboundStreams,
            cookie.PeerForwardTsn, cookie.PeerReconfig);
        Establish();
        await SendChunksAsync(_peerTag, new SctpSimpleChunk(SctpChunkType.CookieAck)).ConfigureAwait(false);
        return true;
    }

    private void AdoptPeer(uint peerInitialTsn, uint peerRwnd, ushort outbound, ushort inbound, bool forwardTsn, bool reconfig)
    {
        _cumTsnReceived = peerInitialTsn - 1;
        _highestTsnReceived = _cumTsnReceived;
        _peerReconfigExpected = peerInitialTsn;
        _peerRwnd = (int)Math.Min(peerRwnd, int.MaxValue);
        _ssthresh = _peerRwnd;
        _outboundStreams = outbound;
        _inboundStreams = inbound;
        _nextSsn = new ushort[outbound];
        _peerSupportsForwardTsn = forwardTsn;
        _peerSupportsReconfig = reconfig;
        _receivedAbove.Clear();
    }

    private void Establish()
    {
        _state = SctpState.Established;
        _t1Deadline = long.MaxValue;
        _cookieToEcho = null;
        _lastSendTime = Now;
        ScheduleHeartbeat();
        _established.TrySetResult();
    }

    // ---------------------------------------------------------------- sending

    private void HandleSend(SendRequest request)
    {
        if (request.Done.Task.IsCompleted) return; // cancelled while queued
        if (_state is not (SctpState.Closed or SctpState.CookieWait or SctpState.CookieEchoed or SctpState.Established) ||
            _closed.Task.IsCompleted)
        {
            request.Done.TrySetException(new SctpAssociationClosedException(
                _closed.Task.IsCompleted ? _closed.Task.Result.Reason : "shutting down"));
            return;
        }
        if (_sendWaiters.Count > 0 || !HasSendRoom(request.Message.Data.Length))
        {
            _sendWaiters.Enqueue(request);
            return;
        }
        Admit(request);
    }

    private bool HasSendRoom(int length) =>
        _pendingBytes + _outstandingBytes == 0 || _pendingBytes + _outstandingBytes + length <= _options.SendBufferSize;

    private void Admit(SendRequest request)
    {
        var m = request.Message;
        if (_outboundStreams != 0 && m.StreamId >= _outboundStreams)
        {
            request.Done.TrySetException(new ArgumentOutOfRangeException("streamId",
                $"stream {m.StreamId} is beyond the {_outboundStreams} negotiated outbound streams"));
            return;
        }
        _pending.Enqueue(m);
        _pendingBytes += m.Data.Length;
        request.Registration.Dispose();
        request.Done.TrySetResult();
    }

    private void AdmitWaiters()
    {
        while (_sendWaiters.Count > 0)
        {
            var next = _sendWaiters.Peek();
            if (next.Done.Task.IsCompleted)
            {
                _sendWaiters.Dequeue();
                continue;
            }
            if (!HasSendRoom(next.Message.Data.Length)) return;
            _sendWaiters.Dequeue();
            Admit(next);
        }
    }

    private bool CanSendData => _state is SctpState.Established or SctpState.ShutdownPending or SctpState.ShutdownReceived;

    /// <summary>Sends what the state allows: a due SACK, retransmissions, then new data within cwnd and the peer's
    /// window, bundling chunks into packets up to the path MTU.</summary>
    private async Task PumpAsync()
    {
        if (_closed.Task.IsCompleted) return;
        await SendSackIfNeededAsync(bundleData: true).ConfigureAwait(false);
        if (CanSendData) await SendDataAsync(null).ConfigureAwait(false);
        await SendReconfigIfNeededAsync().ConfigureAwait(false);
        await CheckShutdownProgressAsync().ConfigureAwait(false);
    }

    private async Task SendSackIfNeededAsync(bool bundleData = false)
    {
        if (!_sackNow || !IsEstablishedLike) return;
        var sack = BuildSack();
        if (bundleData && CanSendData && (_pending.Count > 0 || _outstanding.Any(c => c.Retransmit)))
            await SendDataAsync(sack).ConfigureAwait(false);
        else
            await SendChunksAsync(_peerTag, sack).ConfigureAwait(false);
    }

    private async Task SendDataAsync(SctpSackChunk? sack)
    {
        // Chunks in retransmit state go first; the first packet after a fast-retransmit decision may ignore cwnd
        // (RFC 9260 §7.2.4).
        bool ignoreCwnd = _fastRetransmitNow;
        _fastRetransmitNow = false;
        if (_peerSupportsForwardTsn) AbandonExpired();
        if (_forwardTsnNow) await SendForwardTsnAsync().ConfigureAwait(false);
        while (true)
        {
            int offset = SctpPacket.CommonHeaderLength;
            int dataChunks = 0;
            if (sack is not null)
            {
                offset += sack.WriteTo(_packetBuffer.AsSpan(offset));
                sack = null;
            }
            // Retransmissions.
            foreach (var c in _outstanding)
            {
                if (!c.Retransmit) continue;
                if (!ignoreCwnd && _flightSize >= _cwnd) break;
                int size = SctpChunk.Padded(c.Chunk.ChunkLength);
                if (offset + size > _maxPacket) break;
                offset += c.Chunk.WriteTo(_packetBuffer.AsSpan(offset));
                c.Retransmit = false;
                c.InFlight = true;
                c.Transmissions++;
                c.MissCount = 0;
                c.ResentBeforeTsn = _nextTsn;
                _flightSize += c.Size;
                if (_rttProbeTsn == c.Chunk.Tsn) _rttProbeTsn = null; // Karn: no RTT from a retransmitted chunk.
                Interlocked.Increment(ref _retransmissions);
                dataChunks++;
            }
            // New data.
            while (_pending.Count > 0 && (ignoreCwnd || _flightSize < _cwnd) &&
                   (_flightSize == 0 || _peerRwnd > 0) && offset + SctpDataChunk.HeaderLength + 4 <= _maxPacket)
            {
                var m = _pending.Peek();
                int room = _maxPacket - offset - SctpDataChunk.HeaderLength;
                int remaining = m.Data.Length - m.Offset;
                int take = Math.Min(remaining, _maxDataPayload);
                if (take > room)
                {
                    // Do not split a fragment differently just to fill a packet tail unless the packet is empty.
                    if (dataChunks > 0 || offset > SctpPacket.CommonHeaderLength) break;
                    take = room;
                }
                if (_flightSize > 0 && take > _peerRwnd && _peerRwnd < _maxDataPayload) break;
                if (m.Offset == 0 && !m.Unordered)
                {
                    m.Ssn = _nextSsn.Length > m.StreamId ? _nextSsn[m.StreamId]++ : (ushort)0;
                }
                var chunk = new SctpDataChunk
                {
                    Tsn = _nextTsn++,
                    StreamId = m.StreamId,
                    StreamSequence = m.Unordered ? (ushort)0 : m.Ssn,
                    PayloadProtocolId = m.Ppid,
                    UserData = m.Data.AsMemory(m.Offset, take),
                    Unordered = m.Unordered,
                    Beginning = m.Offset == 0,
                    Ending = m.Offset + take == m.Data.Length,
                };
                m.Offset += take;
                if (m.Offset == m.Data.Length) _pending.Dequeue();
                _pendingBytes -= take;
                _outstandingBytes += take;
                offset += chunk.WriteTo(_packetBuffer.AsSpan(offset));
                var inFlight = new OutstandingChunk(chunk, take, m) { Transmissions = 1, InFlight = true };
                _outstanding.Add(inFlight);
                _flightSize += take;
                _peerRwnd = Math.Max(0, _peerRwnd - take);
                if (_rttProbeTsn is null)
                {
                    _rttProbeTsn = chunk.Tsn;
                    _rttProbeSent = Now;
                }
                dataChunks++;
            }
            if (offset == SctpPacket.CommonHeaderLength) return;
            Interlocked.Add(ref _dataChunksSent, dataChunks);
            if (dataChunks > 0 && _t3Deadline == long.MaxValue) _t3Deadline = Now + (long)_rto;
            await TransmitAsync(_peerTag, offset).ConfigureAwait(false);
            ignoreCwnd = false;
            if (dataChunks == 0) return;
        }
    }

    /// <summary>Abandons partially reliable messages whose chunks are due for retransmission beyond their limit or
    /// whose lifetime is over, and drops expired messages not yet started (RFC 3758 §3.5 A1-A3).</summary>
    private void AbandonExpired()
    {
        long now = Now;
        foreach (var c in _outstanding)
        {
            if (c.Acked || !c.Message.IsPartial || c.Message.Abandoned) continue;
            bool tooMany = c.Retransmit && c.Message.MaxRetransmits >= 0 && c.Transmissions > c.Message.MaxRetransmits;
            bool expired = now >= c.Message.ExpiresAt && (c.Retransmit || c.Transmissions > 0);
            if (tooMany || expired) AbandonMessage(c.Message);
        }
        while (_pending.Count > 0 && _pending.Peek() is { Offset: 0, IsPartial: true } head && now >= head.ExpiresAt)
        {
            // Never sent, so no TSN or SSN to skip: just drop it.
            _pending.Dequeue();
            _pendingBytes -= head.Data.Length;
            Interlocked.Increment(ref _abandonedMessages);
        }
    }

    private void AbandonMessage(OutboundMessage message)
    {
        message.Abandoned = true;
        Interlocked.Increment(ref _abandonedMessages);
        foreach (var c in _outstanding)
        {
            if (!ReferenceEquals(c.Message, message) || c.Acked) continue;
            c.Acked = true;
            c.Abandoned = true;
            c.Retransmit = false;
            if (c.InFlight)
            {
                c.InFlight = false;
                _flightSize -= c.Size;
            }
        }
        // A message abandoned half-sent stops here; its unsent tail never gets TSNs.
        if (_pending.Count > 0 && ReferenceEquals(_pending.Peek(), message))
        {
            _pending.Dequeue();
            _pendingBytes -= message.Data.Length - message.Offset;
        }
        if (AdvancedPeerAckPoint() != _lastCumAckReceived) _forwardTsnNow = true;
    }

    /// <summary>The cumulative ack moved over the abandoned chunks that directly follow it (RFC 3758 C2).</summary>
    private uint AdvancedPeerAckPoint()
    {
        uint point = _lastCumAckReceived;
        foreach (var c in _outstanding)
        {
            if (c.Chunk.Tsn != point + 1 || !c.Abandoned) break;
            point = c.Chunk.Tsn;
        }
        return point;
    }

    private async Task SendForwardTsnAsync()
    {
        _forwardTsnNow = false;
        uint point = AdvancedPeerAckPoint();
        if (point == _lastCumAckReceived) return;
        // For ordered streams the receiver must also learn the last SSN it will never see.
        var lastSsn = new Dictionary<ushort, ushort>();
        foreach (var c in _outstanding)
        {
            if (Lt(point, c.Chunk.Tsn)) break;
            if (!c.Chunk.Unordered) lastSsn[c.Chunk.StreamId] = c.Chunk.StreamSequence;
        }
        await SendChunksAsync(_peerTag, new SctpForwardTsnChunk
        {
            NewCumulativeTsn = point,
            Streams = lastSsn.Select(kv => (kv.Key, kv.Value)).ToArray(),
        }).ConfigureAwait(false);
        Interlocked.Increment(ref _forwardTsnsSent);
        if (_t3Deadline == long.MaxValue) _t3Deadline = Now + (long)_rto;
    }

    private SctpSackChunk BuildSack()
    {
        var gaps = new List<SctpGapAckBlock>();
        if (_receivedAbove.Count > 0)
        {
            uint span = _highestTsnReceived - _cumTsnReceived;
            int start = -1;
            for (uint off = 1; off <= span; off++)
            {
                bool have = _receivedAbove.Contains(_cumTsnReceived + off);
                if (have && start < 0) start = (int)off;
                if (!have && start >= 0)
                {
                    gaps.Add(new SctpGapAckBlock((ushort)start, (ushort)(off - 1)));
                    start = -1;
                }
            }
            if (start >= 0) gaps.Add(new SctpGapAckBlock((ushort)start, (ushort)span));
        }
        // Keep the SACK within one packet; the lowest gaps matter most for the sender's fast retransmit.
        int maxBlocks = (_maxPacket - SctpPacket.CommonHeaderLength - 16) / 4;
        if (gaps.Count > maxBlocks) gaps.RemoveRange(maxBlocks, gaps.Count - maxBlocks);
        var dups = _duplicates.Take(Math.Max(0, maxBlocks - gaps.Count)).ToArray();
        _duplicates.Clear();
        uint rwnd = CurrentRwnd();
        _lastAdvertisedRwnd = rwnd;
        _sackNow = false;
        _packetsSinceSack = 0;
        _sackDeadline = long.MaxValue;
        return new SctpSackChunk
        {
            CumulativeTsnAck = _cumTsnReceived,
            AdvertisedReceiverWindow = rwnd,
            GapAckBlocks = gaps,
            DuplicateTsns = dups,
        };
    }

    private uint CurrentRwnd() => (uint)Math.Max(0, _options.ReceiveBufferSize - _bytesHeld);

    // ---------------------------------------------------------------- SACK and congestion control

    private void HandleSack(SctpSackChunk sack)
    {
        // §6.2.1: a SACK older than the last one is out of order; drop it.
        if (Lt(sack.CumulativeTsnAck, _lastCumAckReceived)) return;
        if (!Lt(sack.CumulativeTsnAck, _nextTsn)) return; // acks data never sent: ignore rather than corrupt state.
        int flightBefore = _flightSize;
        int bytesAcked = 0;
        bool cumAdvanced = sack.CumulativeTsnAck != _lastCumAckReceived;
        uint? highestNewlyAcked = null;

        while (_outstanding.Count > 0 && !Lt(sack.CumulativeTsnAck, _outstanding[0].Chunk.Tsn))
        {
            var c = _outstanding[0];
            _outstanding.RemoveAt(0);
            if (!c.Acked)
            {
                bytesAcked += c.Size;
                highestNewlyAcked = c.Chunk.Tsn;
                MeasureRttIfProbe(c);
            }
            if (c.InFlight) _flightSize -= c.Size;
            _outstandingBytes -= c.Size;
        }
        if (_outstanding.Count > 0)
        {
            uint baseTsn = _outstanding[0].Chunk.Tsn;
            foreach (var gap in sack.GapAckBlocks)
            {
                if (gap.End < gap.Start) continue;
                for (uint t = sack.CumulativeTsnAck + gap.Start; !Lt(sack.CumulativeTsnAck + gap.End, t); t++)
                {
                    uint index = t - baseTsn;
                    if (index >= _outstanding.Count) break;
                    var c = _outstanding[(int)index];
                    if (c.Acked) continue;
                    c.Acked = true;
                    c.Retransmit = false;
                    bytesAcked += c.Size;
                    if (c.InFlight)
                    {
                        c.InFlight = false;
                        _flightSize -= c.Size;
                    }
                    if (highestNewlyAcked is null || Lt(highestNewlyAcked.Value, t)) highestNewlyAcked = t;
                    MeasureRttIfProbe(c);
                }
            }
        }
        _lastCumAckReceived = sack.CumulativeTsnAck;

        // Missing reports, HTNA style (§7.2.4): only chunks below the highest newly acked TSN count as missed.
        // Deviation: a retransmitted chunk counts a miss only when data first sent after its retransmission is
        // acked (the idea of RACK, RFC 8985), and may then be fast-retransmitted again. RFC 9260 leaves a lost
        // fast retransmission to T3, which at 10% loss made timeouts (and cwnd collapses) dominate.
        bool newFastRetransmit = false;
        if (highestNewlyAcked is { } htna)
        {
            foreach (var c in _outstanding)
            {
                if (!Lt(c.Chunk.Tsn, htna)) break;
                if (c.Acked || c.Retransmit) continue;
                if (c.Transmissions > 1 && Lt(htna, c.ResentBeforeTsn)) continue;
                if (++c.MissCount >= 3)
                {
                    c.Retransmit = true;
                    if (c.InFlight)
                    {
                        c.InFlight = false;
                        _flightSize -= c.Size;
                    }
                    Interlocked.Increment(ref _fastRetransmissions);
                    newFastRetransmit = true;
                }
            }
        }
        if (newFastRetransmit)
        {
            if (!_inFastRecovery)
            {
                // Enter fast recovery once per window of loss (§7.2.4): halve once, not per lost chunk.
                _inFastRecovery = true;
                _fastRecoveryExit = _nextTsn - 1;
                _ssthresh = Math.Max(_cwnd / 2, 4 * _maxPacket);
                _cwnd = _ssthresh;
                _partialBytesAcked = 0;
            }
            _fastRetransmitNow = true;
        }

        if (cumAdvanced)
        {
            _errorCount = 0;
            if (_inFastRecovery && !Lt(sack.CumulativeTsnAck, _fastRecoveryExit)) _inFastRecovery = false;
            if (!_inFastRecovery && bytesAcked > 0)
            {
                // §7.2.1/7.2.2: grow only when the window was actually used, slow start below ssthresh.
                bool windowUsed = flightBefore + _maxPacket >= _cwnd;
                if (_cwnd <= _ssthresh)
                {
                    if (windowUsed) _cwnd += Math.Min(bytesAcked, _maxPacket);
                }
                else
                {
                    _partialBytesAcked += bytesAcked;
                    if (_partialBytesAcked >= _cwnd && windowUsed)
                    {
                        _partialBytesAcked -= _cwnd;
                        _cwnd += _maxPacket;
                    }
                }
            }
            // T3 follows the earliest outstanding chunk (§6.3.2 R3).
            _t3Deadline = _flightSize > 0 ? Now + (long)_rto : long.MaxValue;
        }
        _peerRwnd = (int)Math.Max(0, Math.Min(sack.AdvertisedReceiverWindow, int.MaxValue) - _flightSize);
        // RFC 3758 C1-C3: the peer still expects abandoned TSNs past its cumulative ack; tell it to move on.
        if (AdvancedPeerAckPoint() != _lastCumAckReceived) _forwardTsnNow = true;
        if (_flightSize == 0 && !_outstanding.Any(c => c.Retransmit) && !_forwardTsnNow) _t3Deadline = long.MaxValue;
        AdmitWaiters();
    }

    private void MeasureRttIfProbe(OutstandingChunk c)
    {
        if (_rttProbeTsn != c.Chunk.Tsn) return;
        _rttProbeTsn = null;
        if (c.Transmissions != 1) return;
        UpdateRto(Math.Max(1, Now - _rttProbeSent));
    }

    private void UpdateRto(double r)
    {
        // RFC 9260 §6.3.1 (RFC 6298's estimator): alpha 1/8, beta 1/4, RTO = SRTT + 4 RTTVAR, clamped.
        if (!_haveRtt)
        {
            _srtt = r;
            _rttvar = r / 2;
            _haveRtt = true;
        }
        else
        {
            _rttvar = 0.75 * _rttvar + 0.25 * Math.Abs(_srtt - r);
            _srtt = 0.875 * _srtt + 0.125 * r;
        }
        _rto = Math.Clamp(_srtt + 4 * _rttvar, _options.RtoMin.TotalMilliseconds, _options.RtoMax.TotalMilliseconds);
    }

    // ---------------------------------------------------------------- receiving data

    private void HandleData(SctpDataChunk data)
    {
        uint tsn = data.Tsn;
        if (data.Immediate) _sackNow = true;
        if (!Lt(_cumTsnReceived, tsn) || _receivedAbove.Contains(tsn))
        {
            if (_duplicates.Count < 64) _duplicates.Add(tsn);
            _sackNow = true; // §6.2: report duplicates at once, the sender may be retransmitting needlessly.
            return;
        }
        if (tsn - _cumTsnReceived > 65535) return; // cannot be described by a gap block; the sender will retry.
        int length = data.UserData.Length;
        bool fillsHole = Lt(tsn, _highestTsnReceived);
        if (!fillsHole && _bytesHeld + length > _options.ReceiveBufferSize)
        {
            // Out of window: drop without acking (§6.2). Hole fills are still taken, or a full buffer of
            // out-of-order data could never drain.
            _sackNow = true;
            return;
        }
        if (data.StreamId >= _inboundStreams)
        {
            // Invalid stream (§6.5): acknowledge the TSN, discard the data.
            MarkReceived(tsn);
            return;
        }
        _fragments[tsn] = data;
        _bytesHeld += length;
        if (_bytesHeld > _maxBytesHeld) _maxBytesHeld = _bytesHeld;
        MarkReceived(tsn);
        TryReassemble(tsn);
    }

    private void MarkReceived(uint tsn)
    {
        if (tsn == _cumTsnReceived + 1)
        {
            // A hole (the last one included) just closed: tell the sender now so it leaves fast recovery promptly.
            if (_receivedAbove.Count > 0) _sackNow = true;
            _cumTsnReceived = tsn;
            while (_receivedAbove.Remove(_cumTsnReceived + 1)) _cumTsnReceived++;
            if (Lt(_highestTsnReceived, _cumTsnReceived)) _highestTsnReceived = _cumTsnReceived;
        }
        else
        {
            _receivedAbove.Add(tsn);
            if (Lt(_highestTsnReceived, tsn)) _highestTsnReceived = tsn;
            _sackNow = true; // §6.7: a gap appeared, report it at once.
        }
    }

    private void TryReassemble(uint tsn)
    {
        // Without I-DATA the fragments of one message carry consecutive TSNs, so walk back to B and forward to E.
        var chunk = _fragments[tsn];
        uint first = tsn, last = tsn;
        var cur = chunk;
        while (!cur.Beginning)
        {
            if (!_fragments.TryGetValue(first - 1, out var prev)) return;
            if (!SameMessage(prev, chunk)) return;
            first--;
            cur = prev;
        }
        cur = chunk;
        while (!cur.Ending)
        {
            if (!_fragments.TryGetValue(last + 1, out var next)) return;
            if (!SameMessage(next, chunk)) return;
            last++;
            cur = next;
        }
        int total = 0;
        for (uint t = first; t != last + 1; t++) total += _fragments[t].UserData.Length;
        // Larger than we said we accept (RFC 8831 §6.6): dropped rather than handed up. On an ordered stream an
        // empty placeholder keeps its SSN, so the messages after it are not held back forever.
        bool tooLarge = total > _options.MaxReceiveMessageSize;
        byte[] message = tooLarge ? [] : new byte[total];
        int offset = 0;
        for (uint t = first; t != last + 1; t++)
        {
            _fragments.Remove(t, out var part);
            if (!tooLarge) part!.UserData.Span.CopyTo(message.AsSpan(offset));
            offset += part!.UserData.Length;
        }
        if (tooLarge)
        {
            _bytesHeld -= total;
            Interlocked.Increment(ref _oversizedDropped);
            if (chunk.Unordered) return;
        }
        var incoming = new SctpIncomingMessage(chunk.StreamId, chunk.PayloadProtocolId, message, chunk.Unordered);
        if (chunk.Unordered)
        {
            Deliver(incoming);
            return;
        }
        var stream = InStream(chunk.StreamId);
        if (chunk.StreamSequence != stream.NextSsn)
        {
            if ((short)(chunk.StreamSequence - stream.NextSsn) > 0) stream.Waiting[chunk.StreamSequence] = incoming;
            else if (!tooLarge) _bytesHeld -= total; // an SSN already delivered: a stale duplicate after a reset.
            return;
        }
        Deliver(incoming);
        stream.NextSsn++;
        while (stream.Waiting.Remove(stream.NextSsn, out var next))
        {
            Deliver(next);
            stream.NextSsn++;
        }
    }

    private static bool SameMessage(SctpDataChunk a, SctpDataChunk b) =>
        a.StreamId == b.StreamId && a.Unordered == b.Unordered && (a.Unordered || a.StreamSequence == b.StreamSequence);

    private InboundStream InStream(ushort id)
    {
        if (!_inStreams.TryGetValue(id, out var s)) _inStreams[id] = s = new InboundStream();
        return s;
    }

    private void Deliver(SctpIncomingMessage message)
    {
        if (message.Data.Length == 0) return; // placeholder of a dropped oversized message (DATA is never empty)
        var handler = MessageReceived;
        if (handler is null)
        {
            _bytesHeld -= message.Data.Length;
            return;
        }
        handler(message);
    }

    private void HandleForwardTsn(SctpForwardTsnChunk forward)
    {
        // RFC 3758 §3.6: treat everything up to the new cumulative TSN as received, drop its fragments.
        _sackNow = true;
        if (!Lt(_cumTsnReceived, forward.NewCumulativeTsn)) return;
        if (forward.NewCumulativeTsn - _cumTsnReceived > 65535 * 4) return;
        foreach (var tsn in _fragments.Keys.Where(t => !Lt(forward.NewCumulativeTsn, t)).ToList())
        {
            _bytesHeld -= _fragments[tsn].UserData.Length;
            _fragments.Remove(tsn);
        }
        for (uint t = _cumTsnReceived + 1; t != forward.NewCumulativeTsn + 1; t++) _receivedAbove.Remove(t);
        _cumTsnReceived = forward.NewCumulativeTsn;
        while (_receivedAbove.Remove(_cumTsnReceived + 1)) _cumTsnReceived++;
        if (Lt(_highestTsnReceived, _cumTsnReceived)) _highestTsnReceived = _cumTsnReceived;
        foreach (var (streamId, ssn) in forward.Streams)
        {
            var stream = InStream(streamId);
            if ((short)(ssn - stream.NextSsn) < 0) continue;
            for (ushort s = stream.NextSsn; s != (ushort)(ssn + 1); s++)
                if (stream.Waiting.Remove(s, out var skipped)) Deliver(skipped);
            stream.NextSsn = (ushort)(ssn + 1);
            while (stream.Waiting.Remove(stream.NextSsn, out var next))
            {
                Deliver(next);
                stream.NextSsn++;
            }
        }
    }

    // ---------------------------------------------------------------- stream reset (RFC 6525)

    private async Task SendReconfigIfNeededAsync()
    {
        if (_state != SctpState.Established) return;
        // Responses go at once, whatever our own request is doing: when both sides close a channel at the same
        // time each waits for the other's answer.
        if (_reconfigResponseToSend is { } response)
        {
            _reconfigResponseToSend = null;
            await SendChunksAsync(_peerTag, new SctpReconfigChunk { Response = response }).ConfigureAwait(false);
        }
        if (_resetInFlight is not null || _streamsToReset.Count == 0) return;
        // Data queued on a stream goes out before its reset, so the request's last TSN covers it.
        var ready = _streamsToReset.Where(s => !_pending.Any(m => m.StreamId == s)).ToList();
        if (ready.Count == 0) return;
        foreach (var s in ready) _streamsToReset.Remove(s);
        _resetInFlight = new SctpOutgoingResetRequest(_reconfigRequestSeq++, _peerReconfigExpected - 1, _nextTsn - 1, ready);
        await SendResetRequestAsync().ConfigureAwait(false);
    }

    private async Task SendResetRequestAsync()
    {
        var response = _reconfigResponseToSend;
        _reconfigResponseToSend = null;
        await SendChunksAsync(_peerTag, new SctpReconfigChunk { OutgoingReset = _resetInFlight, Response = response }).ConfigureAwait(false);
        _reconfigDeadline = Now + (long)_rto;
    }

    private void HandleReconfig(SctpReconfigChunk reconfig)
    {
        if (reconfig.Response is { } response && _resetInFlight is { } request && response.ResponseSequence == request.RequestSequence)
        {
            if (response.Result == SctpReconfigResponse.InProgress)
            {
                _reconfigDeadline = Now + (long)_rto; // ask again after a while, same sequence number
            }
            else
            {
                _resetInFlight = null;
                _reconfigDeadline = long.MaxValue;
                if (response.Result is SctpReconfigResponse.SuccessPerformed or SctpReconfigResponse.SuccessNothingToDo)
                    foreach (var s in request.Streams)
                        if (s < _nextSsn.Length) _nextSsn[s] = 0;
                OutgoingStreamsReset?.Invoke(request.Streams);
            }
        }
        if (reconfig.OutgoingReset is { } reset)
        {
            uint result;
            if (reset.RequestSequence == _peerReconfigExpected - 1)
            {
                result = SctpReconfigResponse.SuccessPerformed; // a retransmission of one we already did
            }
            else if (reset.RequestSequence != _peerReconfigExpected)
            {
                result = 5; // bad sequence number
            }
            else if (Lt(_cumTsnReceived, reset.SendersLastTsn))
            {
                result = SctpReconfigResponse.InProgress; // data before the reset is still missing
            }
            else
            {
                _peerReconfigExpected++;
                result = SctpReconfigResponse.SuccessPerformed;
                var streams = reset.Streams.Count == 0 ? _inStreams.Keys.ToList() : reset.Streams;
                foreach (var s in streams)
                {
                    var stream = InStream(s);
                    foreach (var waiting in stream.Waiting.Values) _bytesHeld -= waiting.Data.Length;
                    stream.Waiting.Clear();
                    stream.NextSsn = 0;
                }
                IncomingStreamsReset?.Invoke(streams);
            }
            _reconfigResponseToSend = new SctpReconfigResponse(reset.RequestSequence, result);
        }
        foreach (var other in reconfig.OtherRequests)
            _reconfigResponseToSend = new SctpReconfigResponse(other, SctpReconfigResponse.Denied);
    }

    // ---------------------------------------------------------------- heartbeat

    private void ScheduleHeartbeat() =>
        _heartbeatDeadline = _options.HeartbeatInterval > TimeSpan.Zero
            ? Now + (long)(_options.HeartbeatInterval.TotalMilliseconds + _rto)
            : long.MaxValue;

    private void HandleHeartbeatAck(SctpHeartbeatChunk ack)
    {
        if (ack.Info.Length != 8) return;
        _heartbeatOutstanding = false;
        _errorCount = 0;
        // The info is our send time echoed back: an RTT sample while idle (§8.3), so RTO stays current.
        long sent = BinaryPrimitives.ReadInt64BigEndian(ack.Info);
        long rtt = Now - sent;
        if (rtt >= 0 && rtt < (long)_options.RtoMax.TotalMilliseconds) UpdateRto(Math.Max(1, rtt));
    }

    // ---------------------------------------------------------------- timers

    private async Task HandleTimersAsync()
    {
        long now = Now;
        if (now >= _t1Deadline)
        {
            if (++_initRetries > _options.MaxInitRetransmissions)
            {
                Close("peer did not answer the handshake", graceful: false);
                return;
            }
            _rto = Math.Min(_rto * 2, _options.RtoMax.TotalMilliseconds);
            if (_state == SctpState.CookieWait) await SendInitAsync().ConfigureAwait(false);
            else if (_state == SctpState.CookieEchoed && _cookieToEcho is not null)
            {
                await SendChunksAsync(_peerTag, new SctpCookieEchoChunk { Cookie = _cookieToEcho }).ConfigureAwait(false);
                _t1Deadline = now + (long)_rto;
            }
            else _t1Deadline = long.MaxValue;
        }
        if (now >= _t3Deadline) await OnRetransmissionTimeoutAsync().ConfigureAwait(false);
        if (now >= _sackDeadline)
        {
            _sackNow = true;
            _sackDeadline = long.MaxValue;
        }
        if (now >= _t2Deadline)
        {
            if (_state == SctpState.ShutdownAckSent && _errorCount >= _options.MaxRetransmissions)
            {
                // Both sides have all data acknowledged; only the final SHUTDOWN COMPLETE went missing (the peer
                // closed and no longer answers), so the shutdown itself did succeed.
                Close("shut down (SHUTDOWN COMPLETE never arrived)", graceful: true);
                return;
            }
            if (!CountError()) return;
            _rto = Math.Min(_rto * 2, _options.RtoMax.TotalMilliseconds);
            if (_state == SctpState.ShutdownSent) await SendShutdownAsync().ConfigureAwait(false);
            else if (_state == SctpState.ShutdownAckSent) await SendShutdownAckAsync().ConfigureAwait(false);
            else _t2Deadline = long.MaxValue;
        }
        if (now >= _reconfigDeadline && _resetInFlight is not null)
        {
            if (!CountError()) return;
            await SendResetRequestAsync().ConfigureAwait(false);
        }
        if (now >= _heartbeatDeadline)
        {
            if (_state != SctpState.Established)
            {
                _heartbeatDeadline = long.MaxValue;
            }
            else if (now - _lastSendTime < _options.HeartbeatInterval.TotalMilliseconds || _outstanding.Count > 0)
            {
                _heartbeatDeadline = _lastSendTime + (long)(_options.HeartbeatInterval.TotalMilliseconds + _rto);
                if (_heartbeatDeadline <= now) ScheduleHeartbeat();
            }
            else
            {
                if (_heartbeatOutstanding && !CountError()) return;
                _heartbeatOutstanding = true;
                var info = new byte[8];
                BinaryPrimitives.WriteInt64BigEndian(info, now);
                await SendChunksAsync(_peerTag, new SctpHeartbeatChunk { IsAck = false, Info = info }).ConfigureAwait(false);
                ScheduleHeartbeat();
            }
        }
    }

    /// <summary>Counts a timeout against Association.Max.Retrans; false (and closed) when the peer counts as gone.</summary>
    private bool CountError()
    {
        if (++_errorCount <= _options.MaxRetransmissions) return true;
        Close($"peer unreachable after {_options.MaxRetransmissions} retransmissions", graceful: false);
        return false;
    }

    private async Task OnRetransmissionTimeoutAsync()
    {
        Interlocked.Increment(ref _timeouts);
        if (!CountError()) return;
        // §6.3.3 and §7.2.3: back off the timer, collapse cwnd to one packet, retransmit everything outstanding.
        _rto = Math.Min(_rto * 2, _options.RtoMax.TotalMilliseconds);
        _ssthresh = Math.Max(_cwnd / 2, 4 * _maxPacket);
        _cwnd = _maxPacket;
        _partialBytesAcked = 0;
        _inFastRecovery = false;
        _rttProbeTsn = null;
        foreach (var c in _outstanding)
        {
            if (c.Acked) continue;
            c.Retransmit = true;
            if (c.InFlight)
            {
                c.InFlight = false;
                _flightSize -= c.Size;
            }
        }
        _t3Deadline = long.MaxValue;
        if (AdvancedPeerAckPoint() != _lastCumAckReceived) _forwardTsnNow = true;
        if (CanSendData || _state is SctpState.ShutdownSent) await SendDataAsync(null).ConfigureAwait(false);
        if (_t3Deadline == long.MaxValue && _outstanding.Count > 0) _t3Deadline = Now + (long)_rto;
    }

    // ---------------------------------------------------------------- shutdown and abort

    private async Task HandleShutdownRequestAsync(TaskCompletionSource done)
    {
        switch (_state)
        {
            case SctpState.Established:
                _state = SctpState.ShutdownPending;
                _shutdownDone = done;
                await CheckShutdownProgressAsync().ConfigureAwait(false);
                break;
            case SctpState.CookieWait or SctpState.CookieEchoed:
                Close("shut down before established", graceful: true);
                done.TrySetResult();
                break;
            case SctpState.Closed when !_closed.Task.IsCompleted:
                Close("shut down before established", graceful: true);
                done.TrySetResult();
                break;
            default:
                done.TrySetResult(); // already shutting down or closed
                break;
        }
    }

    private bool AllDataAcked => _pending.Count == 0 && _outstanding.Count == 0;

    private async Task CheckShutdownProgressAsync()
    {
        if (_state == SctpState.ShutdownPending && AllDataAcked)
        {
            _state = SctpState.ShutdownSent;
            _shutdownDone?.TrySetResult();
            await SendShutdownAsync().ConfigureAwait(false);
        }
        else if (_state == SctpState.ShutdownReceived && AllDataAcked)
        {
            _state = SctpState.ShutdownAckSent;
            await SendShutdownAckAsync().ConfigureAwait(false);
        }
    }

    private async Task HandleShutdownAsync(SctpShutdownChunk shutdown)
    {
        if (!IsEstablishedLike) return;
        // The cumulative ack in SHUTDOWN acknowledges like a SACK without gaps (§9.2).
        if (!Lt(shutdown.CumulativeTsnAck, _lastCumAckReceived) && Lt(shutdown.CumulativeTsnAck, _nextTsn))
            HandleSack(new SctpSackChunk { CumulativeTsnAck = shutdown.CumulativeTsnAck, AdvertisedReceiverWindow = (uint)Math.Max(0, _peerRwnd + _flightSize) });
        switch (_state)
        {
            case SctpState.Established or SctpState.ShutdownPending:
                _state = SctpState.ShutdownReceived;
                FailWaiters("peer is shutting down");
                _shutdownDone?.TrySetResult();
                await CheckShutdownProgressAsync().ConfigureAwait(false);
                break;
            case SctpState.ShutdownSent:
                // Both sides shut down at once: answer with SHUTDOWN ACK (§9.2).
                _state = SctpState.ShutdownAckSent;
                await SendShutdownAckAsync().ConfigureAwait(false);
                break;
            case SctpState.ShutdownAckSent:
                await SendShutdownAckAsync().ConfigureAwait(false);
                break;
        }
    }

    private async Task SendShutdownAsync()
    {
        await SendChunksAsync(_peerTag, new SctpShutdownChunk { CumulativeTsnAck = _cumTsnReceived }).ConfigureAwait(false);
        _t2Deadline = Now + (long)_rto;
    }

    private async Task SendShutdownAckAsync()
    {
        await SendChunksAsync(_peerTag, new SctpSimpleChunk(SctpChunkType.ShutdownAck)).ConfigureAwait(false);
        _t2Deadline = Now + (long)_rto;
    }

    private async Task AbortInternalAsync(string reason, SctpErrorCauseCode code)
    {
        if (_closed.Task.IsCompleted) return;
        if (_state != SctpState.Closed && _state != SctpState.CookieWait)
        {
            var info = System.Text.Encoding.UTF8.GetBytes(reason.Length > 200 ? reason[..200] : reason);
            try
            {
                await SendChunksAsync(_peerTag, new SctpErrorChunk { IsAbort = true, Causes = [new SctpErrorCause(code, info)] }).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The transport may already be gone; closing locally is what matters.
            }
        }
        Close(reason, graceful: false);
    }

    private void FailWaiters(string reason)
    {
        while (_sendWaiters.Count > 0) _sendWaiters.Dequeue().Done.TrySetException(new SctpAssociationClosedException(reason));
    }

    private void Close(string reason, bool graceful)
    {
        if (_closed.Task.IsCompleted) return;
        _state = SctpState.Closed;
        _t1Deadline = _t2Deadline = _t3Deadline = _sackDeadline = _heartbeatDeadline = _reconfigDeadline = long.MaxValue;
        FailWaiters(reason);
        _established.TrySetException(new SctpAssociationClosedException(reason));
        _ = _established.Task.Exception; // observed: nobody has to await Established
        _shutdownDone?.TrySetResult();
        _closed.TrySetResult(new SctpCloseReason(reason, graceful));
        // Stop reading the transport; the loop itself drains and ends once it sees the closed state.
        _stop.Cancel();
    }

    // ---------------------------------------------------------------- packets out

    private async Task SendChunksAsync(uint tag, SctpChunk chunk)
    {
        int length = SctpPacket.CommonHeaderLength + SctpChunk.Padded(chunk.ChunkLength);
        if (length > _packetBuffer.Length)
        {
            var big = new byte[length];
            chunk.WriteTo(big.AsSpan(SctpPacket.CommonHeaderLength));
            await TransmitAsync(tag, big, length).ConfigureAwait(false);
            return;
        }
        chunk.WriteTo(_packetBuffer.AsSpan(SctpPacket.CommonHeaderLength));
        await TransmitAsync(tag, length).ConfigureAwait(false);
    }

    private Task TransmitAsync(uint tag, int length) => TransmitAsync(tag, _packetBuffer, length);

    private async Task TransmitAsync(uint tag, byte[] buffer, int length)
    {
        var span = buffer.AsSpan(0, length);
        BinaryPrimitives.WriteUInt16BigEndian(span, _options.LocalPort);
        BinaryPrimitives.WriteUInt16BigEndian(span.Slice(2), _options.RemotePort);
        BinaryPrimitives.WriteUInt32BigEndian(span.Slice(4), tag);
        Crc32c.Stamp(span);
        Interlocked.Increment(ref _packetsSent);
        _lastSendTime = Now;
        try
        {
            await _transport.SendAsync(buffer.AsMemory(0, length), CancellationToken.None).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            Close("transport closed", graceful: false);
        }
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Serial number arithmetic (RFC 1982) for 32-bit TSNs: a precedes b.</summary>
    internal static bool Lt(uint a, uint b) => a != b && (int)(a - b) < 0;

    private static uint RandomNonZero()
    {
        uint v;
        do v = BinaryPrimitives.ReadUInt32LittleEndian(RandomNumberGenerator.GetBytes(4)); while (v == 0);
        return v;
    }

    private enum EventKind { Connect, Packet, Send, Credit, Tick, Shutdown, Abort, ResetStream, TransportClosed }

    private sealed class LoopEvent(EventKind kind)
    {
        public EventKind Kind { get; } = kind;
        public byte[]? Buffer { get; init; }
        public int Length { get; init; }
        public SendRequest? Send { get; init; }
        public int Credit { get; init; }
        public string? Reason { get; init; }
        public TaskCompletionSource? Done { get; init; }
        public ushort Stream { get; init; }
    }

    private sealed class SendRequest(OutboundMessage message)
    {
        public OutboundMessage Message { get; } = message;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
    }

    private sealed class OutboundMessage(byte[] data, ushort streamId, uint ppid, bool unordered)
    {
        public byte[] Data { get; } = data;
        public ushort StreamId { get; } = streamId;
        public uint Ppid { get; } = ppid;
        public bool Unordered { get; } = unordered;
        public ushort Ssn { get; set; }
        public int Offset { get; set; }
        public int MaxRetransmits { get; init; } = -1;
        public long ExpiresAt { get; init; } = long.MaxValue;
        public bool IsPartial => MaxRetransmits >= 0 || ExpiresAt != long.MaxValue;
        public bool Abandoned { get; set; }
    }

    private sealed class OutstandingChunk(SctpDataChunk chunk, int size, OutboundMessage message)
    {
        public SctpDataChunk Chunk { get; } = chunk;
        public OutboundMessage Message { get; } = message;

        /// <summary>Given up under partial reliability; counts as acknowledged for flight and window purposes.</summary>
        public bool Abandoned { get; set; }
        public int Size { get; } = size;
        public int Transmissions { get; set; }
        public bool Acked { get; set; }
        public bool InFlight { get; set; }
        public bool Retransmit { get; set; }
        public int MissCount { get; set; }

        /// <summary>First TSN assigned after this chunk's latest retransmission.</summary>
        public uint ResentBeforeTsn { get; set; }
    }

    private sealed class InboundStream
    {
        public ushort NextSsn { get; set; }
        public Dictionary<ushort, SctpIncomingMessage> Waiting { get; } = new();
    }
}
