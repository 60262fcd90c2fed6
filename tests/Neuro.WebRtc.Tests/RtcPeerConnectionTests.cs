using System.Buffers.Binary;
using Neuro.WebRtc.Dtls;
using Neuro.WebRtc.Ice;
using Neuro.WebRtc.Sdp;

namespace Neuro.WebRtc.Tests;

public sealed class RtcPeerConnectionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>The SDP without its candidates, so that ICE can only learn them by trickle.</summary>
    private static SessionDescription WithoutCandidates(SessionDescription sd)
    {
        var copy = SessionDescription.Parse(sd.ToString());
        foreach (var m in copy.Media) m.Attributes.RemoveAll(a => a.Name is "candidate" or "end-of-candidates");
        return copy;
    }

    [Fact]
    public async Task Two_of_ours_connect_by_trickle_and_carry_data_and_srtp_both_ways()
    {
        await using var offerer = new RtcPeerConnection(new RtcConfiguration { OfferVideo = "sendrecv", OfferAudio = "sendrecv" });
        await using var answerer = new RtcPeerConnection();
        var offer = offerer.CreateOffer();
        offerer.SetLocalDescription(RtcSdpType.Offer, offer);
        answerer.SetRemoteDescription(RtcSdpType.Offer, WithoutCandidates(offer));
        var answer = answerer.CreateAnswer();
        answerer.SetLocalDescription(RtcSdpType.Answer, answer);
        offerer.SetRemoteDescription(RtcSdpType.Answer, WithoutCandidates(answer));

        // The answer accepted all three sections with the offer's payload types and took the active DTLS role.
        Assert.Equal(["0", "1", "2"], answer.BundleGroup);
        Assert.Equal(SetupRole.Active, answer.Setup(answer.Media[0]));
        Assert.Contains(answer.Media[1].RtpMaps, m => m is { PayloadType: 111, EncodingName: "opus", ClockRate: 48000, Channels: 2 });
        Assert.Equal("sendrecv", answer.Media[0].Direction);
        Assert.Equal(5000, answer.Media[2].SctpPort);
        // Each side announces the SSRC its media sender will use in the sections it sends on.
        Assert.Equal([offerer.LocalVideoSsrc], offer.Media[0].Ssrcs);
        Assert.Equal([answerer.LocalAudioSsrc], answer.Media[1].Ssrcs);
        Assert.Empty(answer.Media[2].Ssrcs);

        // Trickle: candidates as the signaling channel would carry them, as text.
        foreach (var c in offerer.Ice.LocalCandidates) { Assert.True(IceCandidate.TryParse(c.ToString(), out var parsed)); answerer.AddRemoteCandidate(parsed, "0"); }
        foreach (var c in answerer.Ice.LocalCandidates) { Assert.True(IceCandidate.TryParse(c.ToString(), out var parsed)); offerer.AddRemoteCandidate(parsed, "0"); }
        offerer.AddRemoteCandidate(null);
        answerer.AddRemoteCandidate(null);

        using var cts = new CancellationTokenSource(Timeout);
        await Task.WhenAll(offerer.ConnectAsync(cts.Token), answerer.ConnectAsync(cts.Token));
        Assert.Equal(DtlsRole.Server, offerer.DtlsRole);
        Assert.Equal(DtlsRole.Client, answerer.DtlsRole);
        Assert.True(offerer.Ice.IsControlling);

        // Data channel seam: DTLS application data.
        await offerer.DataTransport.SendAsync("ping"u8.ToArray(), cts.Token);
        var buffer = new byte[2048];
        int n = await answerer.DataTransport.ReceiveAsync(buffer, cts.Token);
        Assert.Equal("ping", System.Text.Encoding.ASCII.GetString(buffer, 0, n));

        // Media: RTP one way, RTCP the other, each arriving decrypted and authenticated.
        var rtp = Srtp.SrtpContextTests.Rtp(42, ssrc: 7);
        await offerer.SendRtpAsync(rtp, cts.Token);
        var got = await answerer.ReceiveAsync(cts.Token);
        Assert.False(got!.Value.IsRtcp);
        Assert.Equal(rtp, got.Value.Data);

        var pli = new byte[12];
        pli[0] = 0x81; pli[1] = 206; pli[3] = 2; // PSFB, FMT 1 (PLI)
        BinaryPrimitives.WriteUInt32BigEndian(pli.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt32BigEndian(pli.AsSpan(8), 7);
        await answerer.SendRtcpAsync(pli, cts.Token);
        var gotRtcp = await offerer.ReceiveAsync(cts.Token);
        Assert.True(gotRtcp!.Value.IsRtcp);
        Assert.Equal(pli, gotRtcp.Value.Data);
        Assert.Equal(0, offerer.ReceiveCounts.Rejected);
    }

    [Fact]
    public async Task Dropped_peer_is_reported_disconnected_then_failed_and_readers_end()
    {
        var ice = new IceAgentOptions
        {
            ConsentInterval = TimeSpan.FromMilliseconds(200),
            DisconnectedAfter = TimeSpan.FromSeconds(1.2),
            ConsentTimeout = TimeSpan.FromSeconds(3),
        };
        await using var offerer = new RtcPeerConnection(new RtcConfiguration { Ice = ice });
        var answerer = new RtcPeerConnection(new RtcConfiguration { Ice = ice });
        var offer = offerer.CreateOffer();
        offerer.SetLocalDescription(RtcSdpType.Offer, offer);
        answerer.SetRemoteDescription(RtcSdpType.Offer, offer);
        var answer = answerer.CreateAnswer();
        answerer.SetLocalDescription(RtcSdpType.Answer, answer);
        offerer.SetRemoteDescription(RtcSdpType.Answer, answer);
        using var cts = new CancellationTokenSource(Timeout);
        await Task.WhenAll(offerer.ConnectAsync(cts.Token), answerer.ConnectAsync(cts.Token));

        var states = new System.Collections.Concurrent.ConcurrentQueue<RtcPeerConnectionState>();
        offerer.StateChanged += states.Enqueue;
        var dataReader = offerer.DataTransport.ReceiveAsync(new byte[2048], cts.Token).AsTask();
        var mediaReader = offerer.ReceiveAsync(cts.Token).AsTask();

        // The peer vanishes without a goodbye (its process died): no DTLS close_notify, no ICE.
        await answerer.Ice.DisposeAsync();

        Assert.Null(await mediaReader.WaitAsync(cts.Token));
        Assert.Equal(-1, await dataReader.WaitAsync(cts.Token));
        Assert.Equal([RtcPeerConnectionState.Disconnected, RtcPeerConnectionState.Failed], states);
        Assert.IsType<IceException>(offerer.Failure);
        await answerer.DisposeAsync();
    }

    [Fact]
    public async Task Peer_closing_is_seen_at_once_through_close_notify()
    {
        await using var offerer = new RtcPeerConnection();
        var answerer = new RtcPeerConnection();
        var offer = offerer.CreateOffer();
        offerer.SetLocalDescription(RtcSdpType.Offer, offer);
        answerer.SetRemoteDescription(RtcSdpType.Offer, offer);
        var answer = answerer.CreateAnswer();
        answerer.SetLocalDescription(RtcSdpType.Answer, answer);
        offerer.SetRemoteDescription(RtcSdpType.Answer, answer);
        using var cts = new CancellationTokenSource(Timeout);
        await Task.WhenAll(offerer.ConnectAsync(cts.Token), answerer.ConnectAsync(cts.Token));

        var started = DateTime.UtcNow;
        await answerer.DisposeAsync();
        Assert.Null(await offerer.ReceiveAsync(cts.Token));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(3), "took until consent expiry");
        Assert.Equal(RtcPeerConnectionState.Failed, offerer.State);
        var closed = Assert.IsType<DtlsClosedException>(offerer.Failure);
        Assert.Contains("close_notify", closed.Message);
    }

    [Fact]
    public async Task Answering_an_ice_lite_offer_makes_us_controlling()
    {
        await using var offerer = new RtcPeerConnection();
        await using var answerer = new RtcPeerConnection();
        var offer = offerer.CreateOffer();
        offer.Attributes.Add(new SdpAttribute("ice-lite", null));
        answerer.SetRemoteDescription(RtcSdpType.Offer, offer);
        answerer.SetLocalDescription(RtcSdpType.Answer, answerer.CreateAnswer());
        Assert.True(answerer.Ice.IsControlling);

        await using var plain = new RtcPeerConnection();
        plain.SetRemoteDescription(RtcSdpType.Offer, offerer.CreateOffer());
        plain.SetLocalDescription(RtcSdpType.Answer, plain.CreateAnswer());
        Assert.False(plain.Ice.IsControlling);
    }

    [Fact]
    public async Task Answer_rejects_codecs_it_cannot_handle_with_port_zero()
    {
        const string offerText =
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE a v\r\n" +
            "m=audio 9 UDP/TLS/RTP/SAVPF 9\r\na=mid:a\r\na=rtpmap:9 G722/8000\r\na=ice-ufrag:uf\r\na=ice-pwd:0123456789abcdef012345\r\n" +
            "a=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\na=rtcp-mux\r\n" +
            "m=video 9 UDP/TLS/RTP/SAVPF 98 96\r\na=mid:v\r\na=rtpmap:98 VP9/90000\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\n" +
            "a=ice-ufrag:uf\r\na=ice-pwd:0123456789abcdef012345\r\na=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\na=rtcp-mux\r\na=sendonly\r\n";
        await using var pc = new RtcPeerConnection();
        pc.SetRemoteDescription(RtcSdpType.Offer, SessionDescription.Parse(offerText));
        var answer = pc.CreateAnswer();
        Assert.Equal(0, answer.Media[0].Port);
        Assert.NotEqual(0, answer.Media[1].Port);
        Assert.Equal(["96"], answer.Media[1].Formats);
        Assert.Equal("recvonly", answer.Media[1].Direction);
        Assert.Equal(["nack pli"], answer.Media[1].RtcpFeedback(96));
        Assert.Equal(["v"], answer.BundleGroup);
    }

    [Fact]
    public async Task Unreachable_peer_fails_within_the_ice_timeout()
    {
        var config = new RtcConfiguration { Ice = new IceAgentOptions { ConnectTimeout = TimeSpan.FromSeconds(1.5) } };
        await using var offerer = new RtcPeerConnection(config);
        await using var ghost = new RtcPeerConnection();
        var offer = offerer.CreateOffer();
        offerer.SetLocalDescription(RtcSdpType.Offer, offer);
        ghost.SetRemoteDescription(RtcSdpType.Offer, offer);
        var answer = WithoutCandidates(ghost.CreateAnswer());
        // A candidate nobody listens on.
        answer.Media[0].Add("candidate", "1 1 udp 2130706431 127.0.0.1 9 typ host");
        offerer.SetRemoteDescription(RtcSdpType.Answer, answer);
        using var cts = new CancellationTokenSource(Timeout);
        await Assert.ThrowsAsync<IceException>(() => offerer.ConnectAsync(cts.Token));
        Assert.Equal(RtcPeerConnectionState.Failed, offerer.State);
    }
}
