using System.Diagnostics;
using System.Text.Json;
using Neuro.WebRtc.Ice;
using Neuro.WebRtc.Sdp;
using Neuro.WebRtc.Srtp;
using Xunit.Abstractions;
using DtlsRole = Neuro.WebRtc.Dtls.DtlsRole;

namespace Neuro.WebRtc.Tests.Interop;

/// <summary>Our transport against headless Chromium's RTCPeerConnection (Debian chromium), signaling over plain HTTP.</summary>
public sealed class ChromiumInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    // Chromium offers a canvas VP8 track (solid rgb(200, 40, 40)) and a data channel, as the Neko server offers its screen
    // and "data"; on the channel it greets us and posts back whatever we send.
    private const string OfferingPage = """
        <!doctype html><html><body><script>
        const post = (path, body) => fetch(path, { method: 'POST', body });
        (async () => {
          try {
            const pc = new RTCPeerConnection();
            pc.onconnectionstatechange = () => post('/state', pc.connectionState);
            const canvas = document.createElement('canvas');
            canvas.width = 160; canvas.height = 120;
            const ctx = canvas.getContext('2d');
            setInterval(() => { ctx.fillStyle = 'rgb(200, 40, 40)'; ctx.fillRect(0, 0, 160, 120); }, 33);
            const stream = canvas.captureStream(30);
            pc.addTrack(stream.getVideoTracks()[0], stream);
            const dc = pc.createDataChannel('data');
            dc.onopen = () => dc.send('hello from chromium');
            dc.onmessage = e => post('/dc', typeof e.data === 'string' ? e.data : 'binary');
            await pc.setLocalDescription(await pc.createOffer());
            await new Promise(resolve => {
              if (pc.iceGatheringState === 'complete') resolve();
              pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
              setTimeout(resolve, 3000);
            });
            await post('/offer', pc.localDescription.sdp);
            const answer = await (await fetch('/answer')).text();
            await pc.setRemoteDescription({ type: 'answer', sdp: answer });
          } catch (e) { post('/log', String(e)); }
        })();
        </script></body></html>
        """;

    // Chromium answers our offer and reports how many RTP packets its video receiver counted.
    private const string AnsweringPage = """
        <!doctype html><html><body><script>
        const post = (path, body) => fetch(path, { method: 'POST', body });
        (async () => {
          try {
            const pc = new RTCPeerConnection();
            pc.onconnectionstatechange = () => post('/state', pc.connectionState);
            const offer = await (await fetch('/offer')).text();
            await pc.setRemoteDescription({ type: 'offer', sdp: offer });
            await pc.setLocalDescription(await pc.createAnswer());
            await new Promise(resolve => {
              if (pc.iceGatheringState === 'complete') resolve();
              pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
              setTimeout(resolve, 3000);
            });
            await post('/answer', pc.localDescription.sdp);
            setInterval(async () => {
              let packets = 0, ssrc = 0;
              (await pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') { packets += r.packetsReceived; ssrc = r.ssrc; } });
              post('/stats', JSON.stringify({ packets, ssrc, state: pc.connectionState }));
            }, 250);
          } catch (e) { post('/log', String(e)); }
        })();
        </script></body></html>
        """;

    /// <summary>The whole stack against Chromium: ICE, DTLS-SRTP, its VP8 track decoded by our receiver (libvpx) to the
    /// canvas colour, and its data channel over our SCTP + DCEP, both ways.</summary>
    [Fact]
    public async Task Chromium_video_decodes_and_its_data_channel_talks_to_our_sctp()
    {
        Assert.True(File.Exists("/usr/bin/chromium"), "Debian's chromium is required (test.sh installs it)");
        await using var page = new ChromiumPage(OfferingPage, mdns: false);
        var offer = SessionDescription.Parse(await page.WaitForPostAsync("/offer", TimeSpan.FromSeconds(20)));
        int vp8 = offer.Media.First(m => m.Kind == "video").RtpMaps.First(r => r.EncodingName == "VP8").PayloadType;
        await using var pc = new RtcPeerConnection(new RtcConfiguration());
        pc.SetRemoteDescription(RtcSdpType.Offer, offer);
        var answer = pc.CreateAnswer();
        pc.SetLocalDescription(RtcSdpType.Answer, answer);
        page.Reply("/answer").SetResult(answer.ToString());
        using var cts = new CancellationTokenSource(Step);
        await pc.ConnectAsync(cts.Token);

        await using var channels = Neuro.WebRtc.Sctp.SctpDataChannels.Start(pc.DataTransport, pc.DtlsRole == DtlsRole.Client);
        await channels.Association.ConnectAsync(cts.Token);
        var data = await channels.IncomingChannels.ReadAsync(cts.Token);
        Assert.Equal("data", data.Label);
        var greeting = await data.Messages.ReadAsync(cts.Token);
        Assert.True(greeting.IsText);
        Assert.Equal("hello from chromium", greeting.Text);
        await data.SendAsync("echo: " + greeting.Text, cts.Token);
        Assert.Equal("echo: hello from chromium", await page.WaitForPostAsync("/dc", TimeSpan.FromSeconds(10)));

        var frames = new List<Neuro.WebRtc.Media.Video.VideoFrame>();
        using var receiver = new Neuro.WebRtc.Media.Video.VideoReceiver(
            new Neuro.WebRtc.Media.Video.VideoReceiverOptions { PayloadType = vp8 }, frames.Add, rtcp => _ = pc.SendRtcpAsync(rtcp, CancellationToken.None).AsTask());
        while (frames.Count < 3 && await pc.ReceiveAsync(cts.Token) is { } packet)
        {
            if (packet.IsRtcp) receiver.ReceiveRtcp(packet.Data); else receiver.ReceiveRtp(packet.Data);
        }
        var frame = frames[^1];
        Assert.Equal((160, 120), (frame.Width, frame.Height));
        // The canvas is solid rgb(200, 40, 40); VP8 is lossy, so the centre pixel is close, not exact.
        int centre = ((frame.Height / 2) * frame.Width + frame.Width / 2) * 3;
        var (r, g, b) = (frame.Pixels[centre], frame.Pixels[centre + 1], frame.Pixels[centre + 2]);
        output.WriteLine($"decoded {frames.Count} frames from Chromium; centre pixel rgb({r}, {g}, {b})");
        Assert.InRange((int)r, 160, 240);
        Assert.InRange((int)g, 0, 80);
        Assert.InRange((int)b, 0, 80);
    }

    [Theory]
    [InlineData(DtlsRole.Client, false)]
    [InlineData(DtlsRole.Server, false)]
    [InlineData(DtlsRole.Client, true)]
    public Task Chromium_offers_video_we_answer_and_decrypt_its_srtp(DtlsRole ourRole, bool tcpOnly) =>
        AnswerChromiumAsync(ourRole, tcpOnly, mdns: false);

    /// <summary>
    /// Chromium's default: its host candidates are mDNS names we cannot resolve, so we only learn its address from its
    /// checks (a peer-reflexive candidate, RFC 8445 §7.3.1.3).
    /// </summary>
    [Fact]
    public Task Chromium_with_mdns_candidates_connects_through_peer_reflexive_learning() =>
        AnswerChromiumAsync(DtlsRole.Client, tcpOnly: false, mdns: true);

    private async Task AnswerChromiumAsync(DtlsRole ourRole, bool tcpOnly, bool mdns)
    {
        Assert.True(File.Exists("/usr/bin/chromium"), "Debian's chromium is required (test.sh installs it)");
        await using var page = new ChromiumPage(OfferingPage, mdns);
        var clock = Stopwatch.StartNew();
        string sdp = await page.WaitForPostAsync("/offer", TimeSpan.FromSeconds(20));
        var offer = SessionDescription.Parse(sdp);
        int vp8 = offer.Media.First(m => m.Kind == "video").RtpMaps.First(r => r.EncodingName == "VP8").PayloadType;
        var offered = offer.Media[0].Candidates.Where(c => c.Transport == "udp").ToList();
        output.WriteLine("chromium's UDP candidates: " + string.Join(", ", offered.Select(c => c.Address)));
        if (mdns) Assert.All(offered, c => Assert.Null(c.EndPoint));

        // TCP only: we offer just a passive ICE-TCP candidate, so Chromium has to connect to it actively (RFC 6544).
        await using var pc = new RtcPeerConnection(new RtcConfiguration
        {
            AnswerDtlsRole = ourRole,
            Ice = tcpOnly ? new IceAgentOptions { Udp = false, Tcp = true } : new IceAgentOptions(),
        });
        pc.SetRemoteDescription(RtcSdpType.Offer, offer);
        var answer = pc.CreateAnswer();
        pc.SetLocalDescription(RtcSdpType.Answer, answer);
        var answeredAt = clock.Elapsed;
        page.Reply("/answer").SetResult(answer.ToString());

        using var cts = new CancellationTokenSource(Step);
        try
        {
            await pc.ConnectAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"not connected: ICE {pc.Ice.State}\noffer:\n{sdp}\nanswer:\n{answer}\npage: {string.Join(" | ", page.Log)}");
        }
        output.WriteLine($"answer -> connected {(clock.Elapsed - answeredAt).TotalMilliseconds:F0} ms, SRTP profile {pc.SrtpKeys.Profile.Name}");
        Assert.Equal(ourRole, pc.DtlsRole);
        Assert.Equal(tcpOnly, pc.Ice.SelectedIsTcp);
        // The DTLS server picks the profile: Chromium (as server) takes AES_CM; we (as server) prefer GCM, which Chromium offers.
        Assert.Equal(ourRole == DtlsRole.Server ? SrtpProfile.AeadAes128Gcm : SrtpProfile.AesCm128HmacSha1_80, pc.SrtpKeys.Profile);

        int video = 0;
        while (video < 10 && await pc.ReceiveAsync(cts.Token) is { } packet)
        {
            if (!packet.IsRtcp && (packet.Data[1] & 0x7F) == vp8) video++;
        }
        output.WriteLine($"10 VP8 packets decrypted after {(clock.Elapsed - answeredAt).TotalMilliseconds:F0} ms; rejected {pc.ReceiveCounts.Rejected}");
        Assert.Equal(10, video);
        Assert.Equal(0, pc.ReceiveCounts.Rejected);
    }

    [Fact]
    public async Task We_offer_chromium_answers_and_counts_our_srtp()
    {
        Assert.True(File.Exists("/usr/bin/chromium"), "Debian's chromium is required (test.sh installs it)");
        await using var page = new ChromiumPage(AnsweringPage);
        await using var pc = new RtcPeerConnection(new RtcConfiguration { OfferVideo = "sendonly", OfferDataChannel = true });
        var offer = pc.CreateOffer();
        pc.SetLocalDescription(RtcSdpType.Offer, offer);
        page.Reply("/offer").SetResult(offer.ToString());
        var answer = SessionDescription.Parse(await page.WaitForPostAsync("/answer", TimeSpan.FromSeconds(20)));
        Assert.Equal(SetupRole.Active, answer.Setup(answer.Media[0])); // Chromium answers as DTLS client
        Assert.Equal("recvonly", answer.Media[0].Direction);
        Assert.NotEqual(0, answer.Media[1].Port); // it accepted the data channel section too
        pc.SetRemoteDescription(RtcSdpType.Answer, answer);

        using var cts = new CancellationTokenSource(Step);
        await pc.ConnectAsync(cts.Token);
        Assert.Equal(SrtpProfile.AeadAes128Gcm, pc.SrtpKeys.Profile); // we are the DTLS server and prefer GCM
        Assert.True(pc.Ice.IsControlling);

        // Send RTP (PT 96, our announced SSRC) until Chromium's receiver has counted enough of it.
        ushort seq = 1;
        var deadline = DateTime.UtcNow + Step;
        long counted = 0;
        var sending = Task.Run(async () =>
        {
            while (!cts.IsCancellationRequested && Interlocked.Read(ref counted) < 20)
            {
                await pc.SendRtpAsync(Srtp.SrtpContextTests.Rtp(seq++, pc.LocalVideoSsrc), cts.Token);
                await Task.Delay(10, cts.Token);
            }
        });
        while (Interlocked.Read(ref counted) < 20)
        {
            var stats = JsonDocument.Parse(await page.WaitForPostAsync("/stats", Step)).RootElement;
            Interlocked.Exchange(ref counted, stats.GetProperty("packets").GetInt64());
            if (counted > 0) Assert.Equal(pc.LocalVideoSsrc, stats.GetProperty("ssrc").GetUInt32());
        }
        await sending.WaitAsync(Step);
        output.WriteLine($"chromium counted {counted} of our packets");
    }
}
