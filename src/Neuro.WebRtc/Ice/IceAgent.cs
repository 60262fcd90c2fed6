using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;

namespace Neuro.WebRtc.Ice;

/// <summary>
/// Like the W3C RTCIceConnectionState: <see cref="Disconnected"/> while consent responses are overdue (it may come
/// back to <see cref="Connected"/>), <see cref="Failed"/> once consent expired or no pair worked.
/// </summary>
public enum IceConnectionState { New, Checking, Connected, Disconnected, Failed, Closed }

public sealed class IceAgentOptions
{
    /// <summary>Addresses to gather host candidates on, one UDP socket each. Loopback by default so tests stay local.</summary>
    public IReadOnlyList<IPAddress> BindAddresses { get; init; } = [IPAddress.Loopback];

    /// <summary>
    /// The machine's usable unicast addresses (interfaces that are up, not loopback, IPv4 and global or ULA IPv6), for
    /// talking to a peer on another host; loopback alone when there are none.
    /// </summary>
    public static IReadOnlyList<IPAddress> HostAddresses()
    {
        var addresses = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up
                        && n.NetworkInterfaceType != System.Net.NetworkInformation.NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(u => u.Address)
            .Where(a => !IPAddress.IsLoopback(a)
                        && (a.AddressFamily == AddressFamily.InterNetwork
                            || (a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv6LinkLocal && !a.IsIPv6SiteLocal)))
            .Distinct()
            .ToList();
        return addresses.Count > 0 ? addresses : [IPAddress.Loopback];
    }

    /// <summary>Gather UDP host candidates (the normal case).</summary>
    public bool Udp { get; init; } = true;

    /// <summary>
    /// ICE-TCP (RFC 6544): a passive candidate (a listener) and an active one per bind address, and connections out to
    /// the peer's passive candidates. For paths where UDP is blocked, such as Neko's TCP mux.
    /// </summary>
    public bool Tcp { get; init; }

    /// <summary>Pacing between connectivity checks (RFC 8445 Ta).</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>First retransmission timeout of a check; doubles per retry up to <see cref="MaxCheckAttempts"/>.</summary>
    public TimeSpan InitialRto { get; init; } = TimeSpan.FromMilliseconds(100);
    public int MaxCheckAttempts { get; init; } = 7;

    /// <summary>Gives up when no pair is selected in this time.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>RFC 7675: consent checks every ~5 s (randomised ±20%), connection lost after 30 s without a response.</summary>
    public TimeSpan ConsentInterval { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan ConsentTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Reported as disconnected after this long without a consent response, so a dropped peer shows early.</summary>
    public TimeSpan DisconnectedAfter { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// A full ICE agent (RFC 8445) for one component (rtcp-mux and BUNDLE put everything on it) over UDP host candidates.
/// The socket is shared with DTLS and SRTP: inbound packets are told apart by their first byte (RFC 7983) and handed
/// to <see cref="DtlsPackets"/> and <see cref="RtpPackets"/>.
/// </summary>
public sealed class IceAgent : IAsyncDisposable
{
    private const int LocalPreferenceBase = 65535;

    private static readonly HashSet<ushort> KnownRequired =
    [
        StunAttributeType.MappedAddress, StunAttributeType.Username, StunAttributeType.MessageIntegrity, StunAttributeType.ErrorCode,
        StunAttributeType.UnknownAttributes, StunAttributeType.XorMappedAddress, StunAttributeType.Priority, StunAttributeType.UseCandidate,
    ];

    private readonly IceAgentOptions _options;
    private readonly List<Socket> _sockets = [];
    private readonly List<Socket> _listeners = [];
    private readonly List<IceTcpLink> _tcpLinks = [];
    private readonly List<IceCandidate> _localCandidates = [];
    private readonly List<CandidatePair> _pairs = [];
    private readonly Dictionary<string, Transaction> _transactions = [];
    private readonly Queue<CandidatePair> _triggered = new();
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<CandidatePair> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // BouncyCastle's DTLS reads with a blocking, timed receive, so its queue blocks rather than awaits.
    private readonly System.Collections.Concurrent.BlockingCollection<byte[]> _dtls = new(boundedCapacity: 512);
    private readonly Channel<ReceivedPacket> _rtp = Channel.CreateBounded<ReceivedPacket>(new BoundedChannelOptions(2048) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly List<Task> _loops = [];

    private string? _remoteUfrag;
    private string? _remotePwd;
    private byte[]? _remoteKey;
    private readonly byte[] _localKey;
    private CandidatePair? _selected;
    private DateTime _startedAt;
    private DateTime _lastConsent;
    private DateTime _nextConsentCheck;
    private bool _remoteEndOfCandidates;
    private bool _started;
    private bool _gathered;

    public IceAgent(IceAgentOptions? options = null)
    {
        _options = options ?? new IceAgentOptions();
        LocalUfrag = RandomIceString(8);
        LocalPwd = RandomIceString(24);
        _localKey = Encoding.UTF8.GetBytes(LocalPwd);
        TieBreaker = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
    }

    public string LocalUfrag { get; }
    public string LocalPwd { get; }
    public ulong TieBreaker { get; internal set; }
    public bool IsControlling { get; private set; }
    public IceConnectionState State { get; private set; } = IceConnectionState.New;
    public string? FailureReason { get; private set; }

    /// <summary>Every local candidate gathered so far.</summary>
    public IReadOnlyList<IceCandidate> LocalCandidates { get { lock (_gate) return _localCandidates.ToArray(); } }

    /// <summary>The remote address of the selected pair once connected.</summary>
    public IPEndPoint? SelectedRemote { get { lock (_gate) return _selected?.Remote; } }
    public IPEndPoint? SelectedLocal
    {
        get
        {
            lock (_gate)
            {
                if (_selected is null) return null;
                return _selected.Tcp is { } link ? link.Local : (IPEndPoint)_sockets[_selected.SocketIndex].LocalEndPoint!;
            }
        }
    }

    /// <summary>Whether the selected pair runs over ICE-TCP.</summary>
    public bool SelectedIsTcp { get { lock (_gate) return _selected?.IsTcp ?? false; } }

    /// <summary>Raised (off the caller's thread) for each new local candidate; trickle sends them to the peer.</summary>
    public event Action<IceCandidate>? LocalCandidateGathered;
    public event Action<IceConnectionState>? StateChanged;

    internal System.Collections.Concurrent.BlockingCollection<byte[]> DtlsPackets => _dtls;
    internal ChannelReader<ReceivedPacket> RtpPackets => _rtp.Reader;

    /// <summary>Opens one UDP socket (and, with <see cref="IceAgentOptions.Tcp"/>, a TCP listener) per bind address and reports their host candidates.</summary>
    public IReadOnlyList<IceCandidate> Gather()
    {
        var gathered = new List<IceCandidate>();
        lock (_gate)
        {
            if (_gathered) return _localCandidates.ToArray();
            _gathered = true;
            for (int i = 0; i < _options.BindAddresses.Count; i++)
            {
                var address = _options.BindAddresses[i];
                string foundation = (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
                // UDP sockets keep index i even when UDP is off, so a bind index always names one address.
                var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                socket.Bind(new IPEndPoint(address, 0));
                _sockets.Add(socket);
                if (_options.Udp)
                {
                    var ep = (IPEndPoint)socket.LocalEndPoint!;
                    gathered.Add(new IceCandidate(foundation, 1, "udp", IceCandidate.ComputePriority(IceCandidateType.Host, LocalPreferenceBase - i, 1),
                        ep.Address.ToString(), ep.Port, IceCandidateType.Host));
                    int index = i;
                    _loops.Add(Task.Run(() => ReceiveLoopAsync(index)));
                }
                if (_options.Tcp)
                {
                    var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    listener.Bind(new IPEndPoint(address, 0));
                    listener.Listen(16);
                    _listeners.Add(listener);
                    var lep = (IPEndPoint)listener.LocalEndPoint!;
                    // RFC 6544 §4.2: direction preference active 6, passive 4, below any UDP candidate of ours.
                    gathered.Add(new IceCandidate("t" + foundation, 1, "tcp", IceCandidate.ComputePriority(IceCandidateType.Host, (4 << 13) + 8191 - i, 1),
                        lep.Address.ToString(), lep.Port, IceCandidateType.Host, TcpType: "passive"));
                    gathered.Add(new IceCandidate("a" + foundation, 1, "tcp", IceCandidate.ComputePriority(IceCandidateType.Host, (6 << 13) + 8191 - i, 1),
                        lep.Address.ToString(), 9, IceCandidateType.Host, TcpType: "active"));
                    int index = i;
                    _loops.Add(Task.Run(() => AcceptLoopAsync(listener, index)));
                }
            }
            _localCandidates.AddRange(gathered);
        }
        foreach (var c in gathered) LocalCandidateGathered?.Invoke(c);
        return gathered;
    }

    public void SetRemoteCredentials(string ufrag, string pwd)
    {
        lock (_gate)
        {
            _remoteUfrag = ufrag;
            _remotePwd = pwd;
            _remoteKey = Encoding.UTF8.GetBytes(pwd);
        }
    }

    /// <summary>
    /// Adds a remote candidate (from the SDP or trickled). Component 1 only; mDNS names are ignored, as are TCP
    /// candidates unless ICE-TCP is on (then passive ones are connected to and active ones wait for them to call).
    /// </summary>
    public void AddRemoteCandidate(IceCandidate candidate)
    {
        if (candidate.Component != 1 || candidate.EndPoint is not { } ep) return;
        if (candidate.Transport == "tcp")
        {
            if (_options.Tcp && candidate.TcpType == "passive") ConnectTcp(ep, candidate.Priority);
            return;
        }
        if (candidate.Transport != "udp" || !_options.Udp) return;
        lock (_gate)
        {
            for (int i = 0; i < _sockets.Count; i++)
            {
                if (_sockets[i].AddressFamily != ep.AddressFamily) continue;
                var source = new PacketSource(i, ep, null);
                if (FindPair(source) is { } existing)
                {
                    existing.RemotePriority = candidate.Priority;
                    continue;
                }
                _pairs.Add(new CandidatePair(i, ep, null, LocalPriority(i, tcp: false), candidate.Priority));
            }
        }
    }

    private uint LocalPriority(int bindIndex, bool tcp) => tcp
        ? IceCandidate.ComputePriority(IceCandidateType.Host, (6 << 13) + 8191 - bindIndex, 1)
        : IceCandidate.ComputePriority(IceCandidateType.Host, LocalPreferenceBase - bindIndex, 1);

    /// <summary>Our active side of ICE-TCP: connect, then the pair joins the check list (RFC 6544 §7.1).</summary>
    private void ConnectTcp(IPEndPoint remote, uint remotePriority)
    {
        for (int i = 0; i < _options.BindAddresses.Count; i++)
        {
            var address = _options.BindAddresses[i];
            if (address.AddressFamily != remote.AddressFamily) continue;
            CandidatePair pair;
            lock (_gate)
            {
                if (_pairs.Any(p => p.IsTcp && p.SocketIndex == i && p.Remote.Equals(remote))) continue;
                pair = new CandidatePair(i, remote, null, LocalPriority(i, tcp: true), remotePriority) { IsTcp = true, State = PairState.Connecting };
                _pairs.Add(pair);
            }
            int index = i;
            var connecting = Task.Run(async () =>
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.Bind(new IPEndPoint(address, 0));
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                    timeout.CancelAfter(_options.ConnectTimeout);
                    await socket.ConnectAsync(remote, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    socket.Dispose();
                    lock (_gate) pair.State = PairState.Failed;
                    return;
                }
                var link = new IceTcpLink(socket, index);
                lock (_gate)
                {
                    if (_stop.IsCancellationRequested) { link.Dispose(); return; }
                    _tcpLinks.Add(link);
                    pair.Tcp = link;
                    pair.State = PairState.Waiting;
                }
                await link.ReadLoopAsync(OnTcpPacket, _stop.Token).ConfigureAwait(false);
            });
            lock (_gate) _loops.Add(connecting);
        }
    }

    /// <summary>Our passive side of ICE-TCP: each accepted connection becomes a path once a check arrives on it.</summary>
    private async Task AcceptLoopAsync(Socket listener, int bindIndex)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
            catch (SocketException) { continue; }
            var link = new IceTcpLink(accepted, bindIndex);
            lock (_gate)
            {
                if (_tcpLinks.Count >= 64) { link.Dispose(); continue; } // a peer has no reason to open more than a few
                _tcpLinks.Add(link);
            }
            _ = Task.Run(() => link.ReadLoopAsync(OnTcpPacket, _stop.Token));
        }
    }

    private void OnTcpPacket(IceTcpLink link, byte[] packet) => Dispatch(new PacketSource(link.BindIndex, link.Remote, link), packet);

    /// <summary>The peer says it has no more candidates, so an empty check list can be declared failed.</summary>
    public void SetRemoteEndOfCandidates()
    {
        lock (_gate) _remoteEndOfCandidates = true;
    }

    /// <summary>Starts connectivity checks. The offerer is controlling (RFC 8445 §6.1.1); a role conflict may swap it.</summary>
    public void Start(bool controlling)
    {
        Gather();
        lock (_gate)
        {
            if (_started) return;
            _started = true;
            IsControlling = controlling;
            _startedAt = DateTime.UtcNow;
        }
        SetState(IceConnectionState.Checking);
        var timer = Task.Run(TimerLoopAsync);
        lock (_gate) _loops.Add(timer);
    }

    /// <summary>Completes when a pair is selected; throws when ICE fails, the agent closes or the token fires.</summary>
    public async Task WaitConnectedAsync(CancellationToken cancellationToken) => await _connected.Task.WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Sends on the selected pair. Packets sent before selection are dropped, as the path is unknown.</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
    {
        CandidatePair? pair;
        lock (_gate) pair = _selected;
        if (State == IceConnectionState.Closed) throw new ObjectDisposedException(nameof(IceAgent));
        if (pair is null) return ValueTask.CompletedTask;
        return SendToAsync(pair.Source, packet, cancellationToken);
    }

    /// <summary>Blocking send on the selected pair, for DTLS's synchronous transport.</summary>
    internal void Send(ReadOnlySpan<byte> packet)
    {
        CandidatePair? pair;
        lock (_gate) pair = _selected;
        if (pair is null || _stop.IsCancellationRequested) return;
        if (pair.IsTcp)
        {
            pair.Tcp?.Send(packet);
            return;
        }
        try
        {
            _sockets[pair.SocketIndex].SendTo(packet, SocketFlags.None, pair.Remote);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async ValueTask SendToAsync(PacketSource to, ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
    {
        if (to.Link is { } link)
        {
            link.Send(packet.Span);
            return;
        }
        try
        {
            await _sockets[to.SocketIndex].SendToAsync(packet, SocketFlags.None, to.From, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            // UDP send errors (e.g. ICMP unreachable reported on the next send) count as loss; ICE's timers handle them.
        }
        catch (ObjectDisposedException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task ReceiveLoopAsync(int socketIndex)
    {
        var socket = _sockets[socketIndex];
        var buffer = new byte[65536];
        EndPoint any = new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult result;
            try
            {
                result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; } // ICMP port unreachable surfaces here on some stacks
            if (result.ReceivedBytes == 0) continue;
            try
            {
                Dispatch(new PacketSource(socketIndex, (IPEndPoint)result.RemoteEndPoint, null), buffer.AsSpan(0, result.ReceivedBytes));
            }
            catch (Exception) when (!_stop.IsCancellationRequested)
            {
                // One bad packet must not leave the agent deaf for the rest of the connection.
            }
        }
    }

    /// <summary>RFC 7983 demultiplexing of one packet from a UDP socket or a TCP link.</summary>
    private void Dispatch(PacketSource source, ReadOnlySpan<byte> data)
    {
        byte first = data[0];
        if (first < 4)
        {
            if (StunMessage.TryParse(data, out var message, out _)) HandleStun(source, message!);
        }
        else if (first is >= 20 and <= 63)
        {
            if (IsKnownRemote(source))
            {
                try { _dtls.TryAdd(data.ToArray()); } catch (InvalidOperationException) { } // added after close: drop
            }
        }
        else if (first is >= 128 and <= 191)
        {
            if (IsSelectedRemote(source)) _rtp.Writer.TryWrite(new ReceivedPacket(data.ToArray(), source.From));
        }
        // Anything else (ZRTP, TURN channels, noise) is dropped, as RFC 7983 allows.
    }

    private bool IsKnownRemote(PacketSource source)
    {
        lock (_gate) return FindPair(source) is not null;
    }

    private bool IsSelectedRemote(PacketSource source)
    {
        lock (_gate) return _selected is { } s && s.Matches(source);
    }

    private void HandleStun(PacketSource source, StunMessage message)
    {
        if (message.Method != StunMessage.BindingMethod) return;
        if (message.HasFingerprint && !message.VerifyFingerprint()) return;
        switch (message.Class)
        {
            case StunClass.Request: HandleRequest(source, message); break;
            case StunClass.SuccessResponse:
            case StunClass.ErrorResponse: HandleResponse(source, message); break;
            default: break; // Binding indications are keepalives: nothing to do.
        }
    }

    private void HandleRequest(PacketSource source, StunMessage request)
    {
        string? username = request.Username;
        if (username is null || !request.HasIntegrity)
        {
            SendError(source, request, 400, "Bad Request", withIntegrity: false);
            return;
        }
        int colon = username.IndexOf(':');
        if (colon < 0 || username[..colon] != LocalUfrag || !request.VerifyIntegrity(_localKey))
        {
            SendError(source, request, 401, "Unauthorized", withIntegrity: false);
            return;
        }
        // RFC 8489 §6.3.1: comprehension-required attributes (below 0x8000) we do not know make the request fail with 420.
        var unknown = request.Attributes.Select(a => a.Type).Where(t => t < 0x8000 && !KnownRequired.Contains(t)).Distinct().ToArray();
        if (unknown.Length > 0)
        {
            var value = new byte[2 * unknown.Length];
            for (int i = 0; i < unknown.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(value.AsSpan(2 * i), unknown[i]);
            var error = new StunMessage(StunClass.ErrorResponse, StunMessage.BindingMethod, request.TransactionId)
                .AddErrorCode(420, "Unknown Attribute").Add(StunAttributeType.UnknownAttributes, value);
            _ = SendToAsync(source, error.Encode(_localKey, fingerprint: true), CancellationToken.None);
            return;
        }
        bool reply487 = false;
        bool useCandidate = request.Has(StunAttributeType.UseCandidate);
        CandidatePair pair;
        lock (_gate)
        {
            // RFC 8445 §7.3.1.1: role conflicts are settled by the larger tie-breaker. Before Start our role is not
            // decided yet (the peer's checks can beat our own signaling), so there is nothing to conflict with.
            if (_started && IsControlling && request.IceControlling is { } theirs)
            {
                if (TieBreaker >= theirs) reply487 = true;
                else IsControlling = false;
            }
            else if (_started && !IsControlling && request.IceControlled is { } theirs2)
            {
                if (TieBreaker >= theirs2) IsControlling = true;
                else reply487 = true;
            }
            pair = FindPair(source) ?? AddPeerReflexive(source, request.Priority ?? 0);
            if (!reply487)
            {
                // A triggered check (§7.3.1.4) confirms the path in our direction too.
                if (pair.State is PairState.Waiting or PairState.Failed && !_triggered.Contains(pair))
                {
                    pair.State = PairState.Waiting;
                    pair.Attempts = 0;
                    _triggered.Enqueue(pair);
                }
                if (useCandidate && (!IsControlling || !_started))
                {
                    pair.Nominated = true;
                    if (pair.State == PairState.Succeeded) Select(pair);
                }
            }
        }
        if (reply487)
        {
            SendError(source, request, 487, "Role Conflict", withIntegrity: true);
            return;
        }
        var response = new StunMessage(StunClass.SuccessResponse, StunMessage.BindingMethod, request.TransactionId).AddXorMappedAddress(source.From);
        _ = SendToAsync(source, response.Encode(_localKey, fingerprint: true), CancellationToken.None);
        lock (_gate)
        {
            if (_selected == pair) _lastConsent = DateTime.UtcNow; // the peer's own consent checks prove it is alive too
        }
    }

    private void SendError(PacketSource source, StunMessage request, int code, string reason, bool withIntegrity)
    {
        var error = new StunMessage(StunClass.ErrorResponse, StunMessage.BindingMethod, request.TransactionId).AddErrorCode(code, reason);
        _ = SendToAsync(source, error.Encode(withIntegrity ? _localKey : null, fingerprint: true), CancellationToken.None);
    }

    private void HandleResponse(PacketSource source, StunMessage response)
    {
        lock (_gate)
        {
            string key = Convert.ToHexString(response.TransactionId);
            if (!_transactions.TryGetValue(key, out var tx)) return;
            if (_remoteKey is null || !response.VerifyIntegrity(_remoteKey)) return;
            _transactions.Remove(key);
            var pair = tx.Pair;
            // §7.2.5.2.1: a response from another address than the check went to makes the check fail.
            if (!pair.Matches(source))
            {
                pair.State = PairState.Failed;
                return;
            }
            if (tx.IsConsent)
            {
                if (response.Class == StunClass.SuccessResponse) _lastConsent = DateTime.UtcNow;
                return;
            }
            if (response.Class == StunClass.ErrorResponse)
            {
                if (response.ErrorCode == 487)
                {
                    // §7.2.5.1: switch to the role opposite the one we claimed, then retry.
                    IsControlling = !tx.Controlling;
                    pair.State = PairState.Waiting;
                    pair.Attempts = 0;
                    _triggered.Enqueue(pair);
                }
                else
                {
                    pair.State = PairState.Failed;
                }
                return;
            }
            pair.State = PairState.Succeeded;
            // The controlling side selects on its own nominating check; the controlled side once the peer nominated the pair.
            if (tx.Controlling ? tx.UseCandidate : pair.Nominated) Select(pair);
        }
    }

    private CandidatePair AddPeerReflexive(PacketSource source, uint priority)
    {
        var pair = new CandidatePair(source.SocketIndex, source.From, source.Link, LocalPriority(source.SocketIndex, source.Link is not null), priority)
        {
            IsTcp = source.Link is not null,
        };
        _pairs.Add(pair);
        return pair;
    }

    private CandidatePair? FindPair(PacketSource source)
    {
        foreach (var p in _pairs)
        {
            if (p.Matches(source)) return p;
        }
        return null;
    }

    // Called under _gate.
    private void Select(CandidatePair pair)
    {
        if (_selected is not null) return;
        _selected = pair;
        _lastConsent = DateTime.UtcNow;
        _nextConsentCheck = DateTime.UtcNow + JitteredConsentInterval();
        ThreadPool.QueueUserWorkItem(_ =>
        {
            SetState(IceConnectionState.Connected);
            _connected.TrySetResult(pair);
        });
    }

    private async Task TimerLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.CheckInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                Tick();
                if (State is IceConnectionState.Failed or IceConnectionState.Closed) return;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Tick()
    {
        var now = DateTime.UtcNow;
        (PacketSource to, byte[] bytes)? send = null;
        string? failure = null;
        IceConnectionState? liveness = null;
        lock (_gate)
        {
            // Retransmit or give up on outstanding checks.
            foreach (var (key, tx) in _transactions.ToArray())
            {
                if (now < tx.Deadline) continue;
                if (tx.IsConsent) { _transactions.Remove(key); continue; }
                _transactions.Remove(key);
                if (tx.Pair.Attempts >= _options.MaxCheckAttempts) tx.Pair.State = PairState.Failed;
                else tx.Pair.State = PairState.Waiting;
            }
            if (_selected is not null)
            {
                var silent = now - _lastConsent;
                if (silent > _options.ConsentTimeout) failure = "consent expired: no response from the peer for " + _options.ConsentTimeout.TotalSeconds + " s";
                else if (silent > _options.DisconnectedAfter && State == IceConnectionState.Connected) liveness = IceConnectionState.Disconnected;
                else if (silent <= _options.DisconnectedAfter && State == IceConnectionState.Disconnected) liveness = IceConnectionState.Connected;
                if (failure is null && now >= _nextConsentCheck && _remoteKey is not null)
                {
                    _nextConsentCheck = now + JitteredConsentInterval();
                    send = BuildCheck(_selected, useCandidate: false, consent: true);
                }
            }
            else if (_remoteKey is not null)
            {
                CandidatePair? next = null;
                while (_triggered.Count > 0 && next is null)
                {
                    var t = _triggered.Dequeue();
                    if (t.State == PairState.Waiting) next = t;
                }
                if (next is null)
                {
                    // Controlling side nominates the best pair that worked (regular nomination, §8.1.1).
                    var nominee = IsControlling ? _pairs.Where(p => p.State == PairState.Succeeded && !p.Nominated)
                        .OrderByDescending(p => p.Priority(IsControlling)).FirstOrDefault() : null;
                    if (nominee is not null && !_pairs.Any(p => p.Nominated && p.State != PairState.Failed))
                    {
                        nominee.Nominated = true;
                        nominee.State = PairState.Waiting;
                        nominee.Attempts = 0;
                        next = nominee;
                    }
                }
                next ??= _pairs.Where(p => p.State == PairState.Waiting).OrderByDescending(p => p.Priority(IsControlling)).FirstOrDefault();
                if (next is not null) send = BuildCheck(next, useCandidate: IsControlling && next.Nominated, consent: false);
                if (now - _startedAt > _options.ConnectTimeout) failure = "no candidate pair worked within " + _options.ConnectTimeout.TotalSeconds + " s";
                else if (_remoteEndOfCandidates && _pairs.Count > 0 && _pairs.All(p => p.State == PairState.Failed)) failure = "every candidate pair failed";
            }
            else if (now - _startedAt > _options.ConnectTimeout)
            {
                failure = "no remote ICE credentials within " + _options.ConnectTimeout.TotalSeconds + " s";
            }
        }
        if (send is { } s) _ = SendToAsync(s.to, s.bytes, CancellationToken.None);
        if (liveness is { } changed) SetState(changed);
        if (failure is not null) Fail(failure);
    }

    // Called under _gate.
    private (PacketSource, byte[]) BuildCheck(CandidatePair pair, bool useCandidate, bool consent)
    {
        var request = new StunMessage(StunClass.Request, StunMessage.BindingMethod)
            .AddUsername(_remoteUfrag + ":" + LocalUfrag)
            // §7.1.1: PRIORITY is what a peer-reflexive candidate of ours would get.
            .AddPriority(IceCandidate.ComputePriority(IceCandidateType.PeerReflexive,
                pair.IsTcp ? (6 << 13) + 8191 - pair.SocketIndex : LocalPreferenceBase - pair.SocketIndex, 1))
            .AddRole(IsControlling, TieBreaker);
        if (useCandidate) request.AddUseCandidate();
        if (!consent)
        {
            pair.State = PairState.InProgress;
            pair.Attempts++;
        }
        // A consent response counts however late it comes, up to the point consent would expire anyway.
        var rto = consent ? _options.ConsentTimeout : _options.InitialRto * Math.Pow(2, Math.Max(0, pair.Attempts - 1));
        _transactions[Convert.ToHexString(request.TransactionId)] = new Transaction(pair, useCandidate, consent, IsControlling, DateTime.UtcNow + rto);
        return (pair.Source, request.Encode(_remoteKey, fingerprint: true));
    }

    private TimeSpan JitteredConsentInterval() => _options.ConsentInterval * (0.8 + 0.4 * Random.Shared.NextDouble());

    private void Fail(string reason)
    {
        lock (_gate)
        {
            if (State is IceConnectionState.Failed or IceConnectionState.Closed) return;
            FailureReason = reason;
        }
        SetState(IceConnectionState.Failed);
        _connected.TrySetException(new IceException(reason));
        _dtls.CompleteAdding();
        _rtp.Writer.TryComplete();
    }

    private void SetState(IceConnectionState state)
    {
        lock (_gate)
        {
            if (State == state || State is IceConnectionState.Closed || (State is IceConnectionState.Failed && state != IceConnectionState.Closed)) return;
            State = state;
        }
        StateChanged?.Invoke(state);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        SetState(IceConnectionState.Closed);
        _connected.TrySetException(new ObjectDisposedException(nameof(IceAgent)));
        _stop.Cancel();
        foreach (var s in _sockets) s.Dispose();
        foreach (var l in _listeners) l.Dispose();
        lock (_gate)
        {
            foreach (var link in _tcpLinks) link.Dispose();
        }
        _dtls.CompleteAdding();
        _rtp.Writer.TryComplete();
        Task[] loops;
        lock (_gate) loops = _loops.ToArray();
        try { await Task.WhenAll(loops).ConfigureAwait(false); } catch (OperationCanceledException) { }
        _stop.Dispose();
    }

    /// <summary>ICE strings use the ice-char alphabet (RFC 8839 §5.4): letters, digits, '+' and '/'.</summary>
    private static string RandomIceString(int length)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        return RandomNumberGenerator.GetString(alphabet, length);
    }

    private enum PairState { Connecting, Waiting, InProgress, Succeeded, Failed }

    private sealed class CandidatePair(int socketIndex, IPEndPoint remote, IceTcpLink? tcp, uint localPriority, uint remotePriority)
    {
        /// <summary>Bind address index: the UDP socket, or the address a TCP link was made on.</summary>
        public int SocketIndex { get; } = socketIndex;
        public IPEndPoint Remote { get; } = remote;
        public bool IsTcp { get; init; }
        /// <summary>The connection of a TCP pair; null while our active side is still connecting.</summary>
        public IceTcpLink? Tcp { get; set; } = tcp;
        public PacketSource Source => new(SocketIndex, Remote, Tcp);

        public bool Matches(PacketSource source) => IsTcp
            ? source.Link is not null && ReferenceEquals(source.Link, Tcp)
            : source.Link is null && source.SocketIndex == SocketIndex && source.From.Equals(Remote);
        public uint LocalPriority { get; } = localPriority;
        public uint RemotePriority { get; set; } = remotePriority;
        public PairState State { get; set; } = PairState.Waiting;
        public int Attempts { get; set; }
        public bool Nominated { get; set; }

        /// <summary>RFC 8445 §6.1.2.3 pair priority.</summary>
        public ulong Priority(bool controlling)
        {
            ulong g = controlling ? LocalPriority : RemotePriority;
            ulong d = controlling ? RemotePriority : LocalPriority;
            return (Math.Min(g, d) << 32) + 2 * Math.Max(g, d) + (g > d ? 1UL : 0UL);
        }
    }

    private sealed record Transaction(CandidatePair Pair, bool UseCandidate, bool IsConsent, bool Controlling, DateTime Deadline);
}

internal readonly record struct ReceivedPacket(byte[] Data, IPEndPoint From);

/// <summary>Where a packet came from (or goes to): a UDP socket and remote address, or a TCP link.</summary>
internal readonly record struct PacketSource(int SocketIndex, IPEndPoint From, IceTcpLink? Link);

public sealed class IceException(string message) : Exception(message);
