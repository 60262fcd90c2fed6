using Neuro.WebRtc.Ice;

namespace Neuro.WebRtc.Tests.Ice;

public sealed class IceAgentTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    internal static async Task<(IceAgent A, IceAgent B)> ConnectAsync(bool aControlling, bool bControlling, IceAgentOptions? options = null)
    {
        var a = new IceAgent(options);
        var b = new IceAgent(options);
        a.Gather();
        b.Gather();
        a.SetRemoteCredentials(b.LocalUfrag, b.LocalPwd);
        b.SetRemoteCredentials(a.LocalUfrag, a.LocalPwd);
        foreach (var c in b.LocalCandidates) a.AddRemoteCandidate(c);
        foreach (var c in a.LocalCandidates) b.AddRemoteCandidate(c);
        a.Start(aControlling);
        b.Start(bControlling);
        using var cts = new CancellationTokenSource(Timeout);
        await Task.WhenAll(a.WaitConnectedAsync(cts.Token), b.WaitConnectedAsync(cts.Token));
        return (a, b);
    }

    [Fact]
    public async Task Two_agents_connect_over_loopback_and_select_each_other()
    {
        var (a, b) = await ConnectAsync(true, false);
        await using var _ = a;
        await using var __ = b;
        Assert.Equal(IceConnectionState.Connected, a.State);
        Assert.Equal(IceConnectionState.Connected, b.State);
        Assert.Equal(b.SelectedLocal, a.SelectedRemote);
        Assert.Equal(a.SelectedLocal, b.SelectedRemote);
        Assert.True(a.IsControlling);
        Assert.False(b.IsControlling);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Role_conflict_is_resolved_by_tie_breaker(bool bothControlling)
    {
        var (a, b) = await ConnectAsync(bothControlling, bothControlling);
        await using var _ = a;
        await using var __ = b;
        Assert.NotEqual(a.IsControlling, b.IsControlling);
        // The larger tie-breaker wins the controlling role (RFC 8445 §7.3.1.1).
        Assert.Equal(a.TieBreaker > b.TieBreaker, a.IsControlling);
    }

    [Fact]
    public async Task Checks_that_arrive_before_start_do_not_flip_the_signaled_roles()
    {
        // The answerer starts first and its checks reach the offerer before the offerer knows it controls. With the
        // offerer's tie-breaker the smaller one, answering those early checks with 487 would hand the answerer control.
        var a = new IceAgent { TieBreaker = 1 };
        var b = new IceAgent { TieBreaker = ulong.MaxValue };
        await using var _ = a;
        await using var __ = b;
        a.Gather();
        b.Gather();
        a.SetRemoteCredentials(b.LocalUfrag, b.LocalPwd);
        b.SetRemoteCredentials(a.LocalUfrag, a.LocalPwd);
        foreach (var c in b.LocalCandidates) a.AddRemoteCandidate(c);
        foreach (var c in a.LocalCandidates) b.AddRemoteCandidate(c);
        b.Start(controlling: false);
        await Task.Delay(300);
        a.Start(controlling: true);
        using var cts = new CancellationTokenSource(Timeout);
        await Task.WhenAll(a.WaitConnectedAsync(cts.Token), b.WaitConnectedAsync(cts.Token));
        Assert.True(a.IsControlling);
        Assert.False(b.IsControlling);
    }

    [Fact]
    public async Task Ice_tcp_only_agents_connect_active_to_passive_and_carry_dtls()
    {
        var options = new IceAgentOptions { Udp = false, Tcp = true };
        var (a, b) = await ConnectAsync(true, false, options);
        await using var _ = a;
        await using var __ = b;
        Assert.True(a.SelectedIsTcp);
        Assert.True(b.SelectedIsTcp);
        Assert.All(a.LocalCandidates, c => Assert.Equal("tcp", c.Transport));
        Assert.Contains(a.LocalCandidates, c => c.TcpType == "passive");
        Assert.Contains(a.LocalCandidates, c => c is { TcpType: "active", Port: 9 });

        // DTLS runs over the framed TCP stream exactly as over UDP.
        var certA = Neuro.WebRtc.Dtls.DtlsCertificate.Generate();
        var certB = Neuro.WebRtc.Dtls.DtlsCertificate.Generate();
        using var cts = new CancellationTokenSource(Timeout);
        var client = Neuro.WebRtc.Dtls.DtlsSession.HandshakeAsync(a, Neuro.WebRtc.Dtls.DtlsRole.Client, certA, certB.Fingerprint, Timeout, cts.Token);
        var server = Neuro.WebRtc.Dtls.DtlsSession.HandshakeAsync(b, Neuro.WebRtc.Dtls.DtlsRole.Server, certB, certA.Fingerprint, Timeout, cts.Token);
        await using var c = await client;
        await using var s = await server;
        await c.SendAsync("over tcp"u8.ToArray(), cts.Token);
        var buffer = new byte[2048];
        int n = await s.ReceiveAsync(buffer, cts.Token);
        Assert.Equal("over tcp", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public async Task With_both_transports_udp_is_preferred()
    {
        var options = new IceAgentOptions { Udp = true, Tcp = true };
        var (a, b) = await ConnectAsync(true, false, options);
        await using var _ = a;
        await using var __ = b;
        Assert.False(a.SelectedIsTcp);
        Assert.False(b.SelectedIsTcp);
    }

    [Fact]
    public async Task Requests_are_answered_per_rfc_8489_success_401_and_420()
    {
        var agent = new IceAgent();
        await using var _ = agent;
        agent.Gather();
        agent.SetRemoteCredentials("peer", "peer-password-0123456789");
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        socket.ReceiveTimeout = 5000;
        var target = agent.LocalCandidates[0].EndPoint!;
        byte[] key = System.Text.Encoding.UTF8.GetBytes(agent.LocalPwd);

        StunMessage Exchange(StunMessage request, byte[] withKey)
        {
            socket.SendTo(request.Encode(withKey, fingerprint: true), target);
            var buffer = new byte[1500];
            int n = socket.Receive(buffer);
            var response = StunMessage.Parse(buffer.AsSpan(0, n));
            Assert.Equal(request.TransactionId, response.TransactionId);
            Assert.True(response.VerifyFingerprint());
            return response;
        }

        StunMessage Check() => new StunMessage(StunClass.Request, StunMessage.BindingMethod)
            .AddUsername(agent.LocalUfrag + ":peer").AddPriority(1).AddRole(controlling: true, 7);

        var ok = Exchange(Check(), key);
        Assert.Equal(StunClass.SuccessResponse, ok.Class);
        Assert.True(ok.VerifyIntegrity(key));
        Assert.Equal(socket.LocalEndPoint, ok.XorMappedAddress);

        var unauthorized = Exchange(Check(), "wrong"u8.ToArray());
        Assert.Equal(401, unauthorized.ErrorCode);

        var unknown = Exchange(Check().Add(0x0030, [1, 2, 3, 4]).Add(0xC057, [0, 0, 0, 1]), key);
        Assert.Equal(420, unknown.ErrorCode);
        Assert.Equal([0x00, 0x30], unknown.Get(StunAttributeType.UnknownAttributes)!.Value); // only the comprehension-required one
    }

    [Fact]
    public async Task Agents_bound_to_the_host_interfaces_connect()
    {
        var addresses = IceAgentOptions.HostAddresses();
        Assert.NotEmpty(addresses);
        var (a, b) = await ConnectAsync(true, false, new IceAgentOptions { BindAddresses = addresses });
        await using var _ = a;
        await using var __ = b;
        Assert.Equal(addresses.Count, a.LocalCandidates.Count);
        Assert.Contains(a.SelectedLocal!.Address, addresses);
    }

    [Fact]
    public async Task Peer_reflexive_remote_is_learned_from_an_incoming_check()
    {
        // b never hears of a's candidates (as when trickle is late): it learns a's address from a's checks.
        var a = new IceAgent();
        var b = new IceAgent();
        await using var _ = a;
        await using var __ = b;
        a.Gather();
        b.Gather();
        a.SetRemoteCredentials(b.LocalUfrag, b.LocalPwd);
        b.SetRemoteCredentials(a.LocalUfrag, a.LocalPwd);
        foreach (var c in b.LocalCandidates) a.AddRemoteCandidate(c);
        a.Start(true);
        b.Start(false);
        using var cts = new CancellationTokenSource(Timeout);
        await Task.WhenAll(a.WaitConnectedAsync(cts.Token), b.WaitConnectedAsync(cts.Token));
        Assert.Equal(a.SelectedLocal, b.SelectedRemote);
    }

    [Fact]
    public async Task Wrong_password_never_connects_and_fails_cleanly()
    {
        var options = new IceAgentOptions { ConnectTimeout = TimeSpan.FromSeconds(1.5) };
        var a = new IceAgent(options);
        var b = new IceAgent(options);
        await using var _ = a;
        await using var __ = b;
        a.Gather();
        b.Gather();
        a.SetRemoteCredentials(b.LocalUfrag, "not-the-password-at-all");
        b.SetRemoteCredentials(a.LocalUfrag, "not-the-password-either");
        foreach (var c in b.LocalCandidates) a.AddRemoteCandidate(c);
        foreach (var c in a.LocalCandidates) b.AddRemoteCandidate(c);
        a.Start(true);
        b.Start(false);
        using var cts = new CancellationTokenSource(Timeout);
        var error = await Assert.ThrowsAsync<IceException>(() => a.WaitConnectedAsync(cts.Token));
        Assert.Contains("no candidate pair worked", error.Message);
        Assert.Equal(IceConnectionState.Failed, a.State);
    }

    [Fact]
    public async Task Consent_expires_when_the_peer_goes_away()
    {
        var options = new IceAgentOptions
        {
            ConsentInterval = TimeSpan.FromMilliseconds(200),
            DisconnectedAfter = TimeSpan.FromSeconds(1.2),
            ConsentTimeout = TimeSpan.FromSeconds(3),
        };
        var (a, b) = await ConnectAsync(true, false, options);
        await using var _ = a;
        var states = new System.Collections.Concurrent.ConcurrentQueue<(IceConnectionState State, DateTime At)>();
        var failed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.StateChanged += s =>
        {
            states.Enqueue((s, DateTime.UtcNow));
            if (s == IceConnectionState.Failed) failed.TrySetResult();
        };

        // While both run, consent keeps the pair alive past the timeout.
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        Assert.Equal(IceConnectionState.Connected, a.State);
        Assert.Empty(states);

        var started = DateTime.UtcNow;
        await b.DisposeAsync();
        await failed.Task.WaitAsync(Timeout);
        // Disconnected first (a dropped peer shows early), then failed at the consent timeout.
        Assert.Equal([IceConnectionState.Disconnected, IceConnectionState.Failed], states.Select(s => s.State));
        Assert.InRange((states.First().At - started).TotalSeconds, 0.8, 2.8);
        Assert.InRange((states.Last().At - started).TotalSeconds, 2.5, 7.0);
        Assert.Contains("consent expired", a.FailureReason);
    }
}
