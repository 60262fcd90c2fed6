using Neuro.WebRtc.Media.Video;
using Neuro.WebRtc.Media.Vp8;

namespace Neuro.WebRtc.Tests.Media;

public sealed class Vp8CodecTests
{
    [Theory]
    [InlineData(320, 240, VideoPixelFormat.Rgb24)]
    [InlineData(641, 359, VideoPixelFormat.Rgba32)]
    [InlineData(160, 120, VideoPixelFormat.I420)]
    public void Encoded_frames_decode_to_the_same_pattern(int width, int height, VideoPixelFormat output)
    {
        using var encoder = new Vp8Encoder(new Vp8EncoderOptions { Width = width, Height = height, BitrateKbps = 2000 });
        using var decoder = new Vp8Decoder(output);
        for (var i = 0; i < 20; i++)
        {
            var number = 0x5A5A5A ^ (i * 0x10101);
            var encoded = encoder.Encode(TestPattern.Draw(width, height, number), forceKeyFrame: i == 10);
            Assert.NotNull(encoded);
            Assert.Equal(i is 0 or 10, encoded.IsKeyFrame);
            Assert.Equal(encoded.IsKeyFrame, Vp8FrameInfo.Read(encoded.Data)?.IsKeyFrame);
            var frame = decoder.Decode(encoded.Data, out var error);
            Assert.Null(error);
            Assert.NotNull(frame);
            Assert.Equal((width, height, output), (frame.Width, frame.Height, frame.Format));
            Assert.Equal(number, TestPattern.Read(frame));
        }
    }

    [Fact]
    public void Keyframe_header_carries_the_dimensions()
    {
        using var encoder = new Vp8Encoder(new Vp8EncoderOptions { Width = 176, Height = 144 });
        var encoded = encoder.Encode(TestPattern.Draw(176, 144, 7))!;
        Assert.Equal(new Vp8FrameInfo(true, 176, 144), Vp8FrameInfo.Read(encoded.Data));
    }

    [Fact]
    public void Garbage_is_an_error_not_an_exception()
    {
        using var decoder = new Vp8Decoder();
        var frame = decoder.Decode(new byte[] { 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 1, 2, 3 }, out var error);
        Assert.Null(frame);
        Assert.NotNull(error);
        Assert.Null(decoder.Decode([], out error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Inter_frame_without_its_keyframe_is_rejected()
    {
        using var encoder = new Vp8Encoder(new Vp8EncoderOptions { Width = 160, Height = 120 });
        encoder.Encode(TestPattern.Draw(160, 120, 1));
        var delta = encoder.Encode(TestPattern.Draw(160, 120, 2))!;
        Assert.False(delta.IsKeyFrame);
        using var decoder = new Vp8Decoder();
        Assert.Null(decoder.Decode(delta.Data, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void A_keyframe_at_a_new_size_switches_the_decoder_over()
    {
        using var decoder = new Vp8Decoder();
        foreach (var (w, h) in new[] { (320, 240), (640, 360), (200, 150) })
        {
            using var encoder = new Vp8Encoder(new Vp8EncoderOptions { Width = w, Height = h });
            for (var i = 0; i < 3; i++)
            {
                var frame = decoder.Decode(encoder.Encode(TestPattern.Draw(w, h, w + i))!.Data, out var error);
                Assert.Null(error);
                Assert.Equal((w, h, w + i), (frame!.Width, frame.Height, TestPattern.Read(frame)));
            }
        }
    }

    [Fact]
    public void Interop_structs_match_the_libvpx_1_12_layout()
    {
        // sizeof(vpx_image_t) and sizeof(vpx_codec_dec_cfg_t) on LP64, from the 1.12 headers.
        Assert.Equal(136, System.Runtime.CompilerServices.Unsafe.SizeOf<Neuro.WebRtc.Media.Native.VpxImage>());
        Assert.Equal(12, System.Runtime.CompilerServices.Unsafe.SizeOf<Neuro.WebRtc.Media.Native.VpxDecoderConfig>());
        Assert.Equal(136, System.Runtime.InteropServices.Marshal.OffsetOf<Neuro.WebRtc.Media.Native.VpxImage>("FbPriv") + 8);
        Assert.Equal(48, System.Runtime.InteropServices.Marshal.OffsetOf<Neuro.WebRtc.Media.Native.VpxImage>("PlaneY"));
        Assert.Equal(80, System.Runtime.InteropServices.Marshal.OffsetOf<Neuro.WebRtc.Media.Native.VpxImage>("StrideY"));
    }
}
