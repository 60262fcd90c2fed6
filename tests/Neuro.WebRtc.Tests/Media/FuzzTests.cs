using System.Diagnostics;
using Neuro.WebRtc.Media.Rtcp;
using Neuro.WebRtc.Media.Rtp;
using Neuro.WebRtc.Media.Video;
using Neuro.WebRtc.Media.Vp8;

namespace Neuro.WebRtc.Tests.Media;

/// <summary>
/// Seeded mutation fuzzing of the parsers that see network bytes: 10,000 mutants each. No exception may escape, each
/// parse must allocate in proportion to its input, and the whole run must finish quickly (no hang).
/// </summary>
public sealed class FuzzTests
{
    private const int Iterations = 10_000;

    private static byte[] Mutate(Random random, byte[] seed)
    {
        var data = new List<byte>(seed);
        var steps = random.Next(1, 5);
        for (var s = 0; s < steps; s++)
        {
            switch (random.Next(6))
            {
                case 0 when data.Count > 0:
                    data[random.Next(data.Count)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when data.Count > 0:
                    data[random.Next(data.Count)] = (byte)random.Next(256);
                    break;
                case 2:
                    data.RemoveRange(random.Next(data.Count + 1) is var cut && cut < data.Count ? cut : data.Count, data.Count - Math.Min(cut, data.Count));
                    break;
                case 3:
                    for (var n = random.Next(1, 16); n > 0; n--)
                    {
                        data.Insert(random.Next(data.Count + 1), (byte)random.Next(256));
                    }

                    break;
                case 4 when data.Count > 4:
                    var start = random.Next(data.Count - 4);
                    data.InsertRange(random.Next(data.Count), data.GetRange(start, random.Next(1, Math.Min(64, data.Count - start))));
                    break;
                default:
                    // The length fields are where parsers usually break: hit them on purpose.
                    if (data.Count > 4)
                    {
                        data[random.Next(4)] = (byte)random.Next(256);
                    }

                    break;
            }
        }

        return data.ToArray();
    }

    private static void Fuzz(int seed, byte[][] seeds, Action<byte[]> parse)
    {
        var random = new Random(seed);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Iterations; i++)
        {
            var input = Mutate(random, seeds[random.Next(seeds.Length)]);
            var before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                parse(input);
            }
            catch (Exception e)
            {
                Assert.Fail($"input {i} ({Convert.ToHexString(input)}) threw {e}");
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 16_384 + 64L * input.Length, $"input {i} allocated {allocated} bytes for {input.Length}");
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"fuzzing took {clock.Elapsed}");
    }

    private static byte[][] RtpSeeds() =>
    [
        new RtpPacket { PayloadType = 96, SequenceNumber = 1, Timestamp = 2, Ssrc = 3, Marker = true, Payload = new byte[] { 0x90, 0x80, 0x80, 0x01, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a } }.ToArray(),
        new RtpPacket { PayloadType = 111, Ssrc = 3, Csrcs = [1, 2, 3], Extensions = [new RtpHeaderExtension(1, [1]), new RtpHeaderExtension(5, new byte[16])], Payload = new byte[40], PaddingLength = 4 }.ToArray(),
        new RtpPacket { PayloadType = 96, Ssrc = 3, Extensions = [new RtpHeaderExtension(200, new byte[30]), new RtpHeaderExtension(2, [])], Payload = new byte[3] }.ToArray(),
        new RtpPacket { PayloadType = 96, Ssrc = 3, ExtensionProfile = 0x1234, RawExtension = new byte[8], Payload = new byte[3] }.ToArray(),
    ];

    [Fact]
    public void Rtp_parser_survives_mutants()
    {
        var ok = 0;
        Fuzz(1, RtpSeeds(), input =>
        {
            var result = RtpPacket.Parse(input);
            if (result.Ok)
            {
                ok++;
                Assert.True(result.Value.Payload.Length <= input.Length);
                // Whatever we accept we can write back and read again.
                Assert.True(RtpPacket.Parse(result.Value.ToArray()).Ok);
            }
            else
            {
                Assert.NotNull(result.Error);
            }
        });
        Assert.InRange(ok, 100, Iterations - 100); // the corpus exercises both outcomes
    }

    [Fact]
    public void Rtcp_parser_survives_mutants()
    {
        byte[][] seeds =
        [
            RtcpCompound.Build(
                new RtcpSenderReport { Ssrc = 1, Reports = [new RtcpReportBlock(2, 3, 4, 5, 6, 7, 8)] },
                RtcpSdes.ForCname(1, "cname"),
                new RtcpNack { SenderSsrc = 1, MediaSsrc = 2, LostSequenceNumbers = [1, 2, 30] },
                new RtcpPli { SenderSsrc = 1, MediaSsrc = 2 }),
            RtcpCompound.Build(
                new RtcpReceiverReport { Ssrc = 1, Reports = [new RtcpReportBlock(2, 3, 4, 5, 6, 7, 8), new RtcpReportBlock(9, 3, -4, 5, 6, 7, 8)] },
                new RtcpSdes { Chunks = [new RtcpSdesChunk(1, [new RtcpSdesItem(1, "a"), new RtcpSdesItem(2, "bb")]), new RtcpSdesChunk(2, [])] },
                new RtcpBye { Sources = [1, 2], Reason = "bye" }),
            Convert.FromHexString("A1CE000300000001000000020000000480CC00020000000141424344"),
        ];
        var ok = 0;
        Fuzz(2, seeds, input =>
        {
            var result = RtcpCompound.Parse(input);
            if (result.Ok)
            {
                ok++;
                Assert.True(RtcpCompound.Parse(RtcpCompound.Build(result.Value)).Ok);
            }
        });
        Assert.InRange(ok, 100, Iterations - 100);
    }

    [Fact]
    public void Vp8_descriptor_parser_survives_mutants()
    {
        byte[][] seeds =
        [
            Convert.FromHexString("90F0812342A59d012a"),
            Convert.FromHexString("80807F00"),
            Convert.FromHexString("10"),
            Convert.FromHexString("9080800150030009d012a8002e001"[..28]),
        ];
        Fuzz(3, seeds, input =>
        {
            var result = Vp8PayloadDescriptor.Parse(input);
            if (result.Ok)
            {
                Assert.InRange(result.Value.Length, 1, Math.Min(6, input.Length));
                Vp8FrameInfo.Read(input.AsSpan(result.Value.Length));
            }

            Vp8Depacketizer.IsKeyFrameStart(input);
        });
    }

    [Fact]
    public void Video_receiver_survives_a_mutated_stream_with_bounded_state()
    {
        var time = new ManualTime();
        var frames = 0;
        using var receiver = new VideoReceiver(
            new VideoReceiverOptions { Time = time, JitterBuffer = new VideoJitterBufferOptions { MaxPackets = 128 } }, _ => frames++, _ => { });
        using var sender = new VideoSender(new VideoSenderOptions { Width = 160, Height = 120, MaxPayloadSize = 200, Ssrc = 77 });
        var random = new Random(4);
        var buffer = (VideoJitterBuffer)typeof(VideoReceiver)
            .GetField("_buffer", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(receiver)!;
        for (var i = 0; i < 400; i++)
        {
            foreach (var packet in sender.SendFrame(TestPattern.Draw(160, 120, i), (uint)(i * 3000)))
            {
                // Half the packets arrive intact, the rest mutated (which may change SSRC, type, sequence or payload).
                var input = random.Next(2) == 0 ? packet : Mutate(random, packet);
                receiver.ReceiveRtp(input);
            }

            time.Advance(TimeSpan.FromMilliseconds(33));
            receiver.OnTimer();
            buffer = (VideoJitterBuffer)typeof(VideoReceiver)
                .GetField("_buffer", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(receiver)!;
            Assert.InRange(buffer.PacketCount, 0, 129);
            Assert.InRange(buffer.MissingCount, 0, 5000);
        }

        Assert.True(receiver.Stats.PacketsIgnored > 0);
    }
}
