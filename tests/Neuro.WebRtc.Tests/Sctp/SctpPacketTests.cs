using System.Buffers.Binary;
using System.Diagnostics;
using Neuro.WebRtc.Sctp;

namespace Neuro.WebRtc.Tests.Sctp;

public sealed class SctpPacketTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Crc32c_matches_the_standard_check_value()
    {
        // The CRC-32C check value for "123456789" (iSCSI / RFC 3720 catalogue).
        Assert.Equal(0xE3069283u, Crc32c.Compute("123456789"u8));
        // 32 zero bytes, RFC 3720 appendix B.4 test vector.
        Assert.Equal(0x8A9136AAu, Crc32c.Compute(new byte[32]));
    }

    [Fact]
    public void Checksum_is_stored_little_endian_and_verified()
    {
        var bytes = Sample(new SctpSimpleChunk(SctpChunkType.CookieAck)).Encode();
        var copy = (byte[])bytes.Clone();
        copy.AsSpan(8, 4).Clear();
        Assert.Equal(Crc32c.Compute(copy), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
        Assert.True(SctpPacket.TryParse(bytes, out _, out _));
        bytes[13] ^= 0x40;
        Assert.False(SctpPacket.TryParse(bytes, out _, out var error));
        Assert.Contains("checksum", error);
    }

    public static TheoryData<string> ChunkKinds => new(Corpus().Select(c => c.Name));

    [Theory]
    [MemberData(nameof(ChunkKinds))]
    public void Every_chunk_kind_round_trips(string kind)
    {
        var (_, packet) = Corpus().Single(c => c.Name == kind);
        var bytes = packet.Encode();
        Assert.Equal(0, bytes.Length % 4);
        Assert.True(SctpPacket.TryParse(bytes, out var parsed, out var error), error);
        Assert.Equal(packet.VerificationTag, parsed.VerificationTag);
        Assert.Equal(packet.Chunks.Count, parsed.Chunks.Count);
        // Re-encoding the parsed packet gives the same bytes: every field survived.
        Assert.Equal(bytes, parsed.Encode());
    }

    [Fact]
    public void Data_chunk_fields_and_flags_decode()
    {
        var bytes = Sample(new SctpDataChunk
        {
            Tsn = 0xFFFFFFFE, StreamId = 9, StreamSequence = 65535, PayloadProtocolId = 51, UserData = "hello"u8.ToArray(),
            Unordered = true, Beginning = true, Ending = false, Immediate = true,
        }).Encode();
        Assert.Equal(0x0E, bytes[13]); // I|U|B, no E
        Assert.Equal(16 + 5, BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(14)));
        Assert.True(SctpPacket.TryParse(bytes, out var p, out _));
        var d = Assert.IsType<SctpDataChunk>(p.Chunks[0]);
        Assert.Equal((0xFFFFFFFEu, (ushort)9, (ushort)65535, 51u), (d.Tsn, d.StreamId, d.StreamSequence, d.PayloadProtocolId));
        Assert.True(d.Unordered && d.Beginning && !d.Ending && d.Immediate);
        Assert.Equal("hello"u8.ToArray(), d.UserData.ToArray());
    }

    [Fact]
    public void Init_ack_without_cookie_and_init_with_zero_tag_are_errors()
    {
        var noCookie = Sample(new SctpInitChunk
        {
            IsAck = true, InitiateTag = 5, AdvertisedReceiverWindow = 1, OutboundStreams = 1, InboundStreams = 1, InitialTsn = 1,
        }).Encode();
        Assert.False(SctpPacket.TryParse(noCookie, out _, out var e1));
        Assert.Contains("cookie", e1);
        var zeroTag = Sample(new SctpInitChunk
        {
            IsAck = false, InitiateTag = 0, AdvertisedReceiverWindow = 1, OutboundStreams = 1, InboundStreams = 1, InitialTsn = 1,
        }).Encode();
        Assert.False(SctpPacket.TryParse(zeroTag, out _, out var e2));
        Assert.Contains("Tag", e2);
    }

    [Fact]
    public void Chunk_length_beyond_the_packet_is_an_error()
    {
        var bytes = Sample(new SctpShutdownChunk { CumulativeTsnAck = 1 }).Encode();
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(14), 200);
        Crc32c.Stamp(bytes);
        Assert.False(SctpPacket.TryParse(bytes, out _, out var error));
        Assert.Contains("length", error);
    }

    [Fact]
    public void Fuzzed_packets_never_throw_or_hang_in_the_parser()
    {
        var corpus = Corpus().Select(c => c.Packet.Encode()).ToArray();
        var rng = new Random(20261123);
        int accepted = 0, rejected = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 10_000; i++)
        {
            var mutated = Mutate(corpus[rng.Next(corpus.Length)], rng);
            bool ok;
            try
            {
                ok = SctpPacket.TryParse(mutated, out var packet, out var error);
                if (ok) packet.Encode(); // whatever parses must also re-encode
                else Assert.False(string.IsNullOrEmpty(error));
            }
            catch (Exception ex)
            {
                Assert.Fail($"iteration {i}: {ex.GetType().Name} escaped for {Convert.ToHexString(mutated)}: {ex.Message}");
                return;
            }
            if (ok) accepted++;
            else rejected++;
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"10k packets took {clock.Elapsed}");
        // The mutator must exercise both paths, or the test proves nothing.
        Assert.True(accepted > 1000 && rejected > 1000, $"accepted {accepted}, rejected {rejected}");
    }

    [Fact]
    public async Task Fuzzed_packets_sent_to_a_live_association_do_not_break_it()
    {
        await using var peers = await SctpTestPeers.ConnectAsync();
        // Chunks that legitimately end an association (ABORT, SHUTDOWN*) are left out, so it must survive all of it.
        var corpus = Corpus().Where(c => !c.Name.StartsWith("ABORT") && !c.Name.StartsWith("SHUTDOWN"))
            .Select(c => c.Packet.Encode()).ToArray();
        var rng = new Random(99);
        // Half of them carry the real verification tag, so they get past the tag check into the state machine.
        uint tagOfB = peers.B.Association.LocalVerificationTag;
        for (int i = 0; i < 3000; i++)
        {
            var mutated = Mutate(corpus[rng.Next(corpus.Length)], rng);
            if (mutated.Length >= 12)
            {
                BinaryPrimitives.WriteUInt16BigEndian(mutated, 5000);
                BinaryPrimitives.WriteUInt16BigEndian(mutated.AsSpan(2), 5000);
                if (rng.Next(2) == 0) BinaryPrimitives.WriteUInt32BigEndian(mutated.AsSpan(4), tagOfB);
                Crc32c.Stamp(mutated);
            }
            await peers.LinkA.SendAsync(mutated, default);
        }
        // A mutated flag byte can still turn some chunk into an ABORT; that is a legitimate end, an internal error
        // (an exception caught by the loop) is not. Otherwise the association must still carry data both ways.
        await Task.Delay(500);
        if (peers.B.Association.Closed.IsCompleted)
        {
            var reason = await peers.B.Association.Closed;
            output.WriteLine($"closed by fuzz: {reason.Reason}");
            Assert.DoesNotContain("internal error", reason.Reason);
            Assert.Contains("peer aborted", reason.Reason);
            return;
        }
        var got = new TaskCompletionSource<byte[]>();
        peers.A.Association.MessageReceived = m => got.TrySetResult(m.Data);
        await peers.B.Association.SendAsync(1, DataChannelPpid.Binary, new byte[] { 42 }, false);
        Assert.Equal(new byte[] { 42 }, await got.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        output.WriteLine($"survived; packets dropped by B: {peers.B.Association.Statistics.PacketsDropped}");
    }

    internal static byte[] Mutate(byte[] original, Random rng)
    {
        var b = (byte[])original.Clone();
        int kind = rng.Next(7);
        switch (kind)
        {
            case 0: // bit flips anywhere (mostly caught by the checksum)
                for (int n = rng.Next(1, 4); n > 0; n--) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                return b;
            case 1: // truncate
                return b[..rng.Next(b.Length)];
            case 2: // random bytes past the header, checksum fixed so the chunk parsers see them
                for (int n = rng.Next(1, 8); n > 0; n--) b[12 + rng.Next(b.Length - 12)] = (byte)rng.Next(256);
                Crc32c.Stamp(b);
                return b;
            case 3: // chunk or parameter length fields set to extremes
            {
                int at = 12 + 2 + 4 * rng.Next((b.Length - 14) / 4 + 1);
                if (at + 2 <= b.Length)
                    BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(at), (ushort)(rng.Next(3) switch { 0 => 0, 1 => 0xFFFF, _ => rng.Next(64) }));
                Crc32c.Stamp(b);
                return b;
            }
            case 4: // appended garbage
            {
                var longer = new byte[b.Length + rng.Next(1, 40)];
                b.CopyTo(longer, 0);
                rng.NextBytes(longer.AsSpan(b.Length));
                Crc32c.Stamp(longer);
                return longer;
            }
            case 5: // whole random packet
            {
                var random = new byte[rng.Next(0, 80)];
                rng.NextBytes(random);
                if (random.Length >= 12) Crc32c.Stamp(random);
                return random;
            }
            default: // valid packet, re-stamped (should parse)
                Crc32c.Stamp(b);
                return b;
        }
    }

    private static SctpPacket Sample(params SctpChunk[] chunks) =>
        new() { SourcePort = 5000, DestinationPort = 5000, VerificationTag = 0xDEADBEEF, Chunks = chunks };

    internal static IEnumerable<(string Name, SctpPacket Packet)> Corpus()
    {
        yield return ("INIT", Sample(new SctpInitChunk
        {
            IsAck = false, InitiateTag = 0x01020304, AdvertisedReceiverWindow = 131072, OutboundStreams = 1024, InboundStreams = 2048,
            InitialTsn = 77, ForwardTsnSupported = true, SupportedExtensions = [192, 130, 15],
        }));
        yield return ("INIT ACK", Sample(new SctpInitChunk
        {
            IsAck = true, InitiateTag = 9, AdvertisedReceiverWindow = 1, OutboundStreams = 1, InboundStreams = 1, InitialTsn = 1,
            StateCookie = Enumerable.Range(0, 63).Select(i => (byte)i).ToArray(), UnrecognizedParameters = [[0xC0, 0x09, 0, 5, 7]],
        }));
        yield return ("DATA x2", Sample(
            new SctpDataChunk { Tsn = 5, StreamId = 1, StreamSequence = 2, PayloadProtocolId = 53, UserData = new byte[] { 1, 2, 3 }, Beginning = true, Ending = true },
            new SctpDataChunk { Tsn = 6, StreamId = 1, StreamSequence = 3, PayloadProtocolId = 51, UserData = "abcd"u8.ToArray(), Unordered = true, Beginning = true }));
        yield return ("SACK", Sample(new SctpSackChunk
        {
            CumulativeTsnAck = 100, AdvertisedReceiverWindow = 5000, GapAckBlocks = [new(2, 3), new(5, 9)], DuplicateTsns = [99, 98],
        }));
        yield return ("HEARTBEAT", Sample(new SctpHeartbeatChunk { IsAck = false, Info = [1, 2, 3, 4, 5, 6, 7, 8, 9] }));
        yield return ("HEARTBEAT ACK", Sample(new SctpHeartbeatChunk { IsAck = true, Info = [1, 2, 3, 4, 5, 6, 7, 8] }));
        yield return ("ABORT", Sample(new SctpErrorChunk
        {
            IsAbort = true, TagReflected = true, Causes = [new(SctpErrorCauseCode.UserInitiatedAbort, "bye"u8.ToArray()), new(SctpErrorCauseCode.ProtocolViolation, "x"u8.ToArray())],
        }));
        yield return ("ERROR", Sample(new SctpErrorChunk { IsAbort = false, Causes = [new(SctpErrorCauseCode.StaleCookie, [0, 0, 1, 0])] }));
        yield return ("SHUTDOWN", Sample(new SctpShutdownChunk { CumulativeTsnAck = 0xFFFFFFFF }));
        yield return ("SHUTDOWN ACK", Sample(new SctpSimpleChunk(SctpChunkType.ShutdownAck)));
        yield return ("SHUTDOWN COMPLETE", Sample(new SctpSimpleChunk(SctpChunkType.ShutdownComplete, tagReflected: true)));
        yield return ("COOKIE ECHO + DATA", Sample(new SctpCookieEchoChunk { Cookie = [9, 8, 7, 6, 5] },
            new SctpDataChunk { Tsn = 1, StreamId = 0, StreamSequence = 0, PayloadProtocolId = 50, UserData = new byte[] { 2 }, Beginning = true, Ending = true }));
        yield return ("COOKIE ACK", Sample(new SctpSimpleChunk(SctpChunkType.CookieAck)));
        yield return ("FORWARD TSN", Sample(new SctpForwardTsnChunk { NewCumulativeTsn = 12, Streams = [(1, 4), (3, 0)] }));
        yield return ("RE-CONFIG", Sample(new SctpReconfigChunk
        {
            OutgoingReset = new SctpOutgoingResetRequest(10, 20, 30, [1, 3, 5]), Response = new SctpReconfigResponse(7, 1),
        }));
        yield return ("unknown type", Sample(new SctpUnknownChunk { RawType = 0xC7, RawFlags = 3, Value = [1, 2, 3, 4, 5] }));
    }
}
