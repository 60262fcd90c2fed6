using System.Buffers.Binary;
using Neuro.WebRtc.Sctp;

namespace Neuro.WebRtc.Tests.Sctp;

public sealed class DcepTests
{
    [Fact]
    public void Open_message_has_the_rfc_8832_layout()
    {
        var bytes = Dcep.EncodeOpen(new DataChannelOpenMessage(DataChannelType.PartialReliableRexmitUnordered, 512, 7, "data", "neko"));
        Assert.Equal(0x03, bytes[0]);
        Assert.Equal(0x81, bytes[1]);
        Assert.Equal(512, BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(2)));
        Assert.Equal(7u, BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4)));
        Assert.Equal(4, BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(8)));
        Assert.Equal(4, BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(10)));
        Assert.Equal("data"u8.ToArray(), bytes[12..16]);
        Assert.Equal("neko"u8.ToArray(), bytes[16..]);
        Assert.True(Dcep.TryParse(bytes, out var open, out bool isAck, out _));
        Assert.False(isAck);
        Assert.Equal(new DataChannelOpenMessage(DataChannelType.PartialReliableRexmitUnordered, 512, 7, "data", "neko"), open);
        Assert.True(open!.Unordered);
    }

    [Fact]
    public void Ack_is_one_byte_and_garbage_is_an_error()
    {
        Assert.Equal(new byte[] { 0x02 }, Dcep.EncodeAck());
        Assert.True(Dcep.TryParse([0x02], out _, out bool isAck, out _));
        Assert.True(isAck);
        Assert.False(Dcep.TryParse([], out _, out _, out _));
        Assert.False(Dcep.TryParse([0x07], out _, out _, out var e1));
        Assert.Contains("type", e1);
        Assert.False(Dcep.TryParse([0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, (byte)'a'], out _, out _, out var e2));
        Assert.Contains("overrun", e2);
        Assert.False(Dcep.TryParse([0x03, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], out _, out _, out var e3));
        Assert.Contains("channel type", e3);
    }

    [Fact]
    public void Fuzzed_dcep_messages_never_throw()
    {
        var valid = Dcep.EncodeOpen(new DataChannelOpenMessage(DataChannelType.Reliable, 256, 0, "label", "protocol"));
        var rng = new Random(8832);
        int ok = 0, bad = 0;
        for (int i = 0; i < 10_000; i++)
        {
            var b = rng.Next(4) == 0 ? RandomBytes(rng, rng.Next(0, 40)) : (byte[])valid.Clone();
            for (int n = rng.Next(0, 4); n > 0 && b.Length > 0; n--) b[rng.Next(b.Length)] = (byte)rng.Next(256);
            if (rng.Next(3) == 0) b = b[..rng.Next(b.Length + 1)];
            if (Dcep.TryParse(b, out _, out _, out _)) ok++;
            else bad++;
        }
        Assert.True(ok > 500 && bad > 500, $"ok {ok}, bad {bad}");
    }

    private static byte[] RandomBytes(Random rng, int n)
    {
        var b = new byte[n];
        rng.NextBytes(b);
        return b;
    }
}
