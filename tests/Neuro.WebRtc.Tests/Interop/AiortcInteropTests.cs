using Xunit.Abstractions;
using System.Buffers.Binary;
using System.Text.Json;
using Neuro.WebRtc.Dtls;
using Neuro.WebRtc.Sdp;
using Neuro.WebRtc.Srtp;

namespace Neuro.WebRtc.Tests.Interop;

/// <summary>Our transport against a real aiortc 1.4.0 (Debian python3-aiortc) over loopback UDP.</summary>
public sealed class AiortcInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(8);

    [Fact]
    public async Task Aiortc_offers_video_and_data_we_answer_and_unprotect_its_srtp()
    {
        await using var peer = AiortcPeer.Start("offer");
        var offerMessage = await peer.WaitForAsync(m => AiortcPeer.IsType(m, "offer"), Step);
        var offer = SessionDescription.Parse(offerMessage.GetProperty("sdp").GetString()!);
        int vp8 = offer.Media.First(m => m.Kind == "video").RtpMaps.First(r => r.EncodingName == "VP8").PayloadType;

        await using var pc = new RtcPeerConnection();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan iceAt = default;
        pc.Ice.StateChanged += s => { if (s == Neuro.WebRtc.Ice.IceConnectionState.Connected) iceAt = clock.Elapsed; };
        pc.SetRemoteDescription(RtcSdpType.Offer, offer);
        var answer = pc.CreateAnswer();
        pc.SetLocalDescription(RtcSdpType.Answer, answer);
        await peer.SendAsync(new { type = "answer", sdp = answer.ToString() });

        using var cts = new CancellationTokenSource(Step);
        await ConnectOrExplainAsync(pc, peer, offer, answer, cts.Token);
        var connectedAt = clock.Elapsed;
        Assert.Equal(RtcPeerConnectionState.Connected, pc.State);
        Assert.Equal(DtlsRole.Client, pc.DtlsRole); // we answered a=setup:active
        Assert.Equal(SrtpProfile.AesCm128HmacSha1_80, pc.SrtpKeys.Profile); // the only profile aiortc offers

        // aiortc's VP8 stream arrives, authenticates with the exported keys and decrypts to VP8 RTP.
        int rtp = 0, rtcp = 0;
        uint? ssrc = null;
        while ((rtp < 20 || rtcp < 1) && await pc.ReceiveAsync(cts.Token) is { } packet)
        {
            if (packet.IsRtcp) { rtcp++; continue; }
            Assert.Equal(vp8, packet.Data[1] & 0x7F);
            uint packetSsrc = BinaryPrimitives.ReadUInt32BigEndian(packet.Data.AsSpan(8));
            if (ssrc is null) output.WriteLine($"first decrypted RTP at {clock.Elapsed.TotalMilliseconds:F0} ms");
            ssrc ??= packetSsrc;
            Assert.Equal(ssrc, packetSsrc);
            rtp++;
        }
        output.WriteLine($"offer applied -> ICE connected {iceAt.TotalMilliseconds:F0} ms, DTLS done {connectedAt.TotalMilliseconds:F0} ms");
        Assert.True(rtp >= 20, $"only {rtp} RTP packets");
        Assert.True(rtcp >= 1, "no SRTCP packet from aiortc");
        Assert.Equal(0, pc.ReceiveCounts.Rejected);

        var state = await peer.WaitForAsync(m => AiortcPeer.IsEvent(m, "state") && m.GetProperty("state").GetString() == "connected", Step);
        Assert.Equal("connected", state.GetProperty("state").GetString());

        // aiortc closing its connection ends ours promptly (its close_notify), not after the 30 s consent timeout.
        await peer.DisposeAsync();
        while (await pc.ReceiveAsync(cts.Token) is not null)
        {
        }
        Assert.Equal(RtcPeerConnectionState.Failed, pc.State);
        Assert.Contains("close_notify", Assert.IsType<DtlsClosedException>(pc.Failure).Message);
    }

    private static async Task ConnectOrExplainAsync(RtcPeerConnection pc, AiortcPeer peer, SessionDescription remote, SessionDescription local, CancellationToken cancellationToken)
    {
        try
        {
            await pc.ConnectAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"not connected: ICE {pc.Ice.State}, pc {pc.State}, DTLS role {pc.DtlsRole}\n" +
                $"remote:\n{remote}\nlocal:\n{local}\naiortc said: {string.Join("\n", peer.Drain())}\naiortc stderr:\n{peer.Stderr}");
        }
    }

    [Fact]
    public async Task We_offer_aiortc_answers_and_receives_our_protected_rtp()
    {
        await using var peer = AiortcPeer.Start("answer");
        await using var pc = new RtcPeerConnection(new RtcConfiguration { OfferVideo = "sendonly", OfferDataChannel = true });
        var offer = pc.CreateOffer();
        pc.SetLocalDescription(RtcSdpType.Offer, offer);
        await peer.SendAsync(new { type = "offer", sdp = offer.ToString() });
        var answerMessage = await peer.WaitForAsync(m => AiortcPeer.IsType(m, "answer"), Step);
        var answer = SessionDescription.Parse(answerMessage.GetProperty("sdp").GetString()!);
        Assert.Equal(SetupRole.Active, answer.Setup(answer.Media[0]));
        pc.SetRemoteDescription(RtcSdpType.Answer, answer);

        using var cts = new CancellationTokenSource(Step);
        await pc.ConnectAsync(cts.Token);
        Assert.Equal(DtlsRole.Server, pc.DtlsRole);
        Assert.True(pc.Ice.IsControlling);

        uint ssrc = pc.LocalVideoSsrc; // the one our offer announced
        var sent = new Dictionary<int, string>();
        for (int seq = 1000; seq < 1030; seq++)
        {
            var packet = Srtp.SrtpContextTests.Rtp((ushort)seq, ssrc, payload: 40 + seq % 7);
            sent[seq] = Convert.ToHexString(packet.AsSpan(12)).ToLowerInvariant();
            await pc.SendRtpAsync(packet, cts.Token);
            await Task.Delay(5, cts.Token);
        }

        // aiortc only hands a packet to its receiver after libsrtp authenticated and decrypted it.
        var received = new Dictionary<int, string>();
        while (received.Count < sent.Count)
        {
            var m = await peer.WaitForAsync(e => AiortcPeer.IsEvent(e, "rtp"), Step);
            Assert.Equal(ssrc, m.GetProperty("ssrc").GetUInt32());
            Assert.Equal(RtcPeerConnection.VideoPayloadType, m.GetProperty("pt").GetInt32());
            received[m.GetProperty("seq").GetInt32()] = m.GetProperty("payload").GetString()!;
        }
        Assert.Equal(sent, received);
    }

    [Fact]
    public async Task Aiortc_sctp_init_arrives_through_our_dtls_data_transport()
    {
        // As DTLS server we are also the SCTP server, so aiortc (the SCTP client) sends its INIT first: the seam
        // the SCTP engineer builds on carries real SCTP from a real peer.
        await using var peer = AiortcPeer.Start("offer");
        var offerMessage = await peer.WaitForAsync(m => AiortcPeer.IsType(m, "offer"), Step);
        var offer = SessionDescription.Parse(offerMessage.GetProperty("sdp").GetString()!);
        await using var pc = new RtcPeerConnection(new RtcConfiguration { AnswerDtlsRole = DtlsRole.Server });
        pc.SetRemoteDescription(RtcSdpType.Offer, offer);
        var answer = pc.CreateAnswer();
        pc.SetLocalDescription(RtcSdpType.Answer, answer);
        await peer.SendAsync(new { type = "answer", sdp = answer.ToString() });
        using var cts = new CancellationTokenSource(Step);
        await ConnectOrExplainAsync(pc, peer, offer, answer, cts.Token);
        Assert.Equal(DtlsRole.Server, pc.DtlsRole);

        var buffer = new byte[pc.DataTransport.MaxDatagramSize];
        int n = await pc.DataTransport.ReceiveAsync(buffer, cts.Token);
        // SCTP common header (RFC 9260 §3.1): ports 5000 -> 5000, verification tag 0 on an INIT, then chunk type 1.
        Assert.True(n >= 32, $"{n} bytes");
        Assert.Equal(5000, BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(0)));
        Assert.Equal(5000, BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(2)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(4)));
        Assert.Equal(1, buffer[12]);
    }

    [Fact]
    public async Task Wrong_fingerprint_in_the_offer_fails_our_side_cleanly()
    {
        await using var peer = AiortcPeer.Start("offer");
        var offerMessage = await peer.WaitForAsync(m => AiortcPeer.IsType(m, "offer"), Step);
        string sdp = offerMessage.GetProperty("sdp").GetString()!;
        // Replace every fingerprint with that of a certificate aiortc does not have.
        string impostor = DtlsCertificate.Generate().Fingerprint.ToString();
        var lines = sdp.Split("\r\n").Select(l => l.StartsWith("a=fingerprint:sha-256", StringComparison.Ordinal) ? "a=fingerprint:" + impostor : l);
        var offer = SessionDescription.Parse(string.Join("\r\n", lines));

        await using var pc = new RtcPeerConnection(new RtcConfiguration { DtlsTimeout = TimeSpan.FromSeconds(5) });
        pc.SetRemoteDescription(RtcSdpType.Offer, offer);
        var answer = pc.CreateAnswer();
        pc.SetLocalDescription(RtcSdpType.Answer, answer);
        await peer.SendAsync(new { type = "answer", sdp = answer.ToString() });

        var started = DateTime.UtcNow;
        using var cts = new CancellationTokenSource(Step);
        var error = await Assert.ThrowsAsync<DtlsHandshakeException>(() => pc.ConnectAsync(cts.Token));
        Assert.Contains("does not match the SDP", error.Message);
        Assert.Equal(RtcPeerConnectionState.Failed, pc.State);
        Assert.True(DateTime.UtcNow - started < Step);
        Assert.Null(await pc.ReceiveAsync(cts.Token));
    }
}
