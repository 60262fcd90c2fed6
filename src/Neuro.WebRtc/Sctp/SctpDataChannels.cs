using System.Threading.Channels;

namespace Neuro.WebRtc.Sctp;

/// <summary>
/// WebRTC data channels (RFC 8831) with DCEP (RFC 8832) over one SCTP association: opens channels, answers the
/// peer's DATA_CHANNEL_OPEN, and routes messages by stream id.
/// </summary>
public sealed class SctpDataChannels : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<ushort, DataChannel> _channels = new();
    private readonly Channel<DataChannel> _incoming = Channel.CreateUnbounded<DataChannel>();
    private readonly bool _evenIds;
    private int _nextId;

    /// <summary>
    /// Runs data channels on <paramref name="association"/>, which must not be running yet (its first messages
    /// would have nowhere to go). <paramref name="isDtlsClient"/> picks the stream id parity (RFC 8832 §6: the DTLS
    /// client uses even ids, the server odd) so both sides can open channels at once without colliding.
    /// </summary>
    private SctpDataChannels(SctpAssociation association, bool isDtlsClient)
    {
        Association = association;
        _evenIds = isDtlsClient;
        _nextId = isDtlsClient ? 0 : 1;
        association.MessageReceived = OnMessage;
        association.IncomingStreamsReset = OnIncomingReset;
        association.OutgoingStreamsReset = OnOutgoingReset;
        _ = association.Closed.ContinueWith(_ => OnAssociationClosed(), TaskScheduler.Default);
    }

    /// <summary>
    /// The usual WebRTC wiring: SCTP over the DTLS transport on <paramref name="options"/>' ports (5000 by default).
    /// <paramref name="isDtlsClient"/> picks the channel id parity. Both sides send INIT by default, as browsers
    /// do: peers disagree on which side should (aiortc decides by ICE role, not DTLS role), and two waiting sides
    /// would never connect, while two INIT senders end in one association (simultaneous open).
    /// </summary>
    public static SctpDataChannels Start(IDatagramTransport dtls, bool isDtlsClient, SctpOptions? options = null,
        SctpRole role = SctpRole.Client)
    {
        var association = SctpAssociation.Create(dtls, role, options);
        var channels = new SctpDataChannels(association, isDtlsClient);
        association.Run();
        return channels;
    }

    public SctpAssociation Association { get; }

    /// <summary>Channels the peer opened, in the order their DATA_CHANNEL_OPEN arrived. Completes when the association closes.</summary>
    public ChannelReader<DataChannel> IncomingChannels => _incoming.Reader;

    public IReadOnlyList<DataChannel> Channels
    {
        get
        {
            lock (_gate) return _channels.Values.ToList();
        }
    }

    /// <summary>
    /// Opens a channel: waits for the association, picks a free stream id of our parity and sends
    /// DATA_CHANNEL_OPEN. Messages may be sent at once; <see cref="DataChannel.Opened"/> completes on the ACK.
    /// </summary>
    public async Task<DataChannel> CreateDataChannelAsync(string label, DataChannelOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new DataChannelOptions();
        await Association.ConnectAsync(cancellationToken).ConfigureAwait(false);
        uint reliability = options.MaxRetransmits ?? options.MaxPacketLifeTime ?? 0;
        var open = new DataChannelOpenMessage(options.ChannelType, options.Priority, reliability, label, options.Protocol);
        var payload = Dcep.EncodeOpen(open); // validates label and protocol lengths before an id is taken
        int limit = Math.Min(Association.OutboundStreamCount, Association.InboundStreamCount);
        DataChannel channel;
        lock (_gate)
        {
            ushort id;
            if (options.NegotiatedId is { } negotiated)
            {
                if (negotiated >= limit) throw new ArgumentOutOfRangeException(nameof(options), $"stream id {negotiated} beyond {limit} streams");
                if (_channels.ContainsKey(negotiated)) throw new InvalidOperationException($"stream id {negotiated} is in use");
                id = negotiated;
            }
            else
            {
                int candidate = _nextId;
                while (candidate < limit && _channels.ContainsKey((ushort)candidate)) candidate += 2;
                if (candidate >= limit)
                {
                    candidate = _evenIds ? 0 : 1;
                    while (candidate < limit && _channels.ContainsKey((ushort)candidate)) candidate += 2;
                    if (candidate >= limit) throw new InvalidOperationException("no free SCTP stream for a new data channel");
                }
                id = (ushort)candidate;
                _nextId = candidate + 2;
            }
            channel = new DataChannel(this, id, open, negotiated: options.NegotiatedId is not null, remote: false);
            _channels[id] = channel;
        }
        if (options.NegotiatedId is not null)
        {
            channel.MarkOpen();
            return channel;
        }
        try
        {
            // The OPEN always goes ordered and reliable (RFC 8832 §6).
            await Association.SendAsync(channel.Id, DataChannelPpid.Dcep, payload, unordered: false, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate) _channels.Remove(channel.Id);
            channel.MarkClosed();
            throw;
        }
        return channel;
    }

    // Runs on the association's loop.
    private void OnMessage(SctpIncomingMessage message)
    {
        DataChannel? channel;
        lock (_gate) _channels.TryGetValue(message.StreamId, out channel);
        switch (message.PayloadProtocolId)
        {
            case DataChannelPpid.Dcep:
                Association.ReleaseReceiveBuffer(message.Data.Length);
                HandleDcep(message, channel);
                break;
            case DataChannelPpid.String or DataChannelPpid.Binary when channel is not null && channel.State != DataChannelState.Closed:
                channel.Enqueue(new DataChannelMessage(message.Data, message.PayloadProtocolId == DataChannelPpid.String));
                break;
            case DataChannelPpid.StringEmpty or DataChannelPpid.BinaryEmpty when channel is not null && channel.State != DataChannelState.Closed:
                // The one-byte placeholder is released when the empty message is read.
                channel.Enqueue(new DataChannelMessage(ReadOnlyMemory<byte>.Empty, message.PayloadProtocolId == DataChannelPpid.StringEmpty));
                break;
            default:
                // Unknown stream or PPID (including the deprecated 52/54 partial forms): nobody will read it.
                Association.ReleaseReceiveBuffer(message.Data.Length);
                break;
        }
    }

    private void HandleDcep(SctpIncomingMessage message, DataChannel? existing)
    {
        if (!Dcep.TryParse(message.Data, out var open, out bool isAck, out _)) return;
        if (isAck)
        {
            existing?.MarkOpen();
            return;
        }
        if (existing is not null)
        {
            // An OPEN for a stream that is in use breaks the parity rule; ignore it rather than hijack the channel.
            return;
        }
        var channel = new DataChannel(this, message.StreamId, open!, negotiated: false, remote: true);
        lock (_gate) _channels[message.StreamId] = channel;
        // Queued before the application can see the channel, so the ACK precedes anything it sends.
        _ = Association.SendAsync(message.StreamId, DataChannelPpid.Dcep, Dcep.EncodeAck(), unordered: false).AsTask()
            .ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        channel.MarkOpen();
        _incoming.Writer.TryWrite(channel);
    }

    internal void BeginClose(DataChannel channel)
    {
        if (!channel.TryBeginClosing()) return;
        if (Association.Closed.IsCompleted)
        {
            Forget(channel);
            return;
        }
        Association.ResetStream(channel.Id);
    }

    private void OnIncomingReset(IReadOnlyList<ushort> streams)
    {
        foreach (var id in streams)
        {
            DataChannel? channel;
            lock (_gate) _channels.TryGetValue(id, out channel);
            if (channel is null) continue;
            channel.IncomingResetDone = true;
            // RFC 8831 §6.7: the side that sees its incoming stream reset resets its outgoing one as well.
            if (channel.TryBeginClosing()) Association.ResetStream(id);
            if (channel.OutgoingResetDone) Forget(channel);
        }
    }

    private void OnOutgoingReset(IReadOnlyList<ushort> streams)
    {
        foreach (var id in streams)
        {
            DataChannel? channel;
            lock (_gate) _channels.TryGetValue(id, out channel);
            if (channel is null) continue;
            channel.OutgoingResetDone = true;
            if (channel.IncomingResetDone || !Association.PeerSupportsReconfig) Forget(channel);
        }
    }

    private void Forget(DataChannel channel)
    {
        lock (_gate)
        {
            if (_channels.TryGetValue(channel.Id, out var current) && ReferenceEquals(current, channel)) _channels.Remove(channel.Id);
        }
        channel.MarkClosed();
    }

    private void OnAssociationClosed()
    {
        List<DataChannel> all;
        lock (_gate)
        {
            all = _channels.Values.ToList();
            _channels.Clear();
        }
        foreach (var channel in all) channel.MarkClosed();
        _incoming.Writer.TryComplete();
    }

    public ValueTask DisposeAsync() => Association.DisposeAsync();
}
