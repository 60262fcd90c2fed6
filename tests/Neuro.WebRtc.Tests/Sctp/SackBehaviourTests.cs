using System.Diagnostics;
using Neuro.WebRtc.Sctp;

namespace Neuro.WebRtc.Tests.Sctp;

/// <summary>Receiver-side SACK rules, observed from a hand-driven raw peer.</summary>
public sealed class SackBehaviourTests
{
    private const uint PeerTag = 0x0BADCAFE, PeerTsn = 5000;

    [Fact]
    public async Task Single_packet_is_acked_after_the_delayed_ack_time_and_a_second_packet_at_once()
    {
        // A long delayed-ack time keeps "delayed" and "at once" far apart even on a loaded machine.
        await using var raw = await RawPeer.ConnectAsync(TimeSpan.FromMilliseconds(1000));
        var clock = Stopwatch.StartNew();
        await raw.SendDataAsync(PeerTsn);
        var sack = await raw.NextSackAsync();
        var delayed = clock.Elapsed;
        Assert.Equal(PeerTsn, sack.CumulativeTsnAck);
        Assert.True(delayed >= TimeSpan.FromMilliseconds(900), $"SACK after {delayed.TotalMilliseconds} ms: not delayed");

        clock.Restart();
        await raw.SendDataAsync(PeerTsn + 1);
        await raw.SendDataAsync(PeerTsn + 2);
        sack = await raw.NextSackAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(600), $"second packet acked after {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(PeerTsn + 2, sack.CumulativeTsnAck);
    }

    [Fact]
    public async Task Gap_is_reported_at_once_with_gap_blocks_and_duplicates()
    {
        await using var raw = await RawPeer.ConnectAsync(TimeSpan.FromMilliseconds(2000));
        await raw.SendDataAsync(PeerTsn);
        await raw.SendDataAsync(PeerTsn + 2); // PeerTsn + 1 missing
        var clock = Stopwatch.StartNew();
        var sack = await raw.NextSackAsync(s => s.GapAckBlocks.Count > 0);
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(1000), $"gap reported after {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(PeerTsn, sack.CumulativeTsnAck);
        Assert.Equal([new SctpGapAckBlock(2, 2)], sack.GapAckBlocks);

        await raw.SendDataAsync(PeerTsn + 4);
        await raw.SendDataAsync(PeerTsn + 5);
        sack = await raw.NextSackAsync(s => s.GapAckBlocks.Count == 2 && s.GapAckBlocks[1].End == 5);
        Assert.Equal([new SctpGapAckBlock(2, 2), new SctpGapAckBlock(4, 5)], sack.GapAckBlocks);

        await raw.SendDataAsync(PeerTsn + 2); // duplicate
        sack = await raw.NextSackAsync(s => s.DuplicateTsns.Count > 0);
        Assert.Equal([PeerTsn + 2], sack.DuplicateTsns);

        // Filling the holes is reported at once too, the last one included.
        clock.Restart();
        await raw.SendDataAsync(PeerTsn + 1);
        await raw.SendDataAsync(PeerTsn + 3);
        sack = await raw.NextSackAsync(s => s.CumulativeTsnAck == PeerTsn + 5);
        Assert.Empty(sack.GapAckBlocks);
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(1000), $"filled gap reported after {clock.Elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Advertised_window_shrinks_with_unread_data_and_reopens_when_read()
    {
        await using var raw = await RawPeer.ConnectAsync(TimeSpan.FromMilliseconds(20));
        var delivered = new List<int>();
        raw.Server.MessageReceived = m => delivered.Add(m.Data.Length); // holds the bytes: nothing released
        for (uint i = 0; i < 4; i++) await raw.SendDataAsync(PeerTsn + i, 1000);
        var sack = await raw.NextSackAsync(s => s.CumulativeTsnAck == PeerTsn + 3);
        Assert.Equal((uint)(raw.Server.Options.ReceiveBufferSize - 4000), sack.AdvertisedReceiverWindow);
        raw.Server.ReleaseReceiveBuffer(4000);
        // Releasing less than a quarter of the buffer is not worth a window update; the next SACK shows it.
        await raw.SendDataAsync(PeerTsn + 4, 1000);
        await raw.SendDataAsync(PeerTsn + 5, 1000);
        sack = await raw.NextSackAsync(s => s.CumulativeTsnAck == PeerTsn + 5);
        Assert.Equal((uint)(raw.Server.Options.ReceiveBufferSize - 2000), sack.AdvertisedReceiverWindow);
    }

    [Fact]
    public async Task Idle_association_probes_with_heartbeats_and_fails_when_they_go_unanswered()
    {
        await using var raw = await RawPeer.ConnectAsync(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(100));
        // Answered heartbeats keep it up: more of them than MaxRetransmissions (3), so unanswered-looking ones would
        // already have closed it.
        for (int i = 0; i < 6; i++)
        {
            var hb = await raw.NextChunkAsync<SctpHeartbeatChunk>();
            Assert.False(hb.IsAck);
            await raw.SendAsync(new SctpHeartbeatChunk { IsAck = true, Info = hb.Info });
        }
        Assert.Equal(SctpState.Established, raw.Server.State);
        // Silence: after MaxRetransmissions unanswered probes the peer counts as gone.
        var closed = await raw.Server.Closed.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.False(closed.Graceful);
        Assert.Contains("unreachable", closed.Reason);
    }

    private sealed class RawPeer : IAsyncDisposable
    {
        public required InMemoryDatagramTransport Link { get; init; }
        public required InMemoryDatagramTransport ServerLink { get; init; }
        public required SctpAssociation Server { get; init; }
        public required uint ServerTag { get; init; }

        public static async Task<RawPeer> ConnectAsync(TimeSpan delayedAck, TimeSpan? heartbeat = null)
        {
            var (link, serverLink) = InMemoryDatagramTransport.CreatePair();
            var server = SctpAssociation.Start(serverLink, SctpRole.Server, new SctpOptions
            {
                DelayedAckTime = delayedAck, RtoMin = TimeSpan.FromMilliseconds(50), TimerTick = TimeSpan.FromMilliseconds(5),
                ReceiveBufferSize = 64 * 1024, MaxReceiveMessageSize = 16 * 1024, HeartbeatInterval = heartbeat ?? TimeSpan.FromSeconds(30), MaxRetransmissions = 3,
                RtoInitial = TimeSpan.FromMilliseconds(100),
            });
            await link.SendAsync(Packet(0, new SctpInitChunk
            {
                IsAck = false, InitiateTag = PeerTag, AdvertisedReceiverWindow = 100_000, OutboundStreams = 8, InboundStreams = 8,
                InitialTsn = PeerTsn,
            }), default);
            var ack = (SctpInitChunk)(await Next(link)).Chunks[0];
            await link.SendAsync(Packet(ack.InitiateTag, new SctpCookieEchoChunk { Cookie = ack.StateCookie! }), default);
            Assert.Equal(SctpChunkType.CookieAck, (await Next(link)).Chunks[0].Type);
            await server.ConnectAsync().WaitAsync(TimeSpan.FromSeconds(5));
            return new RawPeer { Link = link, ServerLink = serverLink, Server = server, ServerTag = ack.InitiateTag };
        }

        public ValueTask SendDataAsync(uint tsn, int size = 10) =>
            Link.SendAsync(Packet(ServerTag, new SctpDataChunk
            {
                Tsn = tsn, StreamId = 1, StreamSequence = (ushort)(tsn - PeerTsn), PayloadProtocolId = DataChannelPpid.Binary,
                UserData = new byte[size], Beginning = true, Ending = true,
            }), default);

        public ValueTask SendAsync(SctpChunk chunk) => Link.SendAsync(Packet(ServerTag, chunk), default);

        public async Task<T> NextChunkAsync<T>() where T : SctpChunk
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(5))
            {
                var packet = await Next(Link);
                foreach (var chunk in packet.Chunks.OfType<T>()) return chunk;
            }
            throw new TimeoutException($"no {typeof(T).Name}");
        }

        public async Task<SctpSackChunk> NextSackAsync(Func<SctpSackChunk, bool>? match = null)
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(5))
            {
                var packet = await Next(Link);
                foreach (var sack in packet.Chunks.OfType<SctpSackChunk>())
                    if (match is null || match(sack)) return sack;
            }
            throw new TimeoutException("no matching SACK");
        }

        private static async Task<SctpPacket> Next(InMemoryDatagramTransport link)
        {
            var datagram = await link.TryReceiveAsync(TimeSpan.FromSeconds(5));
            Assert.NotNull(datagram);
            Assert.True(SctpPacket.TryParse(datagram, out var packet, out var error), error);
            Assert.Equal(PeerTag, packet.VerificationTag);
            return packet;
        }

        private static byte[] Packet(uint tag, SctpChunk chunk) =>
            new SctpPacket { SourcePort = 5000, DestinationPort = 5000, VerificationTag = tag, Chunks = [chunk] }.Encode();

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            await Link.DisposeAsync();
        }
    }
}
