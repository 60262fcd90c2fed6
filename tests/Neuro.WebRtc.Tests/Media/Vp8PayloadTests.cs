using Neuro.WebRtc.Media.Vp8;

namespace Neuro.WebRtc.Tests.Media;

public sealed class Vp8PayloadTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    [Fact]
    public void Reads_every_optional_field()
    {
        // RFC 7741 §4.2: X=1 S=1 PID=0 | I L T K | M=1 PictureID=0x0123 | TL0PICIDX=0x42 | TID=2 Y=1 KEYIDX=5.
        var d = Vp8PayloadDescriptor.Parse(Hex("90 F0 8123 42 A5 9d")).Value!;
        Assert.True(d.StartsFrame);
        Assert.False(d.NonReference);
        Assert.Equal((0x0123, true), (d.PictureId, d.LongPictureId));
        Assert.Equal((byte)0x42, d.Tl0PicIdx);
        Assert.Equal((2, true, 5), (d.TemporalLayerIndex, d.LayerSync, d.KeyIndex));
        Assert.Equal(6, d.Length);
        Assert.Equal(Hex("90 F0 8123 42 A5"), Write(d));
    }

    [Fact]
    public void Reads_short_forms()
    {
        var seven = Vp8PayloadDescriptor.Parse(Hex("80 80 7F")).Value!;
        Assert.Equal((127, false, false, 3), (seven.PictureId, seven.LongPictureId, seven.StartOfPartition, seven.Length));

        var bare = Vp8PayloadDescriptor.Parse(Hex("10")).Value!;
        Assert.Equal((true, 0, 1, (int?)null), (bare.StartsFrame, bare.PartitionIndex, bare.Length, bare.PictureId));

        var nonRef = Vp8PayloadDescriptor.Parse(Hex("33")).Value!;
        Assert.Equal((true, true, 3, false), (nonRef.NonReference, nonRef.StartOfPartition, nonRef.PartitionIndex, nonRef.StartsFrame));

        // K without T: KEYIDX present, TID absent.
        var keyOnly = Vp8PayloadDescriptor.Parse(Hex("80 10 1F")).Value!;
        Assert.Equal((31, (int?)null), (keyOnly.KeyIndex, keyOnly.TemporalLayerIndex));
    }

    [Theory]
    [InlineData("")]
    [InlineData("80")]         // X set, extension byte missing
    [InlineData("80 80")]      // I set, picture id missing
    [InlineData("80 80 80")]   // 15-bit picture id cut short
    [InlineData("80 40")]      // L set, TL0PICIDX missing
    [InlineData("80 20")]      // T set, TID byte missing
    [InlineData("80 C0 05")]   // I and L, TL0PICIDX missing
    public void Truncated_descriptors_are_errors(string hex) => Assert.False(Vp8PayloadDescriptor.Parse(Hex(hex)).Ok);

    [Fact]
    public void Keyframes_are_told_from_inter_frames_by_the_payload_header()
    {
        // RFC 6386 §9.1: P bit clear, start code 9d 01 2a, 14-bit width and height (here 640 x 480).
        Assert.Equal(new Vp8FrameInfo(true, 640, 480), Vp8FrameInfo.Read(Hex("5003009d012a8002e001")));
        Assert.Equal(new Vp8FrameInfo(false, 0, 0), Vp8FrameInfo.Read(Hex("3102000000")));
        Assert.Null(Vp8FrameInfo.Read(Hex("500300aabbcc8002e001"))); // bad start code
        Assert.True(Vp8Depacketizer.IsKeyFrameStart(Hex("90 80 8001 5003009d012a8002e001")));
        Assert.False(Vp8Depacketizer.IsKeyFrameStart(Hex("80 80 8001 5003009d012a8002e001"))); // not a frame start
    }

    [Fact]
    public void Packetizer_splits_and_depacketizer_joins()
    {
        var frame = Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray();
        var packetizer = new Vp8Packetizer(maxPayloadSize: 1200, initialPictureId: 0x7FFF);
        var payloads = packetizer.Packetize(frame);
        Assert.Equal(5, payloads.Count);
        Assert.All(payloads, p => Assert.Equal(4 + 1000, p.Length)); // balanced: 5 x 1000 bytes, not 4 x 1196 + 216
        var descriptors = payloads.Select(p => Vp8PayloadDescriptor.Parse(p).Value!).ToList();
        Assert.Equal([true, false, false, false, false], descriptors.Select(d => d.StartOfPartition));
        Assert.All(descriptors, d => Assert.Equal(0x7FFF, d.PictureId));
        Assert.Equal(0, Vp8PayloadDescriptor.Parse(packetizer.Packetize(frame)[0]).Value!.PictureId); // 15 bits wrap

        Assert.Equal(frame, Vp8Depacketizer.Assemble(payloads.Select(p => (ReadOnlyMemory<byte>)p).ToList()).Value);
        Assert.False(Vp8Depacketizer.Assemble(payloads.Skip(1).Select(p => (ReadOnlyMemory<byte>)p).ToList()).Ok);
    }

    private static byte[] Write(Vp8PayloadDescriptor d)
    {
        var bytes = new byte[d.SerializedLength];
        d.WriteTo(bytes);
        return bytes;
    }
}
