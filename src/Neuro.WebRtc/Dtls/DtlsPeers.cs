using Neuro.WebRtc.Sdp;
using Neuro.WebRtc.Srtp;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace Neuro.WebRtc.Dtls;

/// <summary>What both DTLS roles share: our credentials, the fingerprint the SDP promised, and the SRTP result.</summary>
internal sealed class DtlsSrtpState(DtlsCertificate certificate, CertificateFingerprint expectedRemote, int handshakeTimeoutMillis)
{
    /// <summary>Our preference order; aiortc offers only AES_CM, Chromium both.</summary>
    public static readonly int[] SupportedProfiles = [SrtpProtectionProfile.SRTP_AEAD_AES_128_GCM, SrtpProtectionProfile.SRTP_AES128_CM_HMAC_SHA1_80];

    public static readonly int[] CipherSuites =
    [
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
    ];

    public DtlsCertificate Certificate { get; } = certificate;
    public CertificateFingerprint ExpectedRemote { get; } = expectedRemote;
    public int HandshakeTimeoutMillis { get; } = handshakeTimeoutMillis;
    public int SelectedProfile { get; set; } = -1;
    public byte[]? KeyingMaterial { get; set; }
    public CertificateFingerprint? RemoteFingerprint { get; set; }
    public string? FailureReason { get; set; }

    /// <summary>The last alert the peer sent (close_notify when it closed cleanly), for telling why the association ended.</summary>
    public short? PeerAlert { get; set; }

    public TlsCredentialedSigner Signer(TlsContext context, BcTlsCrypto crypto)
    {
        var tlsCertificate = new Certificate([crypto.CreateCertificate(Certificate.Der)]);
        return new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(context), crypto, Certificate.PrivateKey, tlsCertificate,
            SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa));
    }

    /// <summary>The one check that authenticates the peer in WebRTC: its certificate hashes to the SDP fingerprint.</summary>
    public void VerifyPeer(Certificate? peer)
    {
        if (peer is null || peer.IsEmpty)
        {
            FailureReason = "the peer sent no certificate";
            throw new TlsFatalAlert(AlertDescription.bad_certificate);
        }
        var actual = DtlsCertificate.FingerprintOf(peer.GetCertificateAt(0).GetEncoded());
        RemoteFingerprint = actual;
        if (!actual.Matches(ExpectedRemote))
        {
            FailureReason = $"the peer's certificate fingerprint {actual} does not match the SDP's {ExpectedRemote}";
            throw new TlsFatalAlert(AlertDescription.bad_certificate);
        }
    }

    public void ExportKeys(TlsContext context)
    {
        var profile = SrtpProfile.FromDtlsId(SelectedProfile)
            ?? throw new TlsFatalAlert(AlertDescription.handshake_failure);
        KeyingMaterial = context.ExportKeyingMaterial(ExporterLabel.dtls_srtp, null, 2 * (profile.MasterKeyLength + profile.MasterSaltLength));
    }
}

internal sealed class DtlsSrtpClient(BcTlsCrypto crypto, DtlsSrtpState state) : DefaultTlsClient(crypto)
{
    public override void NotifyAlertReceived(short alertLevel, short alertDescription) => state.PeerAlert = alertDescription;

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

    protected override int[] GetSupportedCipherSuites() => DtlsSrtpState.CipherSuites;

    public override int GetHandshakeTimeoutMillis() => state.HandshakeTimeoutMillis;

    public override IDictionary<int, byte[]> GetClientExtensions()
    {
        var extensions = base.GetClientExtensions() ?? new Dictionary<int, byte[]>();
        TlsSrtpUtilities.AddUseSrtpExtension(extensions, new UseSrtpData(DtlsSrtpState.SupportedProfiles, TlsUtilities.EmptyBytes));
        return extensions;
    }

    public override void ProcessServerExtensions(IDictionary<int, byte[]> serverExtensions)
    {
        base.ProcessServerExtensions(serverExtensions);
        UseSrtpData? data = TlsSrtpUtilities.GetUseSrtpExtension(serverExtensions);
        // RFC 5764 §4.1.3: the server picks exactly one of the profiles we offered.
        if (data is null || data.ProtectionProfiles.Length != 1 || !DtlsSrtpState.SupportedProfiles.Contains(data.ProtectionProfiles[0]))
        {
            state.FailureReason = "the peer did not agree on an SRTP protection profile (use_srtp)";
            throw new TlsFatalAlert(AlertDescription.illegal_parameter);
        }
        state.SelectedProfile = data.ProtectionProfiles[0];
    }

    public override TlsAuthentication GetAuthentication() => new Authentication(this, state);

    public override void NotifyHandshakeComplete()
    {
        base.NotifyHandshakeComplete();
        state.ExportKeys(m_context);
    }

    private TlsContext Context => m_context;

    private sealed class Authentication(DtlsSrtpClient client, DtlsSrtpState state) : TlsAuthentication
    {
        public void NotifyServerCertificate(TlsServerCertificate serverCertificate) => state.VerifyPeer(serverCertificate.Certificate);

        public TlsCredentials GetClientCredentials(CertificateRequest certificateRequest) =>
            state.Signer(client.Context, (BcTlsCrypto)client.Crypto);
    }
}

internal sealed class DtlsSrtpServer(BcTlsCrypto crypto, DtlsSrtpState state) : DefaultTlsServer(crypto)
{
    public override void NotifyAlertReceived(short alertLevel, short alertDescription) => state.PeerAlert = alertDescription;

    private int _profile = -1;

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

    protected override int[] GetSupportedCipherSuites() => DtlsSrtpState.CipherSuites;

    public override int GetHandshakeTimeoutMillis() => state.HandshakeTimeoutMillis;

    protected override TlsCredentialedSigner GetECDsaSignerCredentials() => state.Signer(m_context, (BcTlsCrypto)Crypto);

    // WebRTC authenticates both ends, so the client must send its certificate too.
    public override CertificateRequest GetCertificateRequest() =>
        new([ClientCertificateType.ecdsa_sign, ClientCertificateType.rsa_sign],
            [
                SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa),
                SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha384, SignatureAlgorithm.ecdsa),
                SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha256, SignatureAlgorithm.rsa),
                SignatureAndHashAlgorithm.rsa_pss_rsae_sha256,
            ],
            null);

    public override void NotifyClientCertificate(Certificate clientCertificate) => state.VerifyPeer(clientCertificate);

    public override void ProcessClientExtensions(IDictionary<int, byte[]> clientExtensions)
    {
        base.ProcessClientExtensions(clientExtensions);
        UseSrtpData? data = TlsSrtpUtilities.GetUseSrtpExtension(clientExtensions);
        int[] offered = data?.ProtectionProfiles ?? [];
        _profile = DtlsSrtpState.SupportedProfiles.FirstOrDefault(p => offered.Contains(p), -1);
        if (_profile < 0)
        {
            state.FailureReason = "the peer offered no SRTP protection profile we support (use_srtp)";
            throw new TlsFatalAlert(AlertDescription.handshake_failure);
        }
        state.SelectedProfile = _profile;
    }

    public override IDictionary<int, byte[]> GetServerExtensions()
    {
        var extensions = base.GetServerExtensions() ?? new Dictionary<int, byte[]>();
        TlsSrtpUtilities.AddUseSrtpExtension(extensions, new UseSrtpData([_profile], TlsUtilities.EmptyBytes));
        return extensions;
    }

    public override void NotifyHandshakeComplete()
    {
        base.NotifyHandshakeComplete();
        state.ExportKeys(m_context);
    }
}
