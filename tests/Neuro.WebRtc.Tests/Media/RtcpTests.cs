using Neuro.WebRtc.Media.Rtcp;
using Neuro.WebRtc.Media.Rtp;

namespace Neuro.WebRtc.Tests.Media;

public sealed class RtcpTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("media-rtcp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    private static readonly RtcpReportBlock Block = new(0x55667788, 25, -3, 0x0001FFFF, 77, 0xABCD1234, 65536);

    [Fact]
    public void Every_type_round_trips_in_one_compound_packet()
    {
        var bytes = RtcpCompound.Build(
            new RtcpSenderReport { Ssrc = 1, NtpTimestamp = 0xE123456789ABCDEF, RtpTimestamp = 3, PacketCount = 4, OctetCount = 5, Reports = [Block] },
            new RtcpReceiverReport { Ssrc = 2, Reports = [Block, Block with { Ssrc = 9, CumulativeLost = 0x7FFFFF }] },
            RtcpSdes.ForCname(1, "héllo"),
            new RtcpBye { Sources = [1, 2], Reason = "done" },
            new RtcpNack { SenderSsrc = 1, MediaSsrc = 2, LostSequenceNumbers = [65535, 0, 1, 20, 40000] },
            new RtcpPli { SenderSsrc = 1, MediaSsrc = 2 });
        Assert.Equal(0, bytes.Length % 4);
        var packets = RtcpCompound.Parse(bytes).Value!;
        Assert.Equal(6, packets.Count);
        var sr = Assert.IsType<RtcpSenderReport>(packets[0]);
        Assert.Equal((1u, 0xE123456789ABCDEFUL, 3u, 4u, 5u), (sr.Ssrc, sr.NtpTimestamp, sr.RtpTimestamp, sr.PacketCount, sr.OctetCount));
        Assert.Equal(0x456789ABu, sr.CompactNtp);
        Assert.Equal([Block], sr.Reports);
        var rr = Assert.IsType<RtcpReceiverReport>(packets[1]);
        Assert.Equal([Block, Block with { Ssrc = 9, CumulativeLost = 0x7FFFFF }], rr.Reports);
        var sdes = Assert.IsType<RtcpSdes>(packets[2]);
        Assert.Equal(new RtcpSdesItem(1, "héllo"), Assert.Single(Assert.Single(sdes.Chunks).Items));
        var bye = Assert.IsType<RtcpBye>(packets[3]);
        Assert.Equal([1u, 2u], bye.Sources);
        Assert.Equal("done", bye.Reason);
        var nack = Assert.IsType<RtcpNack>(packets[4]);
        Assert.Equal([65535, 0, 1, 20, 40000], nack.LostSequenceNumbers.Select(x => (int)x));
        Assert.IsType<RtcpPli>(packets[5]);
    }

    [Fact]
    public void Nack_fci_packs_seventeen_numbers_per_entry()
    {
        // RFC 4585 §6.2.1: PID, then bit i of BLP means PID+i+1 is lost too.
        var nack = new RtcpNack { SenderSsrc = 1, MediaSsrc = 2, LostSequenceNumbers = [100, 101, 103, 116, 117] };
        Assert.Equal(Hex("81 CD 0004 00000001 00000002 0064 8005 0075 0000"), nack.ToArray());
        var parsed = (RtcpNack)RtcpCompound.Parse(Hex("81 CD 0003 00000001 00000002 FFFF 0003")).Value![0];
        Assert.Equal([65535, 0, 1], parsed.LostSequenceNumbers.Select(x => (int)x));
    }

    [Fact]
    public void Pli_has_the_rfc4585_layout()
    {
        Assert.Equal(Hex("81 CE 0002 00000001 00000002"), new RtcpPli { SenderSsrc = 1, MediaSsrc = 2 }.ToArray());
    }

    [Fact]
    public void Report_block_has_the_rfc3550_layout()
    {
        var rr = new RtcpReceiverReport { Ssrc = 0x01020304, Reports = [Block] }.ToArray();
        Assert.Equal(Hex("81 C9 0007 01020304 55667788 19 FFFFFD 0001FFFF 0000004D ABCD1234 00010000"), rr);
    }

    [Fact]
    public void Padding_is_allowed_only_on_the_last_packet()
    {
        var pli = Hex("81 CE 0002 00000001 00000002");
        var padded = Hex("A1 CE 0003 00000001 00000002 00000004");
        Assert.True(RtcpCompound.Parse(pli.Concat(padded).ToArray()).Ok);
        Assert.False(RtcpCompound.Parse(padded.Concat(pli).ToArray()).Ok);
    }

    [Theory]
    [InlineData("")]
    [InlineData("81C9")]                                     // header cut short
    [InlineData("41 C9 0001 00000001")]                      // version 1
    [InlineData("81 C9 0007 00000001")]                      // length beyond the data
    [InlineData("81 C9 0001 00000001")]                      // RR claims a block it lacks
    [InlineData("80 C8 0001 00000001")]                      // SR without sender info
    [InlineData("81 CA 0002 00000001 01050061")]             // SDES item runs past the packet
    [InlineData("81 CA 0002 00000001 01016161")]             // SDES chunk without a null item
    [InlineData("82 CB 0001 00000001")]                      // BYE names two sources, has one
    [InlineData("81 CB 0002 00000001 09616263")]             // BYE reason longer than the packet
    [InlineData("81 CD 0001 00000001")]                      // NACK without media SSRC
    [InlineData("A1 CE 0002 00000001 00000009")]             // padding count beyond the packet
    public void Malformed_rtcp_is_an_error(string hex)
    {
        var result = RtcpCompound.Parse(Hex(hex));
        Assert.False(result.Ok);
        Assert.False(string.IsNullOrEmpty(result.Error));
    }

    [Fact]
    public void Unknown_types_are_kept_raw()
    {
        var app = Hex("80 CC 0002 00000001 41424344");
        var packet = Assert.IsType<RtcpUnknown>(Assert.Single(RtcpCompound.Parse(app).Value!));
        Assert.Equal(204, packet.PacketType);
        Assert.Equal(app, packet.ToArray());
    }

    [Fact]
    public void Aiortc_parses_our_rtcp()
    {
        var bytes = RtcpCompound.Build(
            new RtcpSenderReport { Ssrc = 7, NtpTimestamp = 0xE1234567_89ABCDEF, RtpTimestamp = 123, PacketCount = 4, OctetCount = 5, Reports = [Block] },
            new RtcpReceiverReport { Ssrc = 7, Reports = [Block] },
            RtcpSdes.ForCname(7, "neuro"),
            new RtcpNack { SenderSsrc = 7, MediaSsrc = 8, LostSequenceNumbers = [10, 11, 13, 50] },
            new RtcpPli { SenderSsrc = 7, MediaSsrc = 8 },
            new RtcpBye { Sources = [7] });
        var file = Path.Combine(_dir, "ours.bin");
        MediaPeer.WritePackets(file, [bytes]);
        var parsed = MediaPeer.Run("rtcp-parse", file).EnumerateArray().ToList();
        Assert.Equal(["sr", "rr", "sdes", "rtpfb", "psfb", "bye"], parsed.Select(p => p.GetProperty("type").GetString()));
        Assert.Equal(0xE123456789ABCDEF, parsed[0].GetProperty("ntp").GetUInt64());
        var block = parsed[1].GetProperty("reports")[0];
        Assert.Equal((0x55667788L, 25, -3, 0x1FFFFL, 77L, 0xABCD1234L, 65536L), (
            block.GetProperty("ssrc").GetInt64(), block.GetProperty("fraction_lost").GetInt32(), block.GetProperty("packets_lost").GetInt32(),
            block.GetProperty("highest_sequence").GetInt64(), block.GetProperty("jitter").GetInt64(), block.GetProperty("lsr").GetInt64(),
            block.GetProperty("dlsr").GetInt64()));
        Assert.Equal("neuro", parsed[2].GetProperty("chunks")[0].GetProperty("items")[0][1].GetString());
        Assert.Equal([10, 11, 13, 50], parsed[3].GetProperty("lost").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(8, parsed[4].GetProperty("media_ssrc").GetInt32());
    }

    [Fact]
    public void We_parse_aiortc_rtcp()
    {
        var file = Path.Combine(_dir, "aiortc.bin");
        MediaPeer.Run("rtcp-build", file);
        var packets = RtcpCompound.Parse(MediaPeer.ReadPackets(file)[0]).Value!;
        var sr = Assert.IsType<RtcpSenderReport>(packets[0]);
        Assert.Equal((0x11223344u, 0xE123456789ABCDEFUL, 123456u, 1000u, 1_000_000u), (sr.Ssrc, sr.NtpTimestamp, sr.RtpTimestamp, sr.PacketCount, sr.OctetCount));
        Assert.Equal([Block], sr.Reports);
        Assert.Equal("aiortc-cname", Assert.IsType<RtcpSdes>(packets[1]).Chunks[0].Items[0].Text);
        Assert.Equal([100, 101, 102, 105, 140], Assert.IsType<RtcpNack>(packets[2]).LostSequenceNumbers.Select(x => (int)x));
        Assert.Equal(0x55667788u, Assert.IsType<RtcpPli>(packets[3]).MediaSsrc);
        Assert.Equal([0x11223344u], Assert.IsType<RtcpBye>(packets[4]).Sources);
    }

    [Fact]
    public void Receive_statistics_follow_rfc3550_loss_and_jitter()
    {
        var stats = new RtpReceiveStatistics(0x42, 90000);
        var random = new Random(3);
        double jitter = 0;
        long? lastTransit = null;
        var received = 0;
        for (var i = 0; i < 200; i++)
        {
            var seq = (ushort)(65500 + i); // wraps at i = 36
            if (i % 10 == 5)
            {
                continue; // one in ten lost
            }

            var rtpTs = (uint)(i * 3000);
            var arrival = 1_000_000L + i * 3000 + random.Next(0, 900); // up to 10 ms of network jitter
            stats.OnPacket(seq, rtpTs, arrival);
            received++;
            var transit = arrival - rtpTs;
            if (lastTransit is { } last)
            {
                jitter += (Math.Abs(transit - last) - jitter) / 16;
            }

            lastTransit = transit;
        }

        var block = stats.CreateReportBlock(0, 1);
        Assert.Equal(20, block.CumulativeLost);
        Assert.Equal(256 * 20 / 200, block.FractionLost);
        Assert.Equal((uint)(65500 + 199), block.ExtendedHighestSequence); // one wrap: cycles 65536 + seq 163
        Assert.InRange(block.Jitter, (uint)jitter - 2, (uint)jitter + 2);
        Assert.True(block.Jitter > 100);

        // The next interval had no packets: fraction 0, cumulative unchanged.
        var next = stats.CreateReportBlock(0, 1);
        Assert.Equal((0, 20), (next.FractionLost, next.CumulativeLost));
    }

    [Fact]
    public void Lsr_and_dlsr_echo_the_last_sender_report()
    {
        var stats = new RtpReceiveStatistics(0x42, 90000);
        stats.OnPacket(1, 0, 0);
        stats.OnSenderReport(new RtcpSenderReport { Ssrc = 0x42, NtpTimestamp = 0x0000_1234_5678_0000 }, arrivalTicks: 1000);
        var block = stats.CreateReportBlock(nowTicks: 1000 + 1500, ticksPerSecond: 1000); // 1.5 s later
        Assert.Equal(0x12345678u, block.LastSenderReport);
        Assert.Equal((uint)(1.5 * 65536), block.DelaySinceLastSenderReport);
    }
}
