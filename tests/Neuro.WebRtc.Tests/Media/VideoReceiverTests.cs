using Neuro.WebRtc.Media.Rtcp;
using Neuro.WebRtc.Media.Rtp;
using Neuro.WebRtc.Media.Video;

namespace Neuro.WebRtc.Tests.Media;

/// <summary>
/// Our sender and receiver joined by a lossy, reordering "network" the test controls. The receiver's RTCP goes back to
/// the sender, which answers NACKs with retransmissions and PLIs with keyframes, as a real peer does.
/// </summary>
public sealed class VideoReceiverTests
{
    private const int Width = 320;
    private const int Height = 240;

    private sealed class Link : IDisposable
    {
        public readonly ManualTime Time = new();
        public readonly List<VideoFrame> Frames = [];
        public readonly List<RtcpPacket> Feedback = [];
        public readonly VideoSender Sender;
        public readonly VideoReceiver Receiver;
        public bool AnswerNacks = true;
        public bool AnswerPlis = true;
        private readonly List<byte[]> _pendingResends = [];

        public Link(ushort? initialSequence = null, int maxPayload = 300)
        {
            Sender = new VideoSender(new VideoSenderOptions
            {
                Width = Width, Height = Height, BitrateKbps = 1500, MaxPayloadSize = maxPayload, Ssrc = 0x1234, InitialSequenceNumber = initialSequence,
            });
            Receiver = new VideoReceiver(
                new VideoReceiverOptions { Time = Time, LocalSsrc = 0x99 },
                Frames.Add,
                rtcp =>
                {
                    var parsed = RtcpCompound.Parse(rtcp);
                    Assert.True(parsed.Ok, parsed.Error);
                    Feedback.AddRange(parsed.Value);
                    foreach (var p in parsed.Value)
                    {
                        if ((p is RtcpNack && AnswerNacks) || (p is RtcpPli && AnswerPlis))
                        {
                            _pendingResends.AddRange(Sender.ReceiveRtcp(RtcpCompound.Build(p)));
                        }
                    }
                });
        }

        /// <summary>Delivers retransmissions the receiver asked for; they arrive after what is already in flight.</summary>
        public void DeliverResends()
        {
            while (_pendingResends.Count > 0)
            {
                var batch = _pendingResends.ToArray();
                _pendingResends.Clear();
                foreach (var p in batch)
                {
                    Assert.Null(Receiver.ReceiveRtp(p));
                }
            }
        }

        public void Dispose()
        {
            Sender.Dispose();
            Receiver.Dispose();
        }
    }

    private static int Number(int i) => 0x2D2D2D ^ (i * 0x30507);

    [Theory]
    [InlineData(null)]
    [InlineData((ushort)65500)] // the sequence number wraps in the middle of the run
    public void Shuffled_and_lossy_stream_decodes_every_frame_in_order(ushort? initialSequence)
    {
        using var link = new Link(initialSequence);
        var random = new Random(7);
        var inFlight = new List<byte[]>();
        for (var i = 0; i < 62; i++)
        {
            inFlight.AddRange(link.Sender.SendFrame(TestPattern.Draw(Width, Height, Number(i)), (uint)(i * 3000)));
            if (i % 2 == 1)
            {
                // Two frames' packets in random order, about one in eight lost on first transmission. The last two
                // frames arrive whole: a lost tail packet is only noticed when a later packet shows the gap.
                foreach (var p in inFlight.OrderBy(_ => random.Next()))
                {
                    if (i == 61 || random.Next(8) != 0)
                    {
                        link.Receiver.ReceiveRtp(p);
                    }
                }

                inFlight.Clear();
                link.Time.Advance(TimeSpan.FromMilliseconds(20));
                link.DeliverResends();
                link.Receiver.OnTimer();
                link.DeliverResends();
            }
        }

        Assert.Equal(Enumerable.Range(0, 62).Select(Number), link.Frames.Select(TestPattern.Read));
        Assert.Equal(Enumerable.Range(0, 62).Select(i => (uint)(i * 3000)), link.Frames.Select(f => f.RtpTimestamp));
        var stats = link.Receiver.Stats;
        Assert.True(stats.NacksSent > 0);
        Assert.True(link.Sender.Retransmissions > 0);
        Assert.Equal(0, stats.PlisSent);
        Assert.Equal(0, stats.FramesDropped);
    }

    [Fact]
    public void A_lost_packet_is_nacked_by_its_sequence_number()
    {
        using var link = new Link(initialSequence: 65534, maxPayload: 60);
        link.AnswerNacks = false;
        var packets = link.Sender.SendFrame(TestPattern.Draw(Width, Height, 1), 0);
        Assert.True(packets.Count >= 4);
        var lostSeq = RtpPacket.Parse(packets[2]).Value!.SequenceNumber;
        Assert.Equal(0, lostSeq); // 65534, 65535, 0: the lost one is just past the wrap
        foreach (var p in packets.Where((_, i) => i != 2))
        {
            link.Receiver.ReceiveRtp(p);
        }

        var nacks = link.Feedback.OfType<RtcpNack>().ToList();
        Assert.Single(nacks);
        Assert.Equal([lostSeq], nacks[0].LostSequenceNumbers);
        Assert.Equal(0x1234u, nacks[0].MediaSsrc);
        Assert.Equal(0x99u, nacks[0].SenderSsrc);
        Assert.Empty(link.Frames);

        // Retried after the interval, then the retransmission completes the frame.
        link.Time.Advance(TimeSpan.FromMilliseconds(60));
        link.Receiver.OnTimer();
        Assert.Equal(2, link.Feedback.OfType<RtcpNack>().Count());
        link.Receiver.ReceiveRtp(packets[2]);
        Assert.Equal(1, TestPattern.Read(Assert.Single(link.Frames)));
    }

    [Fact]
    public void A_lost_keyframe_brings_a_pli_and_decoding_resumes_at_the_next_keyframe()
    {
        using var link = new Link();
        link.AnswerNacks = false; // the keyframe is gone for good

        // Frame 0 (key) arrives; frame 1 is a keyframe we force and then lose, all but its first packet.
        foreach (var p in link.Sender.SendFrame(TestPattern.Draw(Width, Height, Number(0)), 0))
        {
            link.Receiver.ReceiveRtp(p);
        }

        var lostKey = link.Sender.SendFrame(TestPattern.Draw(Width, Height, Number(1)), 3000, forceKeyFrame: true);
        Assert.True(lostKey.Count >= 2);
        link.Receiver.ReceiveRtp(lostKey[0]);

        // Later frames; the sender answers the PLI (delivered at once by the link) with a keyframe.
        int? resumedAt = null;
        for (var i = 2; i < 12; i++)
        {
            var packets = link.Sender.SendFrame(TestPattern.Draw(Width, Height, Number(i)), (uint)(i * 3000));
            if (resumedAt is null && Neuro.WebRtc.Media.Vp8.Vp8Depacketizer.IsKeyFrameStart(RtpPacket.Parse(packets[0]).Value!.Payload.Span))
            {
                resumedAt = i;
                Assert.True(link.Receiver.WaitingForKeyFrame);
                Assert.Contains(link.Feedback, p => p is RtcpPli { MediaSsrc: 0x1234, SenderSsrc: 0x99 });
                Assert.Equal([Number(0)], link.Frames.Select(TestPattern.Read));
            }

            foreach (var p in packets)
            {
                link.Receiver.ReceiveRtp(p);
            }

            link.Time.Advance(TimeSpan.FromMilliseconds(100));
            link.Receiver.OnTimer();
        }

        Assert.NotNull(resumedAt);
        Assert.True(link.Receiver.Stats.FramesDropped >= 1);
        Assert.True(link.Sender.KeyFramesRequested >= 1);
        Assert.Equal([Number(0), .. Enumerable.Range(resumedAt.Value, 12 - resumedAt.Value).Select(Number)], link.Frames.Select(TestPattern.Read));
        Assert.True(link.Frames[1].IsKeyFrame);
        Assert.False(link.Receiver.WaitingForKeyFrame);
    }

    [Fact]
    public void Joining_mid_stream_waits_for_a_keyframe_then_asks_for_one()
    {
        using var link = new Link();
        link.AnswerPlis = false;
        link.Sender.SendFrame(TestPattern.Draw(Width, Height, Number(0)), 0); // the keyframe we missed
        for (var i = 1; i < 12; i++)
        {
            foreach (var p in link.Sender.SendFrame(TestPattern.Draw(Width, Height, Number(i)), (uint)(i * 3000)))
            {
                link.Receiver.ReceiveRtp(p);
            }

            link.Time.Advance(TimeSpan.FromMilliseconds(33));
            link.Receiver.OnTimer();
            if (i < 9)
            {
                // Within MaxFrameWait (300 ms) the sender gets a chance to send its own keyframe.
                Assert.DoesNotContain(link.Feedback, p => p is RtcpPli);
            }
        }

        Assert.Empty(link.Frames);
        Assert.Contains(link.Feedback, p => p is RtcpPli);

        foreach (var p in link.Sender.SendFrame(TestPattern.Draw(Width, Height, Number(12)), 12 * 3000, forceKeyFrame: true))
        {
            link.Receiver.ReceiveRtp(p);
        }

        Assert.Equal(Number(12), TestPattern.Read(Assert.Single(link.Frames)));
    }

    [Fact]
    public void A_restarted_sender_is_followed_after_a_sequence_jump_and_a_new_ssrc()
    {
        var time = new ManualTime();
        var frames = new List<VideoFrame>();
        using var receiver = new VideoReceiver(new VideoReceiverOptions { Time = time }, frames.Add, _ => { });
        void Play(VideoSender sender, int from, int count, bool key = true)
        {
            for (var i = from; i < from + count; i++)
            {
                foreach (var p in sender.SendFrame(TestPattern.Draw(Width, Height, Number(i)), (uint)(i * 3000), forceKeyFrame: key && i == from))
                {
                    Assert.Null(receiver.ReceiveRtp(p));
                }

                time.Advance(TimeSpan.FromMilliseconds(33));
            }
        }

        using (var first = new VideoSender(new VideoSenderOptions { Width = Width, Height = Height, Ssrc = 1, InitialSequenceNumber = 100, MaxPayloadSize = 200 }))
        {
            Play(first, 0, 3);

            // Same SSRC, numbering jumps by 20000: treated as a restart, not as 20000 lost packets.
            using var jumped = new VideoSender(new VideoSenderOptions { Width = Width, Height = Height, Ssrc = 1, InitialSequenceNumber = 20100 });
            Play(jumped, 3, 2);

            // A lone stray packet far from the stream's numbering does not disturb it: the next inter frame decodes.
            Assert.Null(receiver.ReceiveRtp(new RtpPacket { PayloadType = 96, Ssrc = 1, SequenceNumber = 50000, Payload = new byte[] { 0x10, 0x00 } }.ToArray()));
            Play(jumped, 5, 1, key: false);
        }

        // Another SSRC while the first is live is ignored...
        using var intruder = new VideoSender(new VideoSenderOptions { Width = Width, Height = Height, Ssrc = 2 });
        Assert.NotNull(receiver.ReceiveRtp(intruder.SendFrame(TestPattern.Draw(Width, Height, 1), 0, forceKeyFrame: true)[0]));

        // ...but after two seconds of silence a new source takes over.
        time.Advance(TimeSpan.FromSeconds(3));
        using var second = new VideoSender(new VideoSenderOptions { Width = Width, Height = Height, Ssrc = 3 });
        Play(second, 6, 3);

        Assert.Equal(Enumerable.Range(0, 9).Select(Number), frames.Select(TestPattern.Read));
        Assert.Equal(3u, receiver.RemoteSsrc);
        Assert.Equal(0, receiver.Stats.NacksSent);
    }

    [Fact]
    public void The_transport_may_reuse_its_receive_buffer_and_a_bye_frees_the_source()
    {
        var time = new ManualTime();
        var frames = new List<VideoFrame>();
        using var receiver = new VideoReceiver(new VideoReceiverOptions { Time = time }, frames.Add, _ => { });
        using var sender = new VideoSender(new VideoSenderOptions { Width = Width, Height = Height, Ssrc = 1, MaxPayloadSize = 200 });
        var buffer = new byte[1500];
        for (var i = 0; i < 5; i++)
        {
            // Reversed within each frame, so packets wait in the jitter buffer while the buffer is overwritten.
            foreach (var p in sender.SendFrame(TestPattern.Draw(Width, Height, Number(i)), (uint)(i * 3000)).AsEnumerable().Reverse())
            {
                p.CopyTo(buffer, 0);
                Assert.Null(receiver.ReceiveRtp(buffer.AsSpan(0, p.Length)));
                Array.Fill(buffer, (byte)0xEE);
            }
        }

        Assert.Equal(Enumerable.Range(0, 5).Select(Number), frames.Select(TestPattern.Read));

        Assert.Null(receiver.ReceiveRtcp(RtcpCompound.Build(new RtcpBye { Sources = [1] })));
        using var next = new VideoSender(new VideoSenderOptions { Width = Width, Height = Height, Ssrc = 2 });
        foreach (var p in next.SendFrame(TestPattern.Draw(Width, Height, Number(5)), 0))
        {
            Assert.Null(receiver.ReceiveRtp(p));
        }

        Assert.Equal(Number(5), TestPattern.Read(frames[^1]));
    }

    [Fact]
    public void Padding_only_packets_between_frames_are_stepped_over()
    {
        var time = new ManualTime();
        var frames = new List<VideoFrame>();
        var rtcp = new List<byte[]>();
        using var receiver = new VideoReceiver(new VideoReceiverOptions { Time = time }, frames.Add, rtcp.Add);
        using var sender = new VideoSender(new VideoSenderOptions { Width = Width, Height = Height, Ssrc = 1, MaxPayloadSize = 200 });
        ushort seq = 65530;
        for (var i = 0; i < 6; i++)
        {
            // Renumber the sender's packets so that two padding-only probes sit between consecutive frames, as
            // Chromium sends them when it probes bandwidth without RTX.
            foreach (var bytes in sender.SendFrame(TestPattern.Draw(Width, Height, Number(i)), (uint)(i * 3000)))
            {
                var p = RtpPacket.Parse(bytes).Value!;
                Assert.Null(receiver.ReceiveRtp(new RtpPacket { PayloadType = 96, Ssrc = 1, SequenceNumber = seq++, Timestamp = p.Timestamp, Marker = p.Marker, Payload = p.Payload }.ToArray()));
            }

            for (var k = 0; k < 2; k++)
            {
                Assert.Null(receiver.ReceiveRtp(new RtpPacket { PayloadType = 96, Ssrc = 1, SequenceNumber = seq++, Timestamp = (uint)(i * 3000), PaddingLength = 200 }.ToArray()));
            }

            time.Advance(TimeSpan.FromMilliseconds(33));
            receiver.OnTimer();
        }

        Assert.Equal(Enumerable.Range(0, 6).Select(Number), frames.Select(TestPattern.Read));
        Assert.Equal((0, 0L), (receiver.Stats.PlisSent, receiver.Stats.FramesDropped));
    }

    [Fact]
    public void Receiver_reports_describe_the_loss()
    {
        using var link = new Link();
        link.AnswerNacks = false;
        var sent = 0;
        var lost = 0;
        byte[]? first = null;
        for (var i = 0; i < 10; i++)
        {
            foreach (var p in link.Sender.SendFrame(TestPattern.Draw(Width, Height, Number(i)), (uint)(i * 3000)))
            {
                sent++;
                first ??= p;
                // Lose one packet in the middle of frame 5 only.
                if (i == 5 && lost == 0 && sent % 2 == 0)
                {
                    lost++;
                    continue;
                }

                link.Receiver.ReceiveRtp(p);
            }
        }

        link.Time.Advance(TimeSpan.FromSeconds(1));
        link.Receiver.OnTimer();
        var reports = link.Feedback.OfType<RtcpReceiverReport>().Select(r => Assert.Single(r.Reports)).ToList();
        var block = reports[^1];
        Assert.Equal(0x1234u, block.Ssrc);
        Assert.Equal(1, block.CumulativeLost);
        Assert.Equal(RtpPacket.Parse(first!).Value!.SequenceNumber + (uint)sent - 1, block.ExtendedHighestSequence);

        // Each report's fraction covers the packets since the one before (RFC 3550 A.3), so the loss shows in one.
        Assert.Single(reports, r => r.FractionLost > 0);
        Assert.Equal(0, block.FractionLost);
        Assert.Equal("neuro-webrtc", link.Feedback.OfType<RtcpSdes>().Last().Chunks[0].Items[0].Text);
    }

    [Fact]
    public void Packets_that_never_form_a_frame_stay_bounded()
    {
        var time = new ManualTime();
        using var receiver = new VideoReceiver(
            new VideoReceiverOptions { Time = time, JitterBuffer = new VideoJitterBufferOptions { MaxPackets = 64 } }, _ => { }, _ => { });
        var field = typeof(VideoReceiver).GetField("_buffer", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        for (var i = 0; i < 5000; i++)
        {
            // Continuation packets (S=0) with a new timestamp each: no frame ever starts.
            var packet = new RtpPacket { PayloadType = 96, SequenceNumber = (ushort)(i * 2), Timestamp = (uint)i, Ssrc = 5, Payload = new byte[] { 0x00, 0x01, 0x02 } };
            Assert.Null(receiver.ReceiveRtp(packet.ToArray()));
            var buffer = (VideoJitterBuffer)field.GetValue(receiver)!;
            Assert.InRange(buffer.PacketCount, 0, 65);
            Assert.InRange(buffer.MissingCount, 0, 1100);
        }
    }
}
