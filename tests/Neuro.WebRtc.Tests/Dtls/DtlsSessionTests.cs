using Neuro.WebRtc.Dtls;
using Neuro.WebRtc.Sdp;
using Neuro.WebRtc.Srtp;
using Neuro.WebRtc.Tests.Ice;

namespace Neuro.WebRtc.Tests.Dtls;

public sealed class DtlsSessionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(8);

    [Fact]
    public void Certificate_fingerprint_is_sha256_of_der()
    {
        var cert = DtlsCertificate.Generate();
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(cert.Der), cert.Fingerprint.Value);
        Assert.True(CertificateFingerprint.TryParse(cert.Fingerprint.ToString(), out var parsed));
        Assert.True(parsed!.Matches(cert.Fingerprint));
        Assert.NotEqual(cert.Fingerprint.Value, DtlsCertificate.Generate().Fingerprint.Value);
    }

    [Fact]
    public async Task Handshake_over_ice_agrees_on_srtp_keys_and_carries_datagrams()
    {
        var (a, b) = await IceAgentTests.ConnectAsync(true, false);
        await using var _ = a;
        await using var __ = b;
        var certA = DtlsCertificate.Generate();
        var certB = DtlsCertificate.Generate();
        using var cts = new CancellationTokenSource(Timeout);
        var client = DtlsSession.HandshakeAsync(a, DtlsRole.Client, certA, certB.Fingerprint, Timeout, cts.Token);
        var server = DtlsSession.HandshakeAsync(b, DtlsRole.Server, certB, certA.Fingerprint, Timeout, cts.Token);
        await using var c = await client;
        await using var s = await server;

        // Both ends prefer GCM, so that is what they agree on; keys are crosswise equal.
        Assert.Equal(SrtpProfile.AeadAes128Gcm, c.SrtpKeys.Profile);
        Assert.Equal(c.SrtpKeys.LocalMasterKey, s.SrtpKeys.RemoteMasterKey);
        Assert.Equal(c.SrtpKeys.LocalMasterSalt, s.SrtpKeys.RemoteMasterSalt);
        Assert.Equal(s.SrtpKeys.LocalMasterKey, c.SrtpKeys.RemoteMasterKey);
        Assert.NotEqual(c.SrtpKeys.LocalMasterKey, c.SrtpKeys.RemoteMasterKey);
        Assert.True(c.RemoteFingerprint.Matches(certB.Fingerprint));
        Assert.True(s.RemoteFingerprint.Matches(certA.Fingerprint));

        // Application data both ways, as SCTP will use it.
        var buffer = new byte[c.MaxDatagramSize];
        await c.SendAsync("hello server"u8.ToArray(), cts.Token);
        int n = await s.ReceiveAsync(buffer, cts.Token);
        Assert.Equal("hello server", System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        var big = new byte[1000];
        new Random(1).NextBytes(big);
        await s.SendAsync(big, cts.Token);
        n = await c.ReceiveAsync(buffer, cts.Token);
        Assert.Equal(big, buffer[..n]);

        // SRTP contexts built from the exported keys interoperate.
        using var tx = new SrtpContext(c.SrtpKeys.Profile, c.SrtpKeys.LocalMasterKey, c.SrtpKeys.LocalMasterSalt);
        using var rx = new SrtpContext(s.SrtpKeys.Profile, s.SrtpKeys.RemoteMasterKey, s.SrtpKeys.RemoteMasterSalt);
        Assert.Equal(SrtpStatus.Ok, rx.UnprotectRtp(tx.ProtectRtp(Srtp.SrtpContextTests.Rtp(1)), out byte[]? plain));
        Assert.Equal(Srtp.SrtpContextTests.Rtp(1), plain);

        // A full-size SCTP packet fits one datagram on a 1500-byte path (the seam's MaxDatagramSize contract).
        Assert.InRange(c.MaxDatagramSize, 1200, 1472);
        var full = new byte[c.MaxDatagramSize];
        await c.SendAsync(full, cts.Token);
        Assert.Equal(full.Length, await s.ReceiveAsync(buffer, cts.Token));
        await Assert.ThrowsAsync<ArgumentException>(() => c.SendAsync(new byte[c.MaxDatagramSize + 1], cts.Token).AsTask());

        // Closing one side ends the other's receive with -1 (close_notify); both then refuse to send, as the seam says.
        await c.DisposeAsync();
        n = await s.ReceiveAsync(buffer, cts.Token);
        Assert.Equal(-1, n);
        Assert.Equal("the peer closed the DTLS association (close_notify)", await s.Ended.WaitAsync(cts.Token));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => c.SendAsync(full, cts.Token).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => s.SendAsync(full, cts.Token).AsTask());
    }

    [Fact]
    public async Task Wrong_fingerprint_fails_both_sides_with_a_clear_error()
    {
        var (a, b) = await IceAgentTests.ConnectAsync(true, false);
        await using var _ = a;
        await using var __ = b;
        var certA = DtlsCertificate.Generate();
        var certB = DtlsCertificate.Generate();
        var impostor = DtlsCertificate.Generate();
        using var cts = new CancellationTokenSource(Timeout);
        var started = DateTime.UtcNow;
        // The client expects someone else's fingerprint.
        var client = DtlsSession.HandshakeAsync(a, DtlsRole.Client, certA, impostor.Fingerprint, TimeSpan.FromSeconds(4), cts.Token);
        var server = DtlsSession.HandshakeAsync(b, DtlsRole.Server, certB, certA.Fingerprint, TimeSpan.FromSeconds(4), cts.Token);
        var clientError = await Assert.ThrowsAsync<DtlsHandshakeException>(() => client);
        Assert.Contains("does not match the SDP", clientError.Message);
        await Assert.ThrowsAsync<DtlsHandshakeException>(() => server);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(6));
    }

    [Fact]
    public async Task Silent_peer_times_out_instead_of_hanging()
    {
        var (a, b) = await IceAgentTests.ConnectAsync(true, false);
        await using var _ = a;
        await using var __ = b;
        var cert = DtlsCertificate.Generate();
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<DtlsHandshakeException>(() =>
            DtlsSession.HandshakeAsync(a, DtlsRole.Client, cert, cert.Fingerprint, TimeSpan.FromSeconds(2), CancellationToken.None));
        Assert.InRange((DateTime.UtcNow - started).TotalSeconds, 1.5, 5);
        Assert.False(string.IsNullOrEmpty(error.Message));
    }
}
