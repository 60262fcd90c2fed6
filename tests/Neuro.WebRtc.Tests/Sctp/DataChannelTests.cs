using System.Diagnostics;
using System.Security.Cryptography;
using Neuro.WebRtc.Sctp;
using Xunit.Abstractions;

namespace Neuro.WebRtc.Tests.Sctp;

public sealed class DataChannelTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Either_side_opens_a_channel_with_dcep_and_parity_ids()
    {
        await using var peers = await SctpTestPeers.ConnectAsync();

        var fromA = await peers.A.CreateDataChannelAsync("chat", new DataChannelOptions { Protocol = "neko-v3" });
        var atB = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        await fromA.Opened.WaitAsync(Timeout);
        Assert.Equal(0, fromA.Id % 2); // DTLS client: even
        Assert.Equal(fromA.Id, atB.Id);
        Assert.Equal(("chat", "neko-v3", DataChannelType.Reliable), (atB.Label, atB.Protocol, atB.ChannelType));
        Assert.True(atB.OpenedByRemote);
        Assert.Equal(DataChannelState.Open, fromA.State);

        var fromB = await peers.B.CreateDataChannelAsync("data");
        var atA = await peers.A.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        await fromB.Opened.WaitAsync(Timeout);
        Assert.Equal(1, fromB.Id % 2); // DTLS server: odd
        Assert.Equal("data", atA.Label);

        // Text, binary and empty messages keep their kind, both ways, on both channels.
        await fromA.SendAsync("hello");
        await fromA.SendAsync(new byte[] { 1, 2, 3 });
        await fromA.SendAsync("");
        await fromA.SendAsync(ReadOnlyMemory<byte>.Empty);
        await AssertNext(atB, "hello", text: true);
        await AssertNext(atB, [1, 2, 3], text: false);
        await AssertNext(atB, "", text: true);
        await AssertNext(atB, [], text: false);
        await fromB.SendAsync("back");
        await atA.SendAsync(new byte[] { 9 });
        await AssertNext(atA, "back", text: true);
        await AssertNext(fromB, [9], text: false);
    }

    [Fact]
    public async Task Both_sides_open_channels_at_the_same_time_without_collision()
    {
        await using var peers = await SctpTestPeers.ConnectAsync(bothSendInit: true);
        var opening = Enumerable.Range(0, 5).SelectMany(i => new[]
        {
            peers.A.CreateDataChannelAsync($"a{i}"), peers.B.CreateDataChannelAsync($"b{i}"),
        }).ToArray();
        var created = await Task.WhenAll(opening).WaitAsync(Timeout);
        Assert.Equal(10, created.Select(c => c.Id).Distinct().Count());
        await Task.WhenAll(created.Select(c => c.Opened)).WaitAsync(Timeout);
        var incomingAtA = new List<string>();
        var incomingAtB = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            incomingAtA.Add((await peers.A.IncomingChannels.ReadAsync()).Label);
            incomingAtB.Add((await peers.B.IncomingChannels.ReadAsync()).Label);
        }
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"b{i}").Order(), incomingAtA.Order());
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"a{i}").Order(), incomingAtB.Order());
    }

    [Fact]
    public async Task Partial_reliability_types_are_announced_and_parsed()
    {
        await using var peers = await SctpTestPeers.ConnectAsync();
        await peers.A.CreateDataChannelAsync("rexmit", new DataChannelOptions { Ordered = false, MaxRetransmits = 3 });
        await peers.A.CreateDataChannelAsync("timed", new DataChannelOptions { MaxPacketLifeTime = 150 });
        var first = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        var second = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal((DataChannelType.PartialReliableRexmitUnordered, 3u, false), (first.ChannelType, first.ReliabilityParameter, first.Ordered));
        Assert.Equal((DataChannelType.PartialReliableTimed, 150u, true), (second.ChannelType, second.ReliabilityParameter, second.Ordered));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Partially_reliable_channel_abandons_lost_messages_with_forward_tsn_and_keeps_flowing(bool byRetransmits)
    {
        bool lossy = true;
        var drop = new Random(4);
        // Only packets carrying DATA are lost, so FORWARD TSN, SACKs and the DCEP handshake get through.
        var link = new LinkProfile
        {
            Drop = d => Volatile.Read(ref lossy) && d.Length > 16 && d[12] == (byte)Neuro.WebRtc.Sctp.SctpChunkType.Data && d[27] != 50
                        && Locked(drop) < 0.3,
        };
        await using var peers = await SctpTestPeers.ConnectAsync(link);
        var options = byRetransmits ? new DataChannelOptions { MaxRetransmits = 0 } : new DataChannelOptions { MaxPacketLifeTime = 30 };
        var sender = await peers.A.CreateDataChannelAsync("lossy", options);
        var receiver = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        await sender.Opened.WaitAsync(Timeout);
        for (int i = 0; i < 300; i++)
        {
            await sender.SendAsync(BitConverter.GetBytes(i));
            if (i % 20 == 0) await Task.Delay(5);
        }
        await Task.Delay(1000);
        Volatile.Write(ref lossy, false);
        await sender.SendAsync(BitConverter.GetBytes(1000));

        var got = new List<int>();
        while (true)
        {
            var m = await receiver.Messages.ReadAsync().AsTask().WaitAsync(Timeout);
            int value = BitConverter.ToInt32(m.Data.Span);
            got.Add(value);
            if (value == 1000) break;
        }
        var stats = peers.A.Association.Statistics;
        Assert.True(got.Count < 301, "nothing was lost: the test did not exercise abandonment");
        Assert.True(got.Count > 50, $"only {got.Count} arrived");
        Assert.Equal(got.Order(), got); // still ordered, no duplicates
        Assert.Equal(got.Distinct().Count(), got.Count);
        Assert.True(stats.AbandonedMessages > 0 && stats.ForwardTsnsSent > 0, $"abandoned {stats.AbandonedMessages}, forward TSNs {stats.ForwardTsnsSent}");
    }

    private static double Locked(Random r)
    {
        lock (r) return r.NextDouble();
    }

    [Fact]
    public async Task Closing_a_channel_resets_the_stream_on_both_sides_and_keeps_the_association()
    {
        await using var peers = await SctpTestPeers.ConnectAsync();
        var a = await peers.A.CreateDataChannelAsync("one");
        var b = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        await a.SendAsync("before close");
        await a.CloseAsync().WaitAsync(Timeout);
        await b.Closed.WaitAsync(Timeout);
        Assert.Equal(DataChannelState.Closed, a.State);
        Assert.Equal(DataChannelState.Closed, b.State);
        // What was sent before the close still arrives, then the reader completes.
        var all = new List<string>();
        await foreach (var m in b.ReadAllAsync().WithCancellation(new CancellationTokenSource(Timeout).Token)) all.Add(m.Text);
        Assert.Equal(["before close"], all);
        Assert.Throws<InvalidOperationException>(() => { _ = a.SendAsync("after"); });

        // The association is still up and the freed stream id can be used again (here by a negotiated channel,
        // which both sides create on the same id without DCEP); its SSNs start from 0 again after the reset.
        Assert.Equal(SctpState.Established, peers.A.Association.State);
        Assert.DoesNotContain(peers.A.Channels, c => c.Id == a.Id);
        Assert.DoesNotContain(peers.B.Channels, c => c.Id == a.Id);
        var again = await peers.A.CreateDataChannelAsync("two", new DataChannelOptions { NegotiatedId = a.Id });
        var againAtB = await peers.B.CreateDataChannelAsync("two", new DataChannelOptions { NegotiatedId = a.Id });
        await again.SendAsync("fresh");
        await again.SendAsync("fresher");
        await AssertNext(againAtB, "fresh", text: true);
        await AssertNext(againAtB, "fresher", text: true);
    }

    [Fact]
    public async Task Both_sides_closing_the_same_channel_at_once_close_it()
    {
        await using var peers = await SctpTestPeers.ConnectAsync();
        var a = await peers.A.CreateDataChannelAsync("both");
        var b = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        await a.Opened.WaitAsync(Timeout);
        await Task.WhenAll(a.CloseAsync(), b.CloseAsync()).WaitAsync(Timeout);
        Assert.Equal((DataChannelState.Closed, DataChannelState.Closed), (a.State, b.State));
        Assert.Empty(peers.A.Channels);
        Assert.Empty(peers.B.Channels);
    }

    [Fact]
    public async Task Unordered_channel_delivers_every_message_intact_under_loss_and_reordering()
    {
        var lossy = (int seed) => new LinkProfile { Loss = 0.10, Reorder = 0.2, Duplicate = 0.02, Delay = TimeSpan.FromMilliseconds(1), Seed = seed };
        await using var peers = await SctpTestPeers.ConnectAsync(lossy(21), lossy(22));
        var sender = await peers.A.CreateDataChannelAsync("u", new DataChannelOptions { Ordered = false });
        var receiver = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.False(receiver.Ordered);
        await sender.Opened.WaitAsync(Timeout);
        const int count = 300;
        var sending = Task.Run(async () =>
        {
            for (int i = 0; i < count; i++)
            {
                var data = new byte[i % 3 == 0 ? 5000 : 100]; // some messages span several packets
                new Random(i).NextBytes(data);
                BitConverter.TryWriteBytes(data, i);
                await sender.SendAsync(data);
            }
        });
        var seen = new HashSet<int>();
        int outOfOrder = 0, last = -1;
        await foreach (var m in receiver.ReadAllAsync().WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))
        {
            int i = BitConverter.ToInt32(m.Data.Span);
            var expected = new byte[i % 3 == 0 ? 5000 : 100];
            new Random(i).NextBytes(expected);
            BitConverter.TryWriteBytes(expected, i);
            Assert.True(expected.AsSpan().SequenceEqual(m.Data.Span), $"message {i} corrupted");
            Assert.True(seen.Add(i), $"message {i} delivered twice");
            if (i < last) outOfOrder++;
            last = Math.Max(last, i);
            if (seen.Count == count) break;
        }
        await sending;
        output.WriteLine($"{outOfOrder} of {count} unordered messages overtook an earlier one");
        Assert.True(outOfOrder > 0, "with loss and reordering some message should have overtaken another");
    }

    [Fact]
    public async Task Association_shutdown_closes_all_channels()
    {
        await using var peers = await SctpTestPeers.ConnectAsync();
        var a = await peers.A.CreateDataChannelAsync("x");
        var b = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        await peers.B.Association.ShutdownAsync().WaitAsync(Timeout);
        await Task.WhenAll(a.Closed, b.Closed).WaitAsync(Timeout);
        Assert.True((await peers.A.Association.Closed).Graceful);
        Assert.False(await peers.A.IncomingChannels.WaitToReadAsync()); // completed
    }

    [Fact]
    public async Task Thousand_ordered_messages_of_mixed_sizes_arrive_intact_and_in_order_at_10_percent_loss_with_reordering()
    {
        var lossy = (int seed) => new LinkProfile { Loss = 0.10, Reorder = 0.10, Duplicate = 0.01, Delay = TimeSpan.FromMilliseconds(1), Seed = seed };
        await using var peers = await SctpTestPeers.ConnectAsync(lossy(11), lossy(12));
        var sender = await peers.A.CreateDataChannelAsync("bulk");
        var receiver = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);

        var sizes = new Random(5);
        var messages = Enumerable.Range(0, 1000).Select(i =>
        {
            int size = (i % 10) switch
            {
                0 => 100 * 1024, // 100 KiB: ~90 fragments each
                1 or 2 => sizes.Next(1200, 20_000),
                _ => sizes.Next(1, 1200),
            };
            var data = new byte[size];
            new Random(i).NextBytes(data);
            return data;
        }).ToArray();
        long total = messages.Sum(m => (long)m.Length);

        var clock = Stopwatch.StartNew();
        var sending = Task.Run(async () =>
        {
            foreach (var m in messages) await sender.SendAsync(m);
        });
        int index = 0;
        await foreach (var m in receiver.ReadAllAsync().WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(120)).Token))
        {
            Assert.False(m.IsText);
            Assert.True(messages[index].AsSpan().SequenceEqual(m.Data.Span), $"message {index} differs (length {m.Data.Length} vs {messages[index].Length})");
            if (++index == messages.Length) break;
        }
        await sending;
        clock.Stop();
        var stats = peers.A.Association.Statistics;
        output.WriteLine($"{total / 1e6:F1} MB in {clock.Elapsed.TotalSeconds:F1} s ({total / 1e6 / clock.Elapsed.TotalSeconds:F2} MB/s) at 10% loss; " +
                         $"retransmissions {stats.Retransmissions}, fast {stats.FastRetransmissions}, timeouts {stats.Timeouts}, " +
                         $"packets dropped by the link {peers.LinkA.Dropped}/{peers.LinkA.Sent}, SACK packets from the receiver {peers.B.Association.Statistics.PacketsSent}, " +
                         $"srtt {stats.SmoothedRttMs:F1} ms, max receive buffer held {peers.B.Association.Statistics.MaxReceiveBufferHeld}");
        Assert.Equal(1000, index);
        Assert.True(stats.FastRetransmissions > 0, "loss never triggered fast retransmit");
    }

    [Fact]
    public async Task Slow_reader_bounds_memory_through_the_receive_window_and_send_back_pressure()
    {
        const int window = 128 * 1024, sendBuffer = 256 * 1024, message = 16 * 1024, count = 200; // 3.2 MB offered
        await using var peers = await SctpTestPeers.ConnectAsync(
            optionsA: SctpTestPeers.FastOptions(o => o.SendBufferSize = sendBuffer),
            optionsB: SctpTestPeers.FastOptions(o => o.ReceiveBufferSize = window));
        var sender = await peers.A.CreateDataChannelAsync("firehose");
        var receiver = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        int sent = 0;
        var sending = Task.Run(async () =>
        {
            for (int i = 0; i < count; i++)
            {
                var m = new byte[message];
                m[0] = (byte)i;
                await sender.SendAsync(m);
                Interlocked.Increment(ref sent);
            }
        });
        await Task.Delay(1500); // nobody reads for a while
        var receiverStats = peers.B.Association.Statistics;
        var senderStats = peers.A.Association.Statistics;
        output.WriteLine($"while stalled: sent {Volatile.Read(ref sent)}/{count}, receiver holds {receiverStats.ReceiveBufferHeld} " +
                         $"(max {receiverStats.MaxReceiveBufferHeld}), sender buffers {senderStats.SendBufferHeld}, peer rwnd {senderStats.PeerReceiverWindow}");
        Assert.False(sending.IsCompleted, "the writer should be held back");
        Assert.True(receiverStats.MaxReceiveBufferHeld <= window + message, $"receiver held {receiverStats.MaxReceiveBufferHeld}");
        Assert.True(senderStats.SendBufferHeld <= sendBuffer + message, $"sender buffered {senderStats.SendBufferHeld}");
        Assert.True(Volatile.Read(ref sent) * message <= window + sendBuffer + 2 * message + message);

        // Once the reader reads, everything flows and arrives in order.
        int got = 0;
        await foreach (var m in receiver.ReadAllAsync().WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
            Assert.Equal((byte)got, m.Data.Span[0]);
            if (++got == count) break;
        }
        await sending.WaitAsync(Timeout);
        Assert.True(peers.B.Association.Statistics.MaxReceiveBufferHeld <= window + message);
    }

    [Fact]
    public async Task Send_waiting_for_buffer_space_can_be_cancelled_and_is_then_never_sent()
    {
        await using var peers = await SctpTestPeers.ConnectAsync(
            optionsA: SctpTestPeers.FastOptions(o => o.SendBufferSize = 64 * 1024),
            optionsB: SctpTestPeers.FastOptions(o => o.ReceiveBufferSize = 64 * 1024));
        var sender = await peers.A.CreateDataChannelAsync("c");
        var receiver = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        await sender.Opened.WaitAsync(Timeout);
        // Fill the receive window and the send buffer while nobody reads.
        int accepted = 0;
        while (true)
        {
            var send = sender.SendAsync(new byte[16 * 1024]).AsTask();
            if (await Task.WhenAny(send, Task.Delay(500)) != send) break;
            accepted++;
        }
        using var cts = new CancellationTokenSource();
        var blocked = sender.SendAsync(System.Text.Encoding.UTF8.GetBytes("cancelled"), cts.Token).AsTask();
        await Task.Delay(100);
        Assert.False(blocked.IsCompleted);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked.WaitAsync(Timeout));
        // The first blocked send (from the loop above) is still queued; reading drains everything.
        var reading = Task.Run(async () =>
        {
            var texts = new List<string>();
            await foreach (var m in receiver.ReadAllAsync())
            {
                if (m.IsText) texts.Add(m.Text);
                if (m.IsText && m.Text == "end") return texts;
            }
            return texts;
        });
        await sender.SendAsync("end").AsTask().WaitAsync(Timeout);
        Assert.Equal(["end"], await reading.WaitAsync(Timeout));
        Assert.True(accepted > 0);
    }

    [Fact]
    public async Task Throughput_and_round_trip_on_the_in_memory_pair()
    {
        await using var peers = await SctpTestPeers.ConnectAsync();
        var a = await peers.A.CreateDataChannelAsync("bench");
        var b = await peers.B.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);

        // Round trip: 64-byte ping, echoed by B, 500 times after 50 warm-up rounds.
        var echo = Task.Run(async () =>
        {
            await foreach (var m in b.ReadAllAsync())
            {
                if (m.Data.Length == 1) return;
                await b.SendAsync(m.Data);
            }
        });
        var ping = new byte[64];
        var rtts = new List<double>();
        for (int i = 0; i < 550; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await a.SendAsync(ping);
            await a.Messages.ReadAsync().AsTask().WaitAsync(Timeout);
            if (i >= 50) rtts.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }
        await a.SendAsync(new byte[1]);
        await echo.WaitAsync(Timeout);
        rtts.Sort();

        // Throughput: 64 MB in 64 KiB messages, timed until the last byte is read.
        const int size = 64 * 1024, count = 1024;
        var payload = RandomNumberGenerator.GetBytes(size);
        var clock = Stopwatch.StartNew();
        var writer = Task.Run(async () =>
        {
            for (int i = 0; i < count; i++) await a.SendAsync(payload);
        });
        long bytes = 0;
        await foreach (var m in b.ReadAllAsync().WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(120)).Token))
        {
            bytes += m.Data.Length;
            if (bytes == (long)size * count) break;
        }
        clock.Stop();
        await writer;
        double mbps = bytes / 1e6 / clock.Elapsed.TotalSeconds;
        output.WriteLine($"round trip 64 B: median {rtts[rtts.Count / 2]:F0} us, p99 {rtts[(int)(rtts.Count * 0.99)]:F0} us; " +
                         $"throughput {bytes / 1e6:F0} MB in {clock.Elapsed.TotalSeconds:F2} s = {mbps:F1} MB/s; " +
                         $"packets {peers.A.Association.Statistics.PacketsSent}");
        Assert.Equal((long)size * count, bytes);
        Assert.True(mbps > 1, $"throughput {mbps:F2} MB/s");
    }

    private static async Task AssertNext(DataChannel channel, string expected, bool text = true) =>
        await AssertNextCore(channel, System.Text.Encoding.UTF8.GetBytes(expected), text);

    private static async Task AssertNext(DataChannel channel, byte[] expected, bool text) => await AssertNextCore(channel, expected, text);

    private static async Task AssertNextCore(DataChannel channel, byte[] expected, bool text)
    {
        var m = await channel.Messages.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(text, m.IsText);
        Assert.Equal(expected, m.Data.ToArray());
    }
}
