using Neuro.WebRtc.Sctp;

namespace Neuro.WebRtc.Tests.Sctp;

public sealed class SctpAssociationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(SctpRole.Client, SctpRole.Server)]
    [InlineData(SctpRole.Server, SctpRole.Client)]
    [InlineData(SctpRole.Client, SctpRole.Client)] // simultaneous open: both send INIT, as browsers do
    public async Task Association_establishes_in_either_role_and_carries_a_message(SctpRole roleA, SctpRole roleB)
    {
        var (la, lb) = InMemoryDatagramTransport.CreatePair();
        await using var a = SctpAssociation.Start(la, roleA, SctpTestPeers.FastOptions());
        await using var b = SctpAssociation.Start(lb, roleB, SctpTestPeers.FastOptions());
        await Task.WhenAll(a.ConnectAsync(), b.ConnectAsync()).WaitAsync(Timeout);
        Assert.Equal(SctpState.Established, a.State);
        Assert.Equal(SctpState.Established, b.State);

        var received = new TaskCompletionSource<SctpIncomingMessage>();
        b.MessageReceived = m => received.TrySetResult(m);
        await a.SendAsync(3, DataChannelPpid.Binary, new byte[] { 1, 2, 3 }, unordered: false);
        var message = await received.Task.WaitAsync(Timeout);
        Assert.Equal((ushort)3, message.StreamId);
        Assert.Equal(DataChannelPpid.Binary, message.PayloadProtocolId);
        Assert.Equal(new byte[] { 1, 2, 3 }, message.Data);
    }

    [Fact]
    public async Task Simultaneous_open_with_loss_still_yields_one_association()
    {
        for (int seed = 1; seed <= 5; seed++)
        {
            var (la, lb) = InMemoryDatagramTransport.CreatePair(
                new LinkProfile { Loss = 0.3, Reorder = 0.3, Seed = seed }, new LinkProfile { Loss = 0.3, Reorder = 0.3, Seed = seed + 100 });
            await using var a = SctpAssociation.Start(la, SctpRole.Client, SctpTestPeers.FastOptions());
            await using var b = SctpAssociation.Start(lb, SctpRole.Client, SctpTestPeers.FastOptions());
            await Task.WhenAll(a.ConnectAsync(), b.ConnectAsync()).WaitAsync(Timeout);
            var got = new TaskCompletionSource<byte[]>();
            b.MessageReceived = m => got.TrySetResult(m.Data);
            await a.SendAsync(0, DataChannelPpid.Binary, new byte[] { (byte)seed }, unordered: false);
            Assert.Equal(new[] { (byte)seed }, await got.Task.WaitAsync(Timeout));
        }
    }

    [Fact]
    public async Task Message_larger_than_max_message_size_is_refused_with_a_clear_error()
    {
        await using var peers = await SctpTestPeers.ConnectAsync(optionsA: SctpTestPeers.FastOptions(o => o.MaxMessageSize = 1000));
        var ex = await Assert.ThrowsAsync<SctpMessageTooLargeException>(
            async () => await peers.A.Association.SendAsync(0, DataChannelPpid.Binary, new byte[1001], false));
        Assert.Equal(1001, ex.Size);
        Assert.Equal(1000, ex.MaxMessageSize);
        Assert.Contains("1000", ex.Message);
        await peers.A.Association.SendAsync(0, DataChannelPpid.Binary, new byte[1000], false); // the limit itself is fine
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Message_larger_than_we_accept_is_dropped_without_blocking_the_stream(bool unordered)
    {
        await using var peers = await SctpTestPeers.ConnectAsync(
            optionsA: SctpTestPeers.FastOptions(o => o.MaxMessageSize = 100_000),
            optionsB: SctpTestPeers.FastOptions(o => o.MaxReceiveMessageSize = 50_000));
        var got = System.Threading.Channels.Channel.CreateUnbounded<int>();
        peers.B.Association.MessageReceived = m =>
        {
            got.Writer.TryWrite(m.Data.Length);
            peers.B.Association.ReleaseReceiveBuffer(m.Data.Length);
        };
        await peers.A.Association.SendAsync(2, DataChannelPpid.Binary, new byte[10], unordered);
        await peers.A.Association.SendAsync(2, DataChannelPpid.Binary, new byte[60_000], unordered);
        await peers.A.Association.SendAsync(2, DataChannelPpid.Binary, new byte[50_000], unordered);
        await peers.A.Association.SendAsync(2, DataChannelPpid.Binary, new byte[20], unordered);
        var cts = new CancellationTokenSource(Timeout);
        Assert.Equal(10, await got.Reader.ReadAsync(cts.Token));
        Assert.Equal(50_000, await got.Reader.ReadAsync(cts.Token));
        Assert.Equal(20, await got.Reader.ReadAsync(cts.Token));
        Assert.Equal(1, peers.B.Association.Statistics.OversizedMessagesDropped);
        Assert.Equal(0, peers.B.Association.Statistics.ReceiveBufferHeld);
    }

    [Fact]
    public async Task Default_max_message_size_is_256_KiB()
    {
        await using var peers = await SctpTestPeers.ConnectAsync(optionsA: new SctpOptions { RtoMin = TimeSpan.FromMilliseconds(50) });
        Assert.Equal(256 * 1024, peers.A.Association.MaxMessageSize);
        await Assert.ThrowsAsync<SctpMessageTooLargeException>(
            async () => await peers.A.Association.SendAsync(0, DataChannelPpid.Binary, new byte[256 * 1024 + 1], false));
    }

    [Fact]
    public async Task Ordered_stream_holds_back_a_message_until_the_lost_one_before_it_is_retransmitted()
    {
        var result = await DeliveryOrderWhenFirstDataPacketIsLost(unordered: false);
        Assert.Equal(new[] { "first", "second" }, result);
    }

    [Fact]
    public async Task Unordered_messages_are_delivered_as_they_arrive()
    {
        var result = await DeliveryOrderWhenFirstDataPacketIsLost(unordered: true);
        Assert.Equal(new[] { "second", "first" }, result);
    }

    /// <summary>Drops the first packet that carries DATA once; returns the order messages were handed up in.</summary>
    private static async Task<string[]> DeliveryOrderWhenFirstDataPacketIsLost(bool unordered)
    {
        int dropped = 0;
        bool armed = false;
        var aToB = new LinkProfile
        {
            Drop = d => Volatile.Read(ref armed) && d.Length > 16 && d[12] == (byte)SctpChunkType.Data && Interlocked.Exchange(ref dropped, 1) == 0,
        };
        await using var peers = await SctpTestPeers.ConnectAsync(aToB);
        var order = new List<string>();
        var done = new TaskCompletionSource();
        peers.B.Association.MessageReceived = m =>
        {
            lock (order)
            {
                order.Add(System.Text.Encoding.UTF8.GetString(m.Data));
                if (order.Count == 2) done.TrySetResult();
            }
        };
        Volatile.Write(ref armed, true);
        await peers.A.Association.SendAsync(1, DataChannelPpid.String, "first"u8.ToArray(), unordered);
        // Separate packets: the second send happens after the first has left.
        await Task.Delay(30);
        await peers.A.Association.SendAsync(1, DataChannelPpid.String, "second"u8.ToArray(), unordered);
        await done.Task.WaitAsync(Timeout);
        Assert.Equal(1, dropped);
        return order.ToArray();
    }

    [Fact]
    public async Task Graceful_shutdown_delivers_queued_data_then_closes_both_sides()
    {
        await using var peers = await SctpTestPeers.ConnectAsync(
            new LinkProfile { Loss = 0.1, Seed = 7 }, new LinkProfile { Loss = 0.1, Seed = 8 });
        int count = 0;
        peers.B.Association.MessageReceived = m =>
        {
            Interlocked.Increment(ref count);
            peers.B.Association.ReleaseReceiveBuffer(m.Data.Length);
        };
        for (int i = 0; i < 50; i++)
            await peers.A.Association.SendAsync(0, DataChannelPpid.Binary, new byte[3000], false);
        await peers.A.Association.ShutdownAsync().WaitAsync(Timeout);
        var closedA = await peers.A.Association.Closed.WaitAsync(Timeout);
        var closedB = await peers.B.Association.Closed.WaitAsync(Timeout);
        Assert.True(closedA.Graceful, closedA.Reason);
        Assert.True(closedB.Graceful, closedB.Reason);
        Assert.Equal(50, count);
        Assert.Equal(SctpState.Closed, peers.B.Association.State);
        await Assert.ThrowsAsync<SctpAssociationClosedException>(
            async () => await peers.B.Association.SendAsync(0, DataChannelPpid.Binary, new byte[1], false));
    }

    [Fact]
    public async Task Abort_closes_the_peer_at_once_with_the_reason()
    {
        await using var peers = await SctpTestPeers.ConnectAsync();
        peers.A.Association.Abort("operator said stop");
        var closedB = await peers.B.Association.Closed.WaitAsync(Timeout);
        var closedA = await peers.A.Association.Closed.WaitAsync(Timeout);
        Assert.False(closedB.Graceful);
        Assert.Contains("operator said stop", closedB.Reason);
        Assert.False(closedA.Graceful);
        await Assert.ThrowsAsync<SctpAssociationClosedException>(
            async () => await peers.B.Association.SendAsync(0, DataChannelPpid.Binary, new byte[1], false));
    }

    [Fact]
    public async Task Abort_with_a_wrong_verification_tag_is_ignored()
    {
        await using var peers = await SctpTestPeers.ConnectAsync();
        var forged = new SctpPacket
        {
            SourcePort = 5000,
            DestinationPort = 5000,
            VerificationTag = 0x12345678,
            Chunks = [new SctpErrorChunk { IsAbort = true }],
        }.Encode();
        await peers.LinkA.SendAsync(forged, default);
        await Task.Delay(200);
        Assert.Equal(SctpState.Established, peers.B.Association.State);
        Assert.False(peers.B.Association.Closed.IsCompleted);
    }

    [Fact]
    public async Task Peer_that_vanishes_is_detected_and_the_association_fails()
    {
        bool cut = false;
        var cutLink = new LinkProfile { Drop = _ => Volatile.Read(ref cut) };
        await using var peers = await SctpTestPeers.ConnectAsync(cutLink, cutLink,
            SctpTestPeers.FastOptions(o => o.MaxRetransmissions = 3));
        Volatile.Write(ref cut, true);
        await peers.A.Association.SendAsync(0, DataChannelPpid.Binary, new byte[100], false);
        var closed = await peers.A.Association.Closed.WaitAsync(Timeout);
        Assert.False(closed.Graceful);
        Assert.Contains("unreachable", closed.Reason);
    }
}
