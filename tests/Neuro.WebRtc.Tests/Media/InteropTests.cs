using Neuro.WebRtc.Media.Audio;
using Neuro.WebRtc.Media.Rtp;
using Neuro.WebRtc.Media.Video;
using Neuro.WebRtc.Media.Vp8;

namespace Neuro.WebRtc.Tests.Media;

/// <summary>Our media against aiortc 1.4 / PyAV: real VP8 and Opus streams crossing in both directions.</summary>
public sealed class InteropTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("media-interop-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static int Number(int i) => 0x2D2D2D ^ (i * 0x30507);

    [Theory]
    [InlineData(640, 480)]
    [InlineData(1280, 720)]
    public void Aiortc_vp8_rtp_decodes_with_our_receiver(int width, int height)
    {
        const int frames = 30;
        var file = Path.Combine(_dir, "aiortc-vp8.bin");
        MediaPeer.Run("vp8-encode", file, width.ToString(), height.ToString(), frames.ToString());
        var packets = MediaPeer.ReadPackets(file);
        Assert.True(packets.Count >= frames);

        // aiortc's descriptors parse, and the first one starts a keyframe of the right size.
        var first = RtpPacket.Parse(packets[0]).Value!;
        var descriptor = Vp8PayloadDescriptor.Parse(first.Payload.Span).Value!;
        Assert.True(descriptor.StartsFrame);
        Assert.NotNull(descriptor.PictureId);
        Assert.Equal(new Vp8FrameInfo(true, width, height), Vp8FrameInfo.Read(first.Payload.Span[descriptor.Length..]));

        var decoded = new List<VideoFrame>();
        var rtcp = new List<byte[]>();
        using var receiver = new VideoReceiver(new VideoReceiverOptions(), decoded.Add, rtcp.Add);
        var random = new Random(11);
        for (var i = 0; i < packets.Count; i += 6)
        {
            // Reordered in windows of six packets, as a multi-path network might.
            foreach (var p in packets.Skip(i).Take(6).OrderBy(_ => random.Next()))
            {
                Assert.Null(receiver.ReceiveRtp(p));
            }
        }

        Assert.Equal(Enumerable.Range(0, frames).Select(Number), decoded.Select(TestPattern.Read));
        Assert.All(decoded, f => Assert.Equal((width, height), (f.Width, f.Height)));
        Assert.Equal(0x5EEDu, receiver.RemoteSsrc);
        Assert.Equal(0, receiver.Stats.PlisSent);
    }

    [Fact]
    public void Our_vp8_rtp_decodes_in_aiortc()
    {
        using var sender = new VideoSender(new VideoSenderOptions { Width = 640, Height = 480, Ssrc = 42 });
        var packets = new List<byte[]>();
        for (var i = 0; i < 20; i++)
        {
            packets.AddRange(sender.SendFrame(TestPattern.Draw(640, 480, Number(i)), (uint)(i * 3000)));
        }

        var file = Path.Combine(_dir, "our-vp8.bin");
        MediaPeer.WritePackets(file, packets);
        var result = MediaPeer.Run("vp8-decode", file);
        Assert.Equal(Enumerable.Range(0, 20).Select(Number), result.GetProperty("numbers").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Theory]
    [InlineData(1, 440.0)]
    [InlineData(2, 1000.0)]
    public void Our_opus_tone_decodes_in_pyav_at_its_frequency(int channels, double frequency)
    {
        using var sender = new AudioSender(new AudioSenderOptions { Channels = channels, PayloadType = 111, InitialSequenceNumber = 65530 });
        var packets = new List<byte[]>();
        var pcm = Tone(frequency, channels, seconds: 2.0);
        // Uneven chunks: the sender must cut 20 ms frames itself.
        for (var offset = 0; offset < pcm.Length;)
        {
            var n = Math.Min(pcm.Length - offset, 1234 * channels);
            packets.AddRange(sender.Send(pcm.AsSpan(offset, n)));
            offset += n;
        }

        Assert.Equal(100, packets.Count);
        var file = Path.Combine(_dir, "our-opus.bin");
        MediaPeer.WritePackets(file, packets);
        var result = MediaPeer.Run("opus-decode", file);
        Assert.InRange(result.GetProperty("frequency").GetDouble(), frequency - 3, frequency + 3);
        Assert.True(result.GetProperty("rms").GetDouble() > 0.1);
        Assert.Equal([111], result.GetProperty("payload_types").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([960], result.GetProperty("timestamp_deltas").EnumerateArray().Select(e => e.GetInt64()));
        Assert.True(result.GetProperty("sequence_contiguous").GetBoolean());
        Assert.True(result.GetProperty("first_marker").GetBoolean());
    }

    internal static short[] Tone(double frequency, int channels, double seconds)
    {
        var samples = (int)(48000 * seconds);
        var pcm = new short[samples * channels];
        for (var i = 0; i < samples; i++)
        {
            var value = (short)(12000 * Math.Sin(2 * Math.PI * frequency * i / 48000));
            for (var c = 0; c < channels; c++)
            {
                pcm[i * channels + c] = value;
            }
        }

        return pcm;
    }
}
