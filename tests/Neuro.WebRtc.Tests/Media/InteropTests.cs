using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Neuro.Testing;
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
        // A clock that stands still: the file arrives "at once", so timeouts must not depend on how loaded the box is.
        using var receiver = new VideoReceiver(new VideoReceiverOptions { Time = new ManualTime() }, decoded.Add, rtcp.Add);
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
    public async Task Live_aiortc_sender_answers_our_nacks_and_plis()
    {
        // aiortc's own RTCRtpSender (encoder, packetizer, RTCP handling) streams to us over loopback UDP as plain RTP.
        // We lose one packet in 20 on first transmission (NACK must recover them) and black out 15 packets in a row
        // including their retransmissions (the frames time out, we send a PLI, aiortc must answer with a keyframe).
        using var socket = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var rtpPort = ((IPEndPoint)socket.Client.LocalEndPoint!).Port;
        var peerRtcp = new IPEndPoint(IPAddress.Loopback, FreePort.Next());
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { MediaPeer.ScriptPath, "vp8-live", rtpPort.ToString(), peerRtcp.Port.ToString(), "8" })
        {
            start.ArgumentList.Add(a);
        }

        using var peer = Process.Start(start)!;
        var stdout = peer.StandardOutput.ReadToEndAsync();
        var stderr = peer.StandardError.ReadToEndAsync();

        // The pattern holds 24 bits; over a long run the frame numbers are told apart by those bits alone.
        var byNumber = Enumerable.Range(0, 2000).ToDictionary(i => Number(i) & 0xFFFFFF);
        var decoded = new List<(int Index, bool Key)>();
        var unreadable = 0;
        using var receiver = new VideoReceiver(
            new VideoReceiverOptions { LocalSsrc = 0x77 },
            f =>
            {
                if (byNumber.TryGetValue(TestPattern.Read(f), out var index))
                {
                    decoded.Add((index, f.IsKeyFrame));
                }
                else
                {
                    unreadable++;
                }
            },
            rtcp => socket.Send(rtcp, rtcp.Length, peerRtcp));

        var random = new Random(5);
        var seen = new HashSet<ushort>();
        var blackedOut = new HashSet<ushort>();
        var randomDrops = 0;
        var firstBlackoutIndex = -1;
        var clock = Stopwatch.StartNew();
        while (!peer.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(20));
            try
            {
                var datagram = (await socket.ReceiveAsync(wait.Token)).Buffer;
                if (Neuro.WebRtc.Media.Rtp.RtpPacket.LooksLikeRtcp(datagram))
                {
                    Assert.Null(receiver.ReceiveRtcp(datagram));
                    continue;
                }

                var seq = (ushort)((datagram[2] << 8) | datagram[3]);
                var first = seen.Add(seq);
                if (first && seen.Count is > 60 and <= 75)
                {
                    blackedOut.Add(seq);
                    firstBlackoutIndex = firstBlackoutIndex < 0 ? decoded.Count : firstBlackoutIndex;
                }

                if (blackedOut.Contains(seq))
                {
                    continue;
                }

                if (first && seen.Count > 10 && random.Next(20) == 0)
                {
                    randomDrops++;
                    continue;
                }

                Assert.Null(receiver.ReceiveRtp(datagram));
            }
            catch (OperationCanceledException)
            {
            }

            receiver.OnTimer();
        }

        Assert.True(peer.WaitForExit(TimeSpan.FromSeconds(10)), "aiortc peer did not exit");
        Assert.True(peer.ExitCode == 0, await stderr);
        var got = JsonDocument.Parse(await stdout).RootElement;

        // aiortc saw our feedback...
        Assert.True(got.GetProperty("nack_packets").GetInt32() > 0);
        Assert.True(got.GetProperty("nacked_sequences").GetInt32() >= randomDrops);
        Assert.True(got.GetProperty("plis").GetInt32() >= 1);
        Assert.True(got.GetProperty("reports").GetInt32() >= 1);
        Assert.True(got.GetProperty("report_ssrc_ok").GetBoolean());
        Assert.Equal(got.GetProperty("ssrc").GetUInt32(), receiver.RemoteSsrc);

        // ...and we decoded its frames in order, with the outage healed by a keyframe after the PLI.
        var framesSent = got.GetProperty("frames_sent").GetInt32();
        Assert.True(randomDrops > 0);
        Assert.True(unreadable == 0, $"{unreadable} unreadable frames, {decoded.Count} read");
        Assert.True(decoded.Count >= framesSent / 2, $"decoded {decoded.Count} of {framesSent}");
        Assert.Equal(decoded.Select(d => d.Index).Order(), decoded.Select(d => d.Index));
        Assert.True(firstBlackoutIndex > 0);

        // Wherever frames are missing, decoding resumed at a keyframe (an inter frame would reference what we lack);
        // the outage is the longest such gap, and plenty was decoded after it.
        var gaps = Enumerable.Range(1, decoded.Count - 1).Where(i => decoded[i].Index > decoded[i - 1].Index + 1).ToList();
        Assert.All(gaps, i => Assert.True(decoded[i].Key, $"frame {decoded[i].Index} after a gap is not a keyframe"));
        var outage = gaps.MaxBy(i => decoded[i].Index - decoded[i - 1].Index);
        Assert.True(decoded[outage].Index - decoded[outage - 1].Index > 5);
        Assert.True(decoded[^1].Index > decoded[outage].Index + 30);
        Assert.True(receiver.Stats.PlisSent >= 1);
        Assert.True(receiver.Stats.NacksSent > 0);
    }

    [Fact]
    public async Task Our_video_sender_answers_aiortc_receiver_nacks()
    {
        // Our VideoSender streams to aiortc's RTCRtpReceiver (its jitter buffer, NACK generator and decoder) over
        // loopback UDP; one packet in ten is lost on first transmission and only our answers to its NACKs fill them.
        using var socket = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var ourRtcpPort = ((IPEndPoint)socket.Client.LocalEndPoint!).Port;
        var peerRtp = new IPEndPoint(IPAddress.Loopback, FreePort.Next());
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { MediaPeer.ScriptPath, "vp8-receive", peerRtp.Port.ToString(), ourRtcpPort.ToString(), "40" })
        {
            start.ArgumentList.Add(a);
        }

        using var peer = Process.Start(start)!;
        var stderr = peer.StandardError.ReadToEndAsync();
        Assert.Equal("ready", await peer.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)));

        // One receive loop that is never cancelled: aiortc NACKs a gap only once, and a cancelled receive can race with
        // an arriving datagram and swallow it.
        var feedback = System.Threading.Channels.Channel.CreateUnbounded<byte[]>();
        var pump = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    feedback.Writer.TryWrite((await socket.ReceiveAsync()).Buffer);
                }
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
            }
        });

        using var sender = new VideoSender(new VideoSenderOptions { Width = 320, Height = 240, MaxPayloadSize = 400, Ssrc = 0xABC });
        var random = new Random(9);
        var lost = 0;
        var rtcpPackets = 0;
        const int frames = 90;

        // One frame more than we check: aiortc's jitter buffer hands a frame on only when the next one starts.
        for (var i = 0; i <= frames; i++)
        {
            foreach (var packet in sender.SendFrame(TestPattern.Draw(320, 240, Number(i)), (uint)(i * 3000)))
            {
                if (i > 0 && i < frames && random.Next(10) == 0)
                {
                    lost++;
                    continue;
                }

                socket.Send(packet, packet.Length, peerRtp);
            }

            // Answer whatever feedback has come in, then keep a 30 fps pace.
            await AnswerFeedback(TimeSpan.FromMilliseconds(33));
        }

        // The last frame, then quiet: let late NACKs be answered before aiortc finishes.
        await AnswerFeedback(TimeSpan.FromSeconds(1));

        async Task AnswerFeedback(TimeSpan period)
        {
            var until = DateTime.UtcNow + period;
            do
            {
                while (feedback.Reader.TryRead(out var rtcp))
                {
                    rtcpPackets++;
                    foreach (var resend in sender.ReceiveRtcp(rtcp))
                    {
                        socket.Send(resend, resend.Length, peerRtp);
                    }
                }

                await Task.Delay(2);
            }
            while (DateTime.UtcNow < until);
        }

        Assert.True(peer.WaitForExit(TimeSpan.FromSeconds(30)), "aiortc receiver did not finish");
        Assert.True(peer.ExitCode == 0, await stderr);
        var result = JsonDocument.Parse(await peer.StandardOutput.ReadToEndAsync()).RootElement;
        var numbers = result.GetProperty("numbers").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.True(lost > 0 && rtcpPackets > 0);
        Assert.True(sender.Retransmissions >= lost, $"{sender.Retransmissions} retransmissions for {lost} lost packets");
        var expected = Enumerable.Range(0, frames).Select(i => Number(i) & 0xFFFFFF).ToList(); // the pattern holds 24 bits
        var missing = Enumerable.Range(0, frames).Where(i => !numbers.Contains(expected[i])).ToList();
        Assert.True(
            expected.SequenceEqual(numbers.Take(frames)),
            $"aiortc decoded {numbers.Count} frames; missing {string.Join(",", missing)}; lost {lost}, resent {sender.Retransmissions}, " +
            $"rtcp {rtcpPackets}, packets at aiortc {result.GetProperty("packets")}, stderr: {await stderr}");
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

    [Fact]
    public async Task Aiortc_receiver_hears_our_opus_tone_at_its_frequency()
    {
        // The issue's check: an Opus tone we send, received by aiortc (its RTCRtpReceiver, jitter buffer and decoder).
        using var socket = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var ourRtcpPort = ((IPEndPoint)socket.Client.LocalEndPoint!).Port;
        var peerRtp = new IPEndPoint(IPAddress.Loopback, FreePort.Next());
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { MediaPeer.ScriptPath, "opus-receive", peerRtp.Port.ToString(), ourRtcpPort.ToString(), "40" })
        {
            start.ArgumentList.Add(a);
        }

        using var peer = Process.Start(start)!;
        var stderr = peer.StandardError.ReadToEndAsync();
        Assert.Equal("ready", await peer.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)));

        using var sender = new AudioSender(new AudioSenderOptions { Channels = 1, PayloadType = 111, Bitrate = 48000 });
        var pcm = Tone(440, 1, seconds: 2.0);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 100; i++)
        {
            foreach (var packet in sender.Send(pcm.AsSpan(i * 960, 960)))
            {
                socket.Send(packet, packet.Length, peerRtp);
            }

            // Real-time pacing: one 20 ms packet per 20 ms, as the TTS track sends them.
            var due = TimeSpan.FromMilliseconds(20 * (i + 1)) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due);
            }
        }

        Assert.True(peer.WaitForExit(TimeSpan.FromSeconds(30)), "aiortc receiver did not finish");
        Assert.True(peer.ExitCode == 0, await stderr);
        var result = JsonDocument.Parse(await peer.StandardOutput.ReadToEndAsync()).RootElement;
        Assert.Equal(100, result.GetProperty("packets").GetInt32());
        Assert.True(result.GetProperty("samples").GetInt32() > 48000, $"aiortc decoded {result.GetProperty("samples")} samples");
        Assert.InRange(result.GetProperty("frequency").GetDouble(), 437, 443);
        Assert.True(result.GetProperty("rms").GetDouble() > 1000); // s16 samples; the tone's amplitude is 12000
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
