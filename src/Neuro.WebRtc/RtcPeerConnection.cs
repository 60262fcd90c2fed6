using System.Globalization;
using System.Security.Cryptography;
using System.Threading.Channels;
using Neuro.WebRtc.Dtls;
using Neuro.WebRtc.Ice;
using Neuro.WebRtc.Sdp;
using Neuro.WebRtc.Srtp;

namespace Neuro.WebRtc;

/// <summary>As in the W3C API: <see cref="Disconnected"/> while ICE consent is overdue, possibly back to <see cref="Connected"/>.</summary>
public enum RtcPeerConnectionState { New, Connecting, Connected, Disconnected, Failed, Closed }

public enum RtcSdpType { Offer, Answer }

/// <summary>What a peer connection negotiates: which m-sections it offers and in which direction.</summary>
public sealed class RtcConfiguration
{
    public IceAgentOptions Ice { get; init; } = new();
    public TimeSpan DtlsTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Null: a fresh ECDSA P-256 certificate per connection.</summary>
    public DtlsCertificate? Certificate { get; init; }

    /// <summary>Offer a VP8 video section (PT 96) with this direction, or null for none.</summary>
    public string? OfferVideo { get; init; } = "recvonly";

    /// <summary>Offer an Opus audio section (PT 111) with this direction, or null for none.</summary>
    public string? OfferAudio { get; init; }

    public bool OfferDataChannel { get; init; } = true;

    /// <summary>
    /// The DTLS role we take when answering: client (<c>a=setup:active</c>, RFC 8842's recommendation) or server
    /// (<c>passive</c>, what Neko's server answers with). The server picks the SRTP profile.
    /// </summary>
    public DtlsRole AnswerDtlsRole { get; init; } = DtlsRole.Client;
}

/// <summary>An RTP or RTCP packet after SRTP/SRTCP unprotection.</summary>
public readonly record struct RtcReceivedPacket(byte[] Data, bool IsRtcp);

/// <summary>
/// Ties SDP offer/answer, ICE, DTLS and SRTP together for one BUNDLEd transport (JSEP, RFC 8829). SCTP gets
/// <see cref="DataTransport"/>; media gets <see cref="SendRtpAsync"/> and <see cref="ReceiveAsync"/> with plain
/// RTP/RTCP bytes, protection and unprotection happening here.
/// </summary>
public sealed class RtcPeerConnection : IAsyncDisposable
{
    public const int VideoPayloadType = 96;
    public const int AudioPayloadType = 111;

    private readonly RtcConfiguration _configuration;
    private readonly IceAgent _ice;
    private readonly DtlsCertificate _certificate;
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Channel<RtcReceivedPacket> _received = Channel.CreateBounded<RtcReceivedPacket>(new BoundedChannelOptions(2048) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly object _gate = new();
    // SRTP contexts are not thread-safe: senders share one lock; the receive context belongs to the receive loop alone.
    private readonly object _sendGate = new();
    private readonly long _sessionId = RandomNumberGenerator.GetInt32(int.MaxValue);
    private SessionDescription? _local;
    private SessionDescription? _remote;
    private RtcSdpType? _localType;
    private string? _bundleMid;
    private DtlsSession? _dtls;
    private SrtpContext? _sendContext;
    private SrtpContext? _receiveContext;
    private Task? _run;
    private long _rtpReceived, _rtcpReceived, _rejected;

    public RtcPeerConnection(RtcConfiguration? configuration = null)
    {
        _configuration = configuration ?? new RtcConfiguration();
        _certificate = _configuration.Certificate ?? DtlsCertificate.Generate();
        _ice = new IceAgent(_configuration.Ice);
        _ice.LocalCandidateGathered += c => LocalCandidate?.Invoke(c);
        _ice.StateChanged += s =>
        {
            switch (s)
            {
                case IceConnectionState.Failed: Fail(new IceException(_ice.FailureReason ?? "ICE failed")); break;
                case IceConnectionState.Disconnected when State == RtcPeerConnectionState.Connected: SetState(RtcPeerConnectionState.Disconnected); break;
                case IceConnectionState.Connected when State == RtcPeerConnectionState.Disconnected: SetState(RtcPeerConnectionState.Connected); break;
            }
        };
    }

    /// <summary>SSRCs our media sender must use; they are announced (a=ssrc, a=msid) in sections we send on.</summary>
    public uint LocalVideoSsrc { get; } = RandomSsrc();
    public uint LocalAudioSsrc { get; } = RandomSsrc();
    public string CName { get; } = Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant();

    public RtcPeerConnectionState State { get; private set; } = RtcPeerConnectionState.New;
    public Exception? Failure { get; private set; }
    public CertificateFingerprint LocalFingerprint => _certificate.Fingerprint;

    /// <summary>Trickle ICE: each local candidate as it is gathered, to send to the peer (with mid <see cref="BundleMid"/>).</summary>
    public event Action<IceCandidate>? LocalCandidate;
    public event Action<RtcPeerConnectionState>? StateChanged;

    /// <summary>The mid whose transport everything is bundled on.</summary>
    public string? BundleMid => _bundleMid;

    /// <summary>DTLS application data, for SCTP. Available once <see cref="ConnectAsync"/> completed.</summary>
    public IDatagramTransport DataTransport => _dtls ?? throw new InvalidOperationException("not connected");

    public SrtpKeys SrtpKeys => _dtls?.SrtpKeys ?? throw new InvalidOperationException("not connected");
    public DtlsRole? DtlsRole { get; private set; }
    public IceAgent Ice => _ice;

    /// <summary>Packets that authenticated, and packets dropped (bad tag, replay, malformed).</summary>
    public (long Rtp, long Rtcp, long Rejected) ReceiveCounts => (Interlocked.Read(ref _rtpReceived), Interlocked.Read(ref _rtcpReceived), Interlocked.Read(ref _rejected));

    public SessionDescription CreateOffer()
    {
        _ice.Gather();
        var sd = NewDescription();
        var mids = new List<string>();
        if (_configuration.OfferVideo is { } videoDirection)
        {
            var m = NewMedia(sd, "video", "UDP/TLS/RTP/SAVPF", [VideoPayloadType.ToString(CultureInfo.InvariantCulture)], mids.Count.ToString(CultureInfo.InvariantCulture), "actpass");
            m.Add(videoDirection);
            AnnounceSender(m, videoDirection, LocalVideoSsrc);
            m.Add("rtcp-mux");
            m.Add("rtpmap", $"{VideoPayloadType} VP8/90000");
            m.Add("rtcp-fb", $"{VideoPayloadType} nack");
            m.Add("rtcp-fb", $"{VideoPayloadType} nack pli");
            m.Add("rtcp-fb", $"{VideoPayloadType} ccm fir");
            mids.Add(m.Mid!);
        }
        if (_configuration.OfferAudio is { } audioDirection)
        {
            var m = NewMedia(sd, "audio", "UDP/TLS/RTP/SAVPF", [AudioPayloadType.ToString(CultureInfo.InvariantCulture)], mids.Count.ToString(CultureInfo.InvariantCulture), "actpass");
            m.Add(audioDirection);
            AnnounceSender(m, audioDirection, LocalAudioSsrc);
            m.Add("rtcp-mux");
            m.Add("rtpmap", $"{AudioPayloadType} opus/48000/2");
            m.Add("fmtp", $"{AudioPayloadType} minptime=10;useinbandfec=1");
            mids.Add(m.Mid!);
        }
        if (_configuration.OfferDataChannel)
        {
            var m = NewMedia(sd, "application", "UDP/DTLS/SCTP", ["webrtc-datachannel"], mids.Count.ToString(CultureInfo.InvariantCulture), "actpass");
            m.Add("sctp-port", "5000");
            m.Add("max-message-size", "262144");
            mids.Add(m.Mid!);
        }
        if (mids.Count == 0) throw new InvalidOperationException("nothing to offer");
        sd.Attributes.Insert(0, new SdpAttribute("group", "BUNDLE " + string.Join(' ', mids)));
        AddCandidates(sd);
        return sd;
    }

    /// <summary>
    /// Answers the remote offer: VP8 video, Opus audio and the data channel are accepted (with the offer's payload
    /// types), anything else is rejected with port 0. Our DTLS role is <see cref="RtcConfiguration.AnswerDtlsRole"/>.
    /// </summary>
    public SessionDescription CreateAnswer()
    {
        var offer = _remote ?? throw new InvalidOperationException("set the remote offer first");
        string setup = _configuration.AnswerDtlsRole == Dtls.DtlsRole.Client ? "active" : "passive";
        _ice.Gather();
        var sd = NewDescription();
        var accepted = new List<string>();
        foreach (var offered in offer.Media)
        {
            string mid = offered.Mid ?? accepted.Count.ToString(CultureInfo.InvariantCulture);
            MediaDescription m;
            if (offered.Kind == "application" && offered.Formats.Contains("webrtc-datachannel"))
            {
                m = NewMedia(sd, "application", offered.Protocol, ["webrtc-datachannel"], mid, setup);
                m.Add("sctp-port", "5000");
                m.Add("max-message-size", "262144");
            }
            else if (offered.Kind == "application" && offered.SctpPort is { } legacyPort && offered.Protocol == "DTLS/SCTP")
            {
                // The pre-RFC 8841 form (draft-ietf-mmusic-sctp-sdp-05) that aiortc 1.4 still offers: port as format plus sctpmap.
                string port = legacyPort.ToString(CultureInfo.InvariantCulture);
                m = NewMedia(sd, "application", offered.Protocol, [port], mid, setup);
                m.Add("sctpmap", $"{port} webrtc-datachannel 65535");
                m.Add("max-message-size", "262144");
            }
            else if (offered.Kind is "video" or "audio" && PickCodec(offered) is { } codec)
            {
                string pt = codec.PayloadType.ToString(CultureInfo.InvariantCulture);
                m = NewMedia(sd, offered.Kind, offered.Protocol, [pt], mid, setup);
                string direction = AnswerDirection(offered.Direction);
                m.Add(direction);
                AnnounceSender(m, direction, offered.Kind == "video" ? LocalVideoSsrc : LocalAudioSsrc);
                m.Add("rtcp-mux");
                m.Add("rtpmap", $"{pt} {codec.EncodingName}/{codec.ClockRate}" + (codec.Channels > 1 ? $"/{codec.Channels}" : ""));
                if (offered.Fmtp(codec.PayloadType) is { } fmtp) m.Add("fmtp", $"{pt} {fmtp}");
                foreach (var fb in offered.RtcpFeedback(codec.PayloadType).Where(f => f is "nack" or "nack pli" or "ccm fir")) m.Add("rtcp-fb", $"{pt} {fb}");
            }
            else
            {
                // Rejected: port 0 and the offered formats echoed back (RFC 8866 §5.14 needs at least one).
                // Some peers (aiortc) validate ICE and DTLS attributes on every section, rejected or not.
                var rejected = NewMedia(sd, offered.Kind, offered.Protocol, offered.Formats.Take(1), mid, setup);
                rejected.Port = 0;
                rejected.Add("inactive");
                continue;
            }
            accepted.Add(mid);
        }
        if (accepted.Count > 0) sd.Attributes.Insert(0, new SdpAttribute("group", "BUNDLE " + string.Join(' ', accepted)));
        AddCandidates(sd);
        return sd;
    }

    public void SetLocalDescription(RtcSdpType type, SessionDescription description)
    {
        lock (_gate)
        {
            _local = description;
            _localType = type;
        }
        MaybeStart();
    }

    /// <summary>
    /// Applies the peer's description: ICE credentials, candidates and the DTLS fingerprint of the BUNDLE tag section
    /// (RFC 8843: the first mid of the group carries the shared transport).
    /// </summary>
    public void SetRemoteDescription(RtcSdpType type, SessionDescription description)
    {
        var tag = BundleTag(description) ?? throw new ArgumentException("the description has no usable media section", nameof(description));
        string ufrag = description.IceUfrag(tag) ?? throw new ArgumentException("no a=ice-ufrag", nameof(description));
        string pwd = description.IcePwd(tag) ?? throw new ArgumentException("no a=ice-pwd", nameof(description));
        var fingerprint = description.Fingerprint(tag) ?? throw new ArgumentException("no a=fingerprint", nameof(description));
        if (!string.Equals(fingerprint.Algorithm, "sha-256", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"fingerprint algorithm {fingerprint.Algorithm} is not supported (sha-256 only)", nameof(description));
        if (type == RtcSdpType.Answer && description.Setup(tag) == SetupRole.ActPass)
            throw new ArgumentException("an answer must not say a=setup:actpass", nameof(description));
        lock (_gate)
        {
            _remote = description;
            _bundleMid = tag.Mid;
        }
        _ice.SetRemoteCredentials(ufrag, pwd);
        foreach (var c in tag.Candidates) _ice.AddRemoteCandidate(c);
        if (tag.EndOfCandidates) _ice.SetRemoteEndOfCandidates();
        MaybeStart();
    }

    /// <summary>
    /// A trickled remote candidate; null means end-of-candidates. A candidate for a section with other ICE credentials
    /// than the BUNDLE tag's belongs to a transport BUNDLE discards (aiortc offers one per section), so it is ignored.
    /// </summary>
    public void AddRemoteCandidate(IceCandidate? candidate, string? mid = null)
    {
        SessionDescription? remote;
        lock (_gate) remote = _remote;
        if (mid is not null && remote is not null && mid != _bundleMid
            && remote.Media.FirstOrDefault(m => m.Mid == mid) is { } section
            && remote.IceUfrag(section) != remote.IceUfrag(remote.Media.First(m => m.Mid == _bundleMid))) return;
        if (candidate is null) _ice.SetRemoteEndOfCandidates();
        else _ice.AddRemoteCandidate(candidate);
    }

    /// <summary>Completes when ICE and DTLS are up; throws <see cref="IceException"/> or <see cref="DtlsHandshakeException"/> otherwise.</summary>
    public Task ConnectAsync(CancellationToken cancellationToken) => _connected.Task.WaitAsync(cancellationToken);

    public async ValueTask SendRtpAsync(ReadOnlyMemory<byte> rtp, CancellationToken cancellationToken)
    {
        byte[] packet;
        lock (_sendGate) packet = (_sendContext ?? throw new InvalidOperationException("not connected")).ProtectRtp(rtp.Span);
        await _ice.SendAsync(packet, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask SendRtcpAsync(ReadOnlyMemory<byte> rtcp, CancellationToken cancellationToken)
    {
        byte[] packet;
        lock (_sendGate) packet = (_sendContext ?? throw new InvalidOperationException("not connected")).ProtectRtcp(rtcp.Span);
        await _ice.SendAsync(packet, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The next authenticated, decrypted RTP or RTCP packet; null once the connection is closed or failed.</summary>
    public async ValueTask<RtcReceivedPacket?> ReceiveAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _received.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    private void MaybeStart()
    {
        bool controlling;
        lock (_gate)
        {
            if (_run is not null || _local is null || _remote is null) return;
            // RFC 8445 §6.1.1: between full agents the offerer controls; against an ICE-lite peer (a Neko server with
            // NEKO_WEBRTC_ICELITE) we always do, as a lite agent never sends checks or nominates.
            controlling = _localType == RtcSdpType.Offer || _remote.HasAttribute("ice-lite") || _remote.Media.Any(m => m.HasAttribute("ice-lite"));
            // Started here, not on the task: the peer's checks may already be arriving and must meet our real role.
            _ice.Start(controlling);
            _run = Task.Run(RunAsync);
        }
        SetState(RtcPeerConnectionState.Connecting);
    }

    private async Task RunAsync()
    {
        try
        {
            await _ice.WaitConnectedAsync(_closing.Token).ConfigureAwait(false);
            var role = DecideDtlsRole();
            DtlsRole = role;
            var tag = BundleTag(_remote!)!;
            var dtls = await DtlsSession.HandshakeAsync(_ice, role, _certificate, _remote!.Fingerprint(tag)!, _configuration.DtlsTimeout, _closing.Token)
                .ConfigureAwait(false);
            var keys = dtls.SrtpKeys;
            _receiveContext = new SrtpContext(keys.Profile, keys.RemoteMasterKey, keys.RemoteMasterSalt);
            lock (_sendGate)
            {
                _dtls = dtls;
                _sendContext = new SrtpContext(keys.Profile, keys.LocalMasterKey, keys.LocalMasterSalt);
            }
            SetState(RtcPeerConnectionState.Connected);
            _connected.TrySetResult();
            // A peer that closes (close_notify) or breaks DTLS ends this connection now, not when consent runs out.
            _ = dtls.Ended.ContinueWith(t =>
            {
                if (!_closing.IsCancellationRequested) Fail(new DtlsClosedException(t.Result));
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            await ReceiveLoopAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested)
        {
            _connected.TrySetException(new ObjectDisposedException(nameof(RtcPeerConnection)));
        }
        catch (ObjectDisposedException e)
        {
            _connected.TrySetException(e);
        }
        catch (Exception e)
        {
            Fail(e);
        }
        finally
        {
            _received.Writer.TryComplete();
        }
    }

    /// <summary>
    /// RFC 8842 §5: the answerer picks active or passive; an offerer with actpass learns its role from the answer.
    /// Active means DTLS client.
    /// </summary>
    private Dtls.DtlsRole DecideDtlsRole()
    {
        var localTag = _local!.Media.FirstOrDefault(m => m.Port != 0) ?? _local.Media[0];
        var local = _local.Setup(localTag);
        var remote = _remote!.Setup(BundleTag(_remote)!);
        if (local == SetupRole.Active) return Dtls.DtlsRole.Client;
        if (local == SetupRole.Passive) return Dtls.DtlsRole.Server;
        return remote == SetupRole.Active ? Dtls.DtlsRole.Server : Dtls.DtlsRole.Client;
    }

    private async Task ReceiveLoopAsync()
    {
        var reader = _ice.RtpPackets;
        while (await reader.WaitToReadAsync(_closing.Token).ConfigureAwait(false))
        {
            while (reader.TryRead(out var packet))
            {
                byte[]? plain;
                SrtpStatus status;
                bool rtcp = SrtpContext.IsRtcp(packet.Data);
                status = rtcp ? _receiveContext!.UnprotectRtcp(packet.Data, out plain) : _receiveContext!.UnprotectRtp(packet.Data, out plain);
                if (status != SrtpStatus.Ok)
                {
                    Interlocked.Increment(ref _rejected);
                    continue;
                }
                Interlocked.Increment(ref rtcp ? ref _rtcpReceived : ref _rtpReceived);
                _received.Writer.TryWrite(new RtcReceivedPacket(plain!, rtcp));
            }
        }
    }

    /// <summary>
    /// RFC 8830 msid and RFC 5576 ssrc/cname for a section we send on, so that receivers that do not route by
    /// payload type alone (Chromium with several streams) can bind our SSRC to the track.
    /// </summary>
    private void AnnounceSender(MediaDescription m, string direction, uint ssrc)
    {
        if (direction is not ("sendrecv" or "sendonly")) return;
        string ssrcText = ssrc.ToString(CultureInfo.InvariantCulture);
        m.Add("msid", $"{CName} {m.Kind}-{ssrcText}");
        m.Add("ssrc", $"{ssrcText} cname:{CName}");
    }

    private static uint RandomSsrc() => (uint)RandomNumberGenerator.GetInt32(1, int.MaxValue);

    private static MediaDescription? BundleTag(SessionDescription sd)
    {
        var group = sd.BundleGroup;
        if (group.Count > 0 && sd.Media.FirstOrDefault(m => m.Mid == group[0] && m.Port != 0) is { } tagged) return tagged;
        return sd.Media.FirstOrDefault(m => m.Port != 0);
    }

    private static RtpMap? PickCodec(MediaDescription offered)
    {
        string wanted = offered.Kind == "video" ? "VP8" : "opus";
        return offered.RtpMaps.FirstOrDefault(m => string.Equals(m.EncodingName, wanted, StringComparison.OrdinalIgnoreCase)
            && offered.Formats.Contains(m.PayloadType.ToString(CultureInfo.InvariantCulture)));
    }

    private static string AnswerDirection(string? offered) => offered switch
    {
        "sendonly" => "recvonly",
        "recvonly" => "sendonly",
        "inactive" => "inactive",
        _ => "sendrecv",
    };

    private SessionDescription NewDescription()
    {
        var sd = new SessionDescription { Origin = $"- {_sessionId} 2 IN IP4 127.0.0.1" };
        sd.Add("msid-semantic", " WMS");
        return sd;
    }

    private MediaDescription NewMedia(SessionDescription sd, string kind, string protocol, IEnumerable<string> formats, string mid, string setup)
    {
        var m = new MediaDescription(kind, 9, protocol, formats) { Connection = "IN IP4 0.0.0.0" };
        m.Add("mid", mid);
        m.Add("ice-ufrag", _ice.LocalUfrag);
        m.Add("ice-pwd", _ice.LocalPwd);
        m.Add("ice-options", "trickle");
        m.Add("fingerprint", _certificate.Fingerprint.ToString());
        m.Add("setup", setup);
        sd.Media.Add(m);
        return m;
    }

    /// <summary>Host candidates are gathered synchronously, so the first section can carry them all (no trickle needed).</summary>
    private void AddCandidates(SessionDescription sd)
    {
        var first = sd.Media.FirstOrDefault(m => m.Port != 0);
        if (first is null) return;
        var candidates = _ice.LocalCandidates;
        if (candidates.Count > 0)
        {
            first.Port = candidates[0].Port;
            first.Connection = "IN IP4 " + candidates[0].Address;
        }
        foreach (var c in candidates) first.Add("candidate", c.ToSdpValue());
        first.Add("end-of-candidates");
    }

    private void Fail(Exception e)
    {
        lock (_gate)
        {
            if (State is RtcPeerConnectionState.Failed or RtcPeerConnectionState.Closed) return;
            Failure = e;
        }
        SetState(RtcPeerConnectionState.Failed);
        _connected.TrySetException(e);
        _received.Writer.TryComplete();
    }

    private void SetState(RtcPeerConnectionState state)
    {
        lock (_gate)
        {
            if (State == state || State == RtcPeerConnectionState.Closed) return;
            if (state == RtcPeerConnectionState.Connecting && State != RtcPeerConnectionState.New) return; // RunAsync got further first
            State = state;
        }
        StateChanged?.Invoke(state);
    }

    public async ValueTask DisposeAsync()
    {
        if (_closing.IsCancellationRequested) return;
        SetState(RtcPeerConnectionState.Closed);
        _closing.Cancel();
        if (_dtls is not null) await _dtls.DisposeAsync().ConfigureAwait(false);
        await _ice.DisposeAsync().ConfigureAwait(false);
        if (_run is not null)
        {
            try { await _run.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); } catch (Exception) { }
        }
        _connected.TrySetException(new ObjectDisposedException(nameof(RtcPeerConnection)));
        _ = _connected.Task.Exception; // observed: nobody may be awaiting it
        lock (_sendGate) _sendContext?.Dispose();
        _receiveContext?.Dispose(); // the receive loop has ended (or was given up on) by now
        _closing.Dispose();
    }
}
