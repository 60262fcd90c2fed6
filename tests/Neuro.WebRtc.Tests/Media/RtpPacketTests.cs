using Neuro.WebRtc.Media.Rtp;

namespace Neuro.WebRtc.Tests.Media;

public sealed class RtpPacketTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    [Fact]
    public void Parses_the_fixed_header_csrcs_and_payload()
    {
        // V=2 P=0 X=0 CC=2, M=1 PT=96, seq 0xABCD, ts 0x01020304, ssrc 0xDEADBEEF, CSRCs 1 and 2, payload 3 bytes.
        var packet = RtpPacket.Parse(Hex("82 E0 ABCD 01020304 DEADBEEF 00000001 00000002 AABBCC")).Value!;
        Assert.True(packet.Marker);
        Assert.Equal(96, packet.PayloadType);
        Assert.Equal(0xABCD, packet.SequenceNumber);
        Assert.Equal(0x01020304u, packet.Timestamp);
        Assert.Equal(0xDEADBEEFu, packet.Ssrc);
        Assert.Equal([1u, 2u], packet.Csrcs);
        Assert.Equal(Hex("AABBCC"), packet.Payload.ToArray());
        Assert.Null(packet.ExtensionProfile);
    }

    [Fact]
    public void Strips_padding()
    {
        var packet = RtpPacket.Parse(Hex("A0 6F 0001 00000000 00000001 1122 000003")).Value!;
        Assert.Equal(Hex("1122"), packet.Payload.ToArray());
        Assert.Equal(3, packet.PaddingLength);
        Assert.Equal(Hex("A0 6F 0001 00000000 00000001 1122 000003"), packet.ToArray());
    }

    [Fact]
    public void Reads_the_rfc8285_one_byte_example()
    {
        // RFC 8285 §4.2's figure: ID 1 (1 byte), ID 2 (2 bytes), two padding bytes, ID 3 (4 bytes).
        var bytes = Hex("90 60 0001 00000000 00000001 BEDE 0003 10AA 21BBBB 0000 33CCCCCCCC 55");
        var packet = RtpPacket.Parse(bytes).Value!;
        Assert.Equal(RtpPacket.OneByteExtensionProfile, packet.ExtensionProfile);
        Assert.Equal([1, 2, 3], packet.Extensions.Select(e => e.Id));
        Assert.Equal(Hex("AA"), packet.FindExtension(1)!.Data);
        Assert.Equal(Hex("BBBB"), packet.FindExtension(2)!.Data);
        Assert.Equal(Hex("CCCCCCCC"), packet.FindExtension(3)!.Data);
        Assert.Equal(Hex("55"), packet.Payload.ToArray());
    }

    [Fact]
    public void Reads_the_rfc8285_two_byte_example()
    {
        // RFC 8285 §4.3's figure: ID 1 empty, ID 2 (1 byte), a padding byte, ID 3 (4 bytes).
        var bytes = Hex("90 60 0001 00000000 00000001 1000 0003 0100 0201BB 00 0304CCCCCCCC 55");
        var packet = RtpPacket.Parse(bytes).Value!;
        Assert.Equal([1, 2, 3], packet.Extensions.Select(e => e.Id));
        Assert.Empty(packet.FindExtension(1)!.Data);
        Assert.Equal(Hex("BB"), packet.FindExtension(2)!.Data);
        Assert.Equal(Hex("CCCCCCCC"), packet.FindExtension(3)!.Data);
    }

    [Fact]
    public void Builds_extensions_in_the_smallest_form_and_reads_them_back()
    {
        var oneByte = new RtpPacket
        {
            PayloadType = 111, SequenceNumber = 9, Timestamp = 960, Ssrc = 5,
            Extensions = [new RtpHeaderExtension(1, [0x30]), new RtpHeaderExtension(3, [1, 2, 3])],
            Payload = new byte[] { 7, 7 },
        };
        var bytes = oneByte.ToArray();
        Assert.Equal(Hex("90 6F 0009 000003C0 00000005 BEDE 0002 1030 32010203 0000 0707"), bytes);

        var twoByte = new RtpPacket { PayloadType = 96, Ssrc = 1, Extensions = [new RtpHeaderExtension(20, new byte[20])], Payload = new byte[] { 1 } };
        var parsed = RtpPacket.Parse(twoByte.ToArray()).Value!;
        Assert.Equal(RtpPacket.TwoByteExtensionProfile, parsed.ExtensionProfile);
        Assert.Equal(20, Assert.Single(parsed.Extensions).Id);
        Assert.Equal(20, parsed.Extensions[0].Data.Length);
        Assert.Equal(new byte[] { 1 }, parsed.Payload.ToArray());
    }

    [Fact]
    public void Keeps_unknown_extension_profiles_raw()
    {
        var packet = RtpPacket.Parse(Hex("90 60 0001 00000000 00000001 ABCD 0001 01020304 FF")).Value!;
        Assert.Equal((ushort)0xABCD, packet.ExtensionProfile);
        Assert.Empty(packet.Extensions);
        Assert.Equal(Hex("01020304"), packet.RawExtension.ToArray());
        Assert.Equal(Hex("90 60 0001 00000000 00000001 ABCD 0001 01020304 FF"), packet.ToArray());
    }

    [Theory]
    [InlineData("80 60 0001 00000000 000000")]                       // shorter than the fixed header
    [InlineData("40 60 0001 00000000 00000001")]                     // version 1
    [InlineData("82 60 0001 00000000 00000001 00000001")]            // CSRC count 2, one present
    [InlineData("90 60 0001 00000000 00000001 BEDE")]                // extension header truncated
    [InlineData("90 60 0001 00000000 00000001 BEDE 0002 10AA0000")]  // extension longer than the packet
    [InlineData("90 60 0001 00000000 00000001 BEDE 0001 13AA0000")]  // element runs past its block
    [InlineData("A0 60 0001 00000000 00000001 11 00")]               // padding count 0
    [InlineData("A0 60 0001 00000000 00000001 11 09")]               // padding longer than the payload
    public void Malformed_packets_are_errors(string hex)
    {
        var result = RtpPacket.Parse(Hex(hex));
        Assert.False(result.Ok);
        Assert.False(string.IsNullOrEmpty(result.Error));
    }

    [Theory]
    [InlineData("80 C8", true)]  // SR
    [InlineData("81 CD", true)]  // RTPFB
    [InlineData("80 60", false)] // RTP PT 96
    [InlineData("80 EF", false)] // RTP PT 111 with marker
    public void Rtcp_and_rtp_are_told_apart_on_a_muxed_port(string hex, bool rtcp) =>
        Assert.Equal(rtcp, RtpPacket.LooksLikeRtcp(Hex(hex)));

    [Fact]
    public void Sequence_unwrapping_follows_the_nearest_wrap()
    {
        var u = new SequenceUnwrapper();
        Assert.Equal(65534, u.Unwrap(65534));
        Assert.Equal(65536 + 1, u.Unwrap(1));
        Assert.Equal(65535, u.Unwrap(65535)); // late packet from before the wrap
        Assert.Equal(65536 + 2, u.Unwrap(2));
        Assert.Equal(65536 + 30000, u.Unwrap(30000));
        Assert.Equal(65536 + 60000, u.Unwrap(60000));
        Assert.Equal(2 * 65536 + 100, u.Unwrap(100));
    }
}
