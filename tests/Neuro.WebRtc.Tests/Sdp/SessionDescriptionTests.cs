using Neuro.WebRtc.Ice;
using Neuro.WebRtc.Sdp;

namespace Neuro.WebRtc.Tests.Sdp;

public sealed class SessionDescriptionTests
{
    // The shape Neko's pion server and aiortc send: BUNDLE, rtcp-mux, session-level nothing, per-media ICE and DTLS.
    internal const string ServerOffer =
        "v=0\r\n" +
        "o=- 3943519120 3943519120 IN IP4 0.0.0.0\r\n" +
        "s=-\r\n" +
        "t=0 0\r\n" +
        "a=group:BUNDLE 0 1 2\r\n" +
        "a=msid-semantic:WMS *\r\n" +
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n" +
        "c=IN IP4 0.0.0.0\r\n" +
        "a=sendonly\r\n" +
        "a=mid:0\r\n" +
        "a=rtcp-mux\r\n" +
        "a=rtpmap:96 VP8/90000\r\n" +
        "a=rtcp-fb:96 nack\r\n" +
        "a=rtcp-fb:96 nack pli\r\n" +
        "a=rtcp-fb:96 goog-remb\r\n" +
        "a=rtpmap:97 rtx/90000\r\n" +
        "a=fmtp:97 apt=96\r\n" +
        "a=ssrc:1234 cname:neko\r\n" +
        "a=ice-ufrag:Xy7Q\r\n" +
        "a=ice-pwd:Gh0stW3bRtcPassw0rd1234\r\n" +
        "a=fingerprint:sha-256 0B:A1:7E:5C:33:9F:10:44:AB:CD:EF:01:23:45:67:89:0B:A1:7E:5C:33:9F:10:44:AB:CD:EF:01:23:45:67:89\r\n" +
        "a=setup:actpass\r\n" +
        "a=candidate:1 1 udp 2130706431 127.0.0.1 59000 typ host\r\n" +
        "a=candidate:2 1 tcp 1694498815 127.0.0.1 56000 typ host tcptype passive\r\n" +
        "a=end-of-candidates\r\n" +
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
        "c=IN IP4 0.0.0.0\r\n" +
        "a=sendonly\r\n" +
        "a=mid:1\r\n" +
        "a=rtcp-mux\r\n" +
        "a=rtpmap:111 opus/48000/2\r\n" +
        "a=fmtp:111 minptime=10;useinbandfec=1;stereo=1\r\n" +
        "a=ice-ufrag:Xy7Q\r\n" +
        "a=ice-pwd:Gh0stW3bRtcPassw0rd1234\r\n" +
        "a=fingerprint:sha-256 0B:A1:7E:5C:33:9F:10:44:AB:CD:EF:01:23:45:67:89:0B:A1:7E:5C:33:9F:10:44:AB:CD:EF:01:23:45:67:89\r\n" +
        "a=setup:actpass\r\n" +
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
        "c=IN IP4 0.0.0.0\r\n" +
        "a=mid:2\r\n" +
        "a=sctp-port:5000\r\n" +
        "a=max-message-size:262144\r\n" +
        "a=ice-ufrag:Xy7Q\r\n" +
        "a=ice-pwd:Gh0stW3bRtcPassw0rd1234\r\n" +
        "a=fingerprint:sha-256 0B:A1:7E:5C:33:9F:10:44:AB:CD:EF:01:23:45:67:89:0B:A1:7E:5C:33:9F:10:44:AB:CD:EF:01:23:45:67:89\r\n" +
        "a=setup:actpass\r\n";

    [Fact]
    public void Parses_bundle_media_codecs_ice_and_dtls_attributes()
    {
        var sd = SessionDescription.Parse(ServerOffer);

        Assert.Equal(["0", "1", "2"], sd.BundleGroup);
        Assert.Equal(3, sd.Media.Count);

        var video = sd.Media[0];
        Assert.Equal("video", video.Kind);
        Assert.Equal("UDP/TLS/RTP/SAVPF", video.Protocol);
        Assert.Equal(["96", "97"], video.Formats);
        Assert.True(video.RtcpMux);
        Assert.Equal("sendonly", video.Direction);
        Assert.Contains(video.RtpMaps, m => m is { PayloadType: 96, EncodingName: "VP8", ClockRate: 90000, Channels: 1 });
        Assert.Equal(["nack", "nack pli", "goog-remb"], video.RtcpFeedback(96));
        Assert.Equal("apt=96", video.Fmtp(97));
        Assert.Equal("Xy7Q", sd.IceUfrag(video));
        Assert.Equal("Gh0stW3bRtcPassw0rd1234", sd.IcePwd(video));
        Assert.Equal(SetupRole.ActPass, sd.Setup(video));
        var fp = sd.Fingerprint(video)!;
        Assert.Equal("sha-256", fp.Algorithm);
        Assert.Equal(32, fp.Value.Length);
        Assert.Equal(0x0B, fp.Value[0]);
        Assert.True(video.EndOfCandidates);
        Assert.Equal([1234u], video.Ssrcs);

        var candidates = video.Candidates.ToList();
        Assert.Equal(2, candidates.Count);
        Assert.Equal(new IceCandidate("1", 1, "udp", 2130706431, "127.0.0.1", 59000, IceCandidateType.Host), candidates[0]);
        Assert.Equal("tcp", candidates[1].Transport);
        Assert.Equal("passive", candidates[1].TcpType);

        var audio = sd.Media[1];
        Assert.Contains(audio.RtpMaps, m => m is { PayloadType: 111, EncodingName: "opus", ClockRate: 48000, Channels: 2 });
        Assert.Equal("minptime=10;useinbandfec=1;stereo=1", audio.Fmtp(111));

        var data = sd.Media[2];
        Assert.Equal("application", data.Kind);
        Assert.Equal(["webrtc-datachannel"], data.Formats);
        Assert.Equal(5000, data.SctpPort);
        Assert.Equal(262144, data.MaxMessageSize);
    }

    [Fact]
    public void Round_trips_through_text()
    {
        var sd = SessionDescription.Parse(ServerOffer);
        string text = sd.ToString();
        var again = SessionDescription.Parse(text);
        Assert.Equal(text, again.ToString());
        Assert.Equal(ServerOffer, text);
    }

    [Fact]
    public void Session_level_ice_and_fingerprint_apply_to_every_media()
    {
        const string text = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nt=0 0\na=ice-ufrag:abcd\na=ice-pwd:0123456789012345678901\n" +
                            "a=fingerprint:sha-256 AA:BB\na=setup:passive\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=mid:data\n";
        var sd = SessionDescription.Parse(text);
        var m = sd.Media.Single();
        Assert.Equal("abcd", sd.IceUfrag(m));
        Assert.Equal(SetupRole.Passive, sd.Setup(m));
        Assert.Equal([0xAA, 0xBB], sd.Fingerprint(m)!.Value);
        Assert.Equal("data", m.Mid);
    }

    [Theory]
    [InlineData("candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.2 rport 46154 generation 0 ufrag EEtu network-cost 999")]
    [InlineData("3 1 UDP 2122252543 fd00::1 50123 typ host")]
    [InlineData("candidate:4 1 udp 2113937151 0b1f3c2a-1111-2222-3333-444455556666.local 54321 typ host")]
    public void Parses_trickled_candidates(string text)
    {
        Assert.True(IceCandidate.TryParse(text, out var c));
        Assert.Equal(1, c!.Component);
        Assert.Equal("udp", c.Transport);
        Assert.True(IceCandidate.TryParse(c.ToString(), out var again));
        Assert.Equal(c, again);
    }

    [Fact]
    public void Mdns_candidate_has_no_endpoint()
    {
        Assert.True(IceCandidate.TryParse("4 1 udp 2113937151 abc.local 54321 typ host", out var c));
        Assert.Null(c!.EndPoint);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("o=- 1 1 IN IP4 0.0.0.0\r\n", "v=0")]
    [InlineData("v=1\r\no=- 1 1 IN IP4 0.0.0.0\r\n", "v=0")]
    [InlineData("v=0\r\ns=-\r\n", "o=")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=video notaport UDP/TLS/RTP/SAVPF 96\r\n", "m=")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8\r\n", "rtpmap")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=candidate:1 1 udp x 1.2.3.4 5 typ host\r\n", "candidate")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\na=fingerprint:sha-256 ZZ:00\r\n", "fingerprint")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\na=setup:sometimes\r\n", "setup")]
    [InlineData("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nthis is not sdp\r\n", "<type>=<value>")]
    public void Malformed_sdp_is_a_typed_error(string text, string expected)
    {
        Assert.False(SessionDescription.TryParse(text, out var sd, out var error));
        Assert.Null(sd);
        Assert.Contains(expected, error!.Message);
        var thrown = Assert.Throws<SdpParseException>(() => SessionDescription.Parse(text));
        Assert.Equal(error, thrown.Error);
    }

    [Fact]
    public void Oversized_sdp_is_rejected_before_parsing()
    {
        string huge = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n" + string.Concat(Enumerable.Repeat("a=x\r\n", SessionDescription.MaxLength / 5 + 1));
        Assert.False(SessionDescription.TryParse(huge, out _, out var error));
        Assert.Contains("longer than", error!.Message);
    }
}
