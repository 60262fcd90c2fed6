using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Threading.Channels;

namespace Neuro.WebRtc.Sctp;

/// <summary>One received data channel message.</summary>
public readonly record struct DataChannelMessage(ReadOnlyMemory<byte> Data, bool IsText)
{
    /// <summary>The message as UTF-8 text (meaningful when <see cref="IsText"/>).</summary>
    public string Text => Encoding.UTF8.GetString(Data.Span);
}

public enum DataChannelState
{
    Connecting,
    Open,
    Closing,
    Closed,
}

/// <summary>How a channel is opened (the subset of RTCDataChannelInit that maps to DCEP).</summary>
public sealed class DataChannelOptions
{
    public bool Ordered { get; init; } = true;

    /// <summary>Partial reliability by retransmission count (0 = send once).</summary>
    public uint? MaxRetransmits { get; init; }

    /// <summary>Partial reliability by lifetime in milliseconds.</summary>
    public uint? MaxPacketLifeTime { get; init; }

    public string Protocol { get; init; } = "";
    public ushort Priority { get; init; } = 256;

    /// <summary>Out-of-band negotiated stream id (RFC 8832 §6: no DCEP exchange); both sides must use the same.</summary>
    public ushort? NegotiatedId { get; init; }

    internal DataChannelType ChannelType => (MaxRetransmits, MaxPacketLifeTime, Ordered) switch
    {
        (not null, _, true) => DataChannelType.PartialReliableRexmit,
        (not null, _, false) => DataChannelType.PartialReliableRexmitUnordered,
        (null, not null, true) => DataChannelType.PartialReliableTimed,
        (null, not null, false) => DataChannelType.PartialReliableTimedUnordered,
        (null, null, true) => DataChannelType.Reliable,
        (null, null, false) => DataChannelType.ReliableUnordered,
    };
}

/// <summary>
/// A WebRTC data channel (RFC 8831) on one SCTP stream. Messages keep their boundaries and their text/binary kind.
/// </summary>
/// <remarks>
/// Partial-reliability channel types (max retransmits, max lifetime) abandon messages with FORWARD TSN (RFC 3758)
/// when the peer supports it, and are sent reliably otherwise. The receive side is flow-controlled end to end: a message counts against the SCTP receive window until it is read
/// from <see cref="Messages"/>, so a reader that stops reading eventually stops the remote writer.
/// </remarks>
public sealed class DataChannel
{
    private readonly SctpDataChannels _owner;
    private readonly Channel<DataChannelMessage> _inbox = Channel.CreateUnbounded<DataChannelMessage>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _acked;
    private volatile DataChannelState _state = DataChannelState.Connecting;
    internal bool OutgoingResetDone, IncomingResetDone;

    internal DataChannel(SctpDataChannels owner, ushort id, DataChannelOpenMessage open, bool negotiated, bool remote)
    {
        _owner = owner;
        Id = id;
        Label = open.Label;
        Protocol = open.Protocol;
        ChannelType = open.ChannelType;
        ReliabilityParameter = open.ReliabilityParameter;
        Priority = open.Priority;
        Negotiated = negotiated;
        OpenedByRemote = remote;
        Messages = new CreditReader(_inbox.Reader, this);
    }

    public ushort Id { get; }
    public string Label { get; }
    public string Protocol { get; }
    public DataChannelType ChannelType { get; }
    public uint ReliabilityParameter { get; }
    public ushort Priority { get; }
    public bool Ordered => ((byte)ChannelType & 0x80) == 0;
    public bool Negotiated { get; }
    public bool OpenedByRemote { get; }
    public DataChannelState State => _state;

    /// <summary>What the channel type asks of each message we send (RFC 8831 §6.1: it applies to both directions).</summary>
    internal SctpPartialReliability Reliability => ChannelType switch
    {
        DataChannelType.PartialReliableRexmit or DataChannelType.PartialReliableRexmitUnordered =>
            new SctpPartialReliability((int)Math.Min(ReliabilityParameter, int.MaxValue), null),
        DataChannelType.PartialReliableTimed or DataChannelType.PartialReliableTimedUnordered =>
            new SctpPartialReliability(null, TimeSpan.FromMilliseconds(ReliabilityParameter)),
        _ => SctpPartialReliability.Reliable,
    };

    /// <summary>Completes when the channel is open: at once for a channel the peer opened or a negotiated one, on
    /// DATA_CHANNEL_ACK for one we opened. Faults if the channel closes first.</summary>
    public Task Opened => _opened.Task;

    /// <summary>Completes when both directions of the stream are reset, or the association ends.</summary>
    public Task Closed => _closed.Task;

    /// <summary>Received messages in delivery order. Reading releases their bytes from the SCTP receive window.</summary>
    public ChannelReader<DataChannelMessage> Messages { get; }

    public IAsyncEnumerable<DataChannelMessage> ReadAllAsync(CancellationToken cancellationToken = default) =>
        Messages.ReadAllAsync(cancellationToken);

    public ValueTask SendAsync(string text, CancellationToken cancellationToken = default)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return bytes.Length == 0
            ? SendRawAsync(DataChannelPpid.StringEmpty, new byte[1], cancellationToken)
            : SendRawAsync(DataChannelPpid.String, bytes, cancellationToken);
    }

    public ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        data.Length == 0
            ? SendRawAsync(DataChannelPpid.BinaryEmpty, new byte[1], cancellationToken)
            : SendRawAsync(DataChannelPpid.Binary, data, cancellationToken);

    private ValueTask SendRawAsync(uint ppid, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (_state is DataChannelState.Closing or DataChannelState.Closed)
            throw new InvalidOperationException($"data channel '{Label}' ({Id}) is {_state}");
        // RFC 8832 §6: until the ACK arrives, messages go ordered so none overtakes the OPEN.
        bool unordered = !Ordered && _acked;
        return _owner.Association.SendAsync(Id, ppid, data, unordered, Reliability, cancellationToken);
    }

    /// <summary>Closes the channel by resetting its outgoing stream (RFC 8831 §6.7); the peer resets its side too.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        _owner.BeginClose(this);
        await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    internal bool TryBeginClosing()
    {
        if (_state is DataChannelState.Closing or DataChannelState.Closed) return false;
        _state = DataChannelState.Closing;
        return true;
    }

    internal void MarkOpen()
    {
        _acked = true;
        if (_state == DataChannelState.Connecting) _state = DataChannelState.Open;
        _opened.TrySetResult();
    }

    internal void Enqueue(DataChannelMessage message) => _inbox.Writer.TryWrite(message);

    internal void MarkClosed()
    {
        _state = DataChannelState.Closed;
        _inbox.Writer.TryComplete();
        _opened.TrySetException(new InvalidOperationException($"data channel '{Label}' closed before it opened"));
        _ = _opened.Task.Exception;
        _closed.TrySetResult();
    }

    internal void ReleaseCredit(int bytes) => _owner.Association.ReleaseReceiveBuffer(bytes);

    public override string ToString() => $"DataChannel '{Label}' id {Id} {ChannelType} {_state}";

    /// <summary>Hands each message out once and, as it does, returns its bytes to the association's window.</summary>
    private sealed class CreditReader(ChannelReader<DataChannelMessage> inner, DataChannel channel) : ChannelReader<DataChannelMessage>
    {
        public override Task Completion => inner.Completion;
        public override bool CanCount => inner.CanCount;
        public override int Count => inner.Count;

        public override bool TryRead([MaybeNullWhen(false)] out DataChannelMessage item)
        {
            if (!inner.TryRead(out item)) return false;
            // Empty messages travel as one placeholder byte that also occupied the window.
            channel.ReleaseCredit(Math.Max(1, item.Data.Length));
            return true;
        }

        public override bool TryPeek([MaybeNullWhen(false)] out DataChannelMessage item) => inner.TryPeek(out item);

        public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) =>
            inner.WaitToReadAsync(cancellationToken);
    }
}
