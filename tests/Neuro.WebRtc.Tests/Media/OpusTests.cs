using Neuro.WebRtc.Media.Audio;
using Neuro.WebRtc.Media.Opus;
using Neuro.WebRtc.Media.Rtp;

namespace Neuro.WebRtc.Tests.Media;

public sealed class OpusTests
{
    [Theory]
    [InlineData(1, 440.0)]
    [InlineData(2, 1000.0)]
    public void Tone_survives_encode_packetize_decode(int channels, double frequency)
    {
        using var sender = new AudioSender(new AudioSenderOptions { Channels = channels, Ssrc = 7, InitialSequenceNumber = 65535, InitialTimestamp = uint.MaxValue - 1000 });
        using var decoder = new OpusDecoder(channels);
        var packets = sender.Send(InteropTests.Tone(frequency, channels, 1.0));
        Assert.Equal(50, packets.Count);
        var decoded = new List<short>();
        RtpPacket? previous = null;
        foreach (var bytes in packets)
        {
            var packet = RtpPacket.Parse(bytes).Value!;
            Assert.Equal(111, packet.PayloadType);
            Assert.Equal(7u, packet.Ssrc);
            Assert.Equal(previous is null, packet.Marker);
            if (previous is not null)
            {
                Assert.Equal((ushort)(previous.SequenceNumber + 1), packet.SequenceNumber);
                Assert.Equal(previous.Timestamp + 960, packet.Timestamp);
            }

            var pcm = decoder.Decode(packet.Payload.Span, out var error);
            Assert.Null(error);
            Assert.Equal(960 * channels, pcm!.Length);
            decoded.AddRange(pcm);
            previous = packet;
        }

        // Zero crossings of the first channel after the codec has settled, over 0.8 s.
        var mono = decoded.Where((_, i) => i % channels == 0).Skip(4800).Take(38400).ToArray();
        var crossings = 0;
        for (var i = 1; i < mono.Length; i++)
        {
            if ((mono[i - 1] < 0) != (mono[i] < 0))
            {
                crossings++;
            }
        }

        Assert.InRange(crossings / 2.0 / 0.8, frequency * 0.98, frequency * 1.02);
    }

    [Fact]
    public void Partial_frames_wait_and_pause_flushes_them_with_a_marker_after()
    {
        using var sender = new AudioSender(new AudioSenderOptions { InitialTimestamp = 0 });
        Assert.Empty(sender.Send(new short[500]));
        var packets = sender.Send(new short[500]);
        Assert.Single(packets);
        var flushed = sender.Pause(TimeSpan.FromSeconds(1));
        Assert.Single(flushed); // the 40 samples left over, padded
        var next = RtpPacket.Parse(sender.Send(new short[960])[0]).Value!;
        Assert.True(next.Marker);
        Assert.Equal(960u * 2 + 48000, next.Timestamp);
    }

    [Fact]
    public void Corrupt_opus_is_an_error()
    {
        using var decoder = new OpusDecoder();
        // TOC byte for a code-3 packet claiming 63 frames in 2 bytes: invalid.
        Assert.Null(decoder.Decode(new byte[] { 0x03, 0xFF }, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Sender_report_counts_what_was_sent()
    {
        using var sender = new AudioSender(new AudioSenderOptions { Ssrc = 9, InitialTimestamp = 1000 });
        var packets = sender.Send(new short[960 * 3]);
        var now = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.FromHours(0)).AddMilliseconds(500);
        var sr = sender.CreateSenderReport(now);
        Assert.Equal((9u, 3u, 1000u + 3 * 960), (sr.Ssrc, sr.PacketCount, sr.RtpTimestamp));
        Assert.Equal((uint)packets.Sum(p => p.Length - 12), sr.OctetCount);
        // NTP seconds since 1900 in the high word; half a second is 0x80000000 in the fraction.
        Assert.Equal((ulong)(now - new DateTimeOffset(1900, 1, 1, 0, 0, 0, TimeSpan.Zero)).TotalSeconds, sr.NtpTimestamp >> 32);
        Assert.Equal(0x80000000UL, sr.NtpTimestamp & 0xFFFFFFFF);
    }
}
