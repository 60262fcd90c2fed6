using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;

namespace Neuro.WebRtc.Ice;

public enum IceConnectionState { New, Checking, Connected, Failed, Closed }

public sealed class IceAgentOptions
{
    /// <summary>Addresses to gather host candidates on, one UDP socket each. Loopback by default so tests stay local.</summary>
    public IReadOnlyList<IPAddress> BindAddresses { get; init; } = [IPAddress.Loopback];

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
}

/// <summary>
/// A full ICE agent (RFC 8445) for one component (rtcp-mux and BUNDLE put everything on it) over UDP host candidates.
/// The socket is shared with DTLS and SRTP: inbound packets are told apart by their first byte (RFC 7983) and handed
/// to <see cref="DtlsPackets"/> and <see cref="RtpPackets"/>.
/// </summary>
public sealed class IceAgent : IAsyncDisposable
{
    private const int LocalPreferenceBase = 65535;

    private readonly IceAgentOptions _options;
    private readonly List<Socket> _sockets = [];
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
    public IPEndPoint? SelectedLocal { get { lock (_gate) return _selected is null ? null : (IPEndPoint)_sockets[_selected.SocketIndex].LocalEndPoint!; } }

    /// <summary>Raised (off the caller's thread) for each new local candidate; trickle sends them to the peer.</summary>
    public event Action<IceCandidate>? LocalCandidateGathered;
    public event Action<IceConnectionState>? StateChanged;

    internal System.Collections.Concurrent.BlockingCollection<byte[]> DtlsPackets => _dtls;
    internal ChannelReader<ReceivedPacket> RtpPackets => _rtp.Reader;

    /// <summary>Opens one UDP socket per bind address and reports their host candidates.</summary>
    public IReadOnlyList<IceCandidate> Gather()
    {
        var gathered = new List<IceCandidate>();
        lock (_gate)
        {
            if (_sockets.Count > 0) return _localCandidates.ToArray();
            for (int i = 0; i < _options.BindAddresses.Count; i++)
            {
                var address = _options.BindAddresses[i];
                var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                socket.Bind(new IPEndPoint(address, 0));
                _sockets.Add(socket);
                var ep = (IPEndPoint)socket.LocalEndPoint!;
                var candidate = new IceCandidate(
                    Foundation: (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Component: 1, Transport: "udp",
                    Priority: IceCandidate.ComputePriority(IceCandidateType.Host, LocalPreferenceBase - i, 1),
                    Address: ep.Address.ToString(), Port: ep.Port, Type: IceCandidateType.Host);
                _localCandidates.Add(candidate);
                gathered.Add(candidate);
                int index = i;
                _loops.Add(Task.Run(() => ReceiveLoopAsync(index)));
            }
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

    /// <summary>Adds a remote candidate (from the SDP or trickled). Non-UDP, non-component-1 and unresolvable ones are ignored.</summary>
    public void AddRemoteCandidate(IceCandidate candidate)
    {
        if (candidate.Transport != "udp" || candidate.Component != 1 || candidate.EndPoint is not { } ep) return;
        lock (_gate)
        {
            for (int i = 0; i < _sockets.Count; i++)
            {
                if (_sockets[i].AddressFamily != ep.AddressFamily) continue;
                if (FindPair(i, ep) is { } existing)
                {
                    existing.RemotePriority = candidate.Priority;
                    continue;
                }
                _pairs.Add(new CandidatePair(i, ep, _localCandidates[i].Priority, candidate.Priority));
            }
        }
    }

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
        _loops.Add(Task.Run(TimerLoopAsync));
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
        return SendToAsync(pair.SocketIndex, pair.Remote, packet, cancellationToken);
    }

    /// <summary>Blocking send on the selected pair, for DTLS's synchronous transport.</summary>
    internal void Send(ReadOnlySpan<byte> packet)
    {
        CandidatePair? pair;
        lock (_gate) pair = _selected;
        if (pair is null || _stop.IsCancellationRequested) return;
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

    private async ValueTask SendToAsync(int socketIndex, IPEndPoint remote, ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
    {
        try
        {
            await _sockets[socketIndex].SendToAsync(packet, SocketFlags.None, remote, cancellationToken).ConfigureAwait(false);
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
            var from = (IPEndPoint)result.RemoteEndPoint;
            var data = buffer.AsSpan(0, result.ReceivedBytes);
            byte first = data[0];
            if (first < 4)
            {
                if (StunMessage.TryParse(data, out var message, out _)) HandleStun(socketIndex, from, message!);
            }
            else if (first is >= 20 and <= 63)
            {
                if (IsKnownRemote(socketIndex, from))
                {
                    try { _dtls.TryAdd(data.ToArray()); } catch (InvalidOperationException) { } // added after close: drop
                }
            }
            else if (first is >= 128 and <= 191)
            {
                if (IsSelectedRemote(socketIndex, from)) _rtp.Writer.TryWrite(new ReceivedPacket(data.ToArray(), from));
            }
            // Anything else (ZRTP, TURN channels, noise) is dropped, as RFC 7983 allows.
        }
    }

    private bool IsKnownRemote(int socketIndex, IPEndPoint from)
    {
        lock (_gate) return FindPair(socketIndex, from) is not null;
    }

    private bool IsSelectedRemote(int socketIndex, IPEndPoint from)
    {
        lock (_gate) return _selected is { } s && s.SocketIndex == socketIndex && s.Remote.Equals(from);
    }

    private void HandleStun(int socketIndex, IPEndPoint from, StunMessage message)
    {
        if (message.Method != StunMessage.BindingMethod) return;
        if (message.HasFingerprint && !message.VerifyFingerprint()) return;
        switch (message.Class)
        {
            case StunClass.Request: HandleRequest(socketIndex, from, message); break;
            case StunClass.SuccessResponse:
            case StunClass.ErrorResponse: HandleResponse(socketIndex, from, message); break;
            default: break; // Binding indications are keepalives: nothing to do.
        }
    }

    private void HandleRequest(int socketIndex, IPEndPoint from, StunMessage request)
    {
        string? username = request.Username;
        if (username is null || !request.HasIntegrity)
        {
            SendError(socketIndex, from, request, 400, "Bad Request", withIntegrity: false);
            return;
        }
        int colon = username.IndexOf(':');
        if (colon < 0 || username[..colon] != LocalUfrag || !request.VerifyIntegrity(_localKey))
        {
            SendError(socketIndex, from, request, 401, "Unauthorized", withIntegrity: false);
            return;
        }
        bool reply487 = false;
        bool useCandidate = request.Has(StunAttributeType.UseCandidate);
        CandidatePair pair;
        lock (_gate)
        {
            // RFC 8445 §7.3.1.1: role conflicts are settled by the larger tie-breaker. Before Start our role is not
            // decided yet (the peer's checks can beat our own signaling), so there is nothing to conflict with.
            if (!_started)
            {
            }
            else if (IsControlling && request.IceControlling is { } theirs)
            {
                if (TieBreaker >= theirs) reply487 = true;
                else IsControlling = false;
            }
            else if (!IsControlling && request.IceControlled is { } theirs2)
            {
                if (TieBreaker >= theirs2) IsControlling = true;
                else reply487 = true;
            }
            pair = FindPair(socketIndex, from) ?? AddPeerReflexive(socketIndex, from, request.Priority ?? 0);
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
            SendError(socketIndex, from, request, 487, "Role Conflict", withIntegrity: true);
            return;
        }
        var response = new StunMessage(StunClass.SuccessResponse, StunMessage.BindingMethod, request.TransactionId).AddXorMappedAddress(from);
        _ = SendToAsync(socketIndex, from, response.Encode(_localKey, fingerprint: true), CancellationToken.None);
        lock (_gate)
        {
            if (_selected == pair) _lastConsent = DateTime.UtcNow; // the peer's own consent checks prove it is alive too
        }
    }

    private void SendError(int socketIndex, IPEndPoint from, StunMessage request, int code, string reason, bool withIntegrity)
    {
        var error = new StunMessage(StunClass.ErrorResponse, StunMessage.BindingMethod, request.TransactionId).AddErrorCode(code, reason);
        _ = SendToAsync(socketIndex, from, error.Encode(withIntegrity ? _localKey : null, fingerprint: true), CancellationToken.None);
    }

    private void HandleResponse(int socketIndex, IPEndPoint from, StunMessage response)
    {
        lock (_gate)
        {
            string key = Convert.ToHexString(response.TransactionId);
            if (!_transactions.TryGetValue(key, out var tx)) return;
            if (_remoteKey is null || !response.VerifyIntegrity(_remoteKey)) return;
            _transactions.Remove(key);
            var pair = tx.Pair;
            // §7.2.5.2.1: a response from another address than the check went to makes the check fail.
            if (!from.Equals(pair.Remote) || socketIndex != pair.SocketIndex)
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

    private CandidatePair AddPeerReflexive(int socketIndex, IPEndPoint from, uint priority)
    {
        var pair = new CandidatePair(socketIndex, from, _localCandidates[socketIndex].Priority, priority);
        _pairs.Add(pair);
        return pair;
    }

    private CandidatePair? FindPair(int socketIndex, IPEndPoint remote)
    {
        foreach (var p in _pairs)
        {
            if (p.SocketIndex == socketIndex && p.Remote.Equals(remote)) return p;
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
        (int socket, IPEndPoint to, byte[] bytes)? send = null;
        string? failure = null;
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
                if (now - _lastConsent > _options.ConsentTimeout) failure = "consent expired: no response from the peer for " + _options.ConsentTimeout.TotalSeconds + " s";
                else if (now >= _nextConsentCheck && _remoteKey is not null)
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
        if (send is { } s) _ = SendToAsync(s.socket, s.to, s.bytes, CancellationToken.None);
        if (failure is not null) Fail(failure);
    }

    // Called under _gate.
    private (int, IPEndPoint, byte[]) BuildCheck(CandidatePair pair, bool useCandidate, bool consent)
    {
        var request = new StunMessage(StunClass.Request, StunMessage.BindingMethod)
            .AddUsername(_remoteUfrag + ":" + LocalUfrag)
            // §7.1.1: PRIORITY is what a peer-reflexive candidate of ours would get.
            .AddPriority(IceCandidate.ComputePriority(IceCandidateType.PeerReflexive, LocalPreferenceBase - pair.SocketIndex, 1))
            .AddRole(IsControlling, TieBreaker);
        if (useCandidate) request.AddUseCandidate();
        if (!consent)
        {
            pair.State = PairState.InProgress;
            pair.Attempts++;
        }
        var rto = consent ? _options.ConsentInterval : _options.InitialRto * Math.Pow(2, Math.Max(0, pair.Attempts - 1));
        _transactions[Convert.ToHexString(request.TransactionId)] = new Transaction(pair, useCandidate, consent, IsControlling, DateTime.UtcNow + rto);
        return (pair.SocketIndex, pair.Remote, request.Encode(_remoteKey, fingerprint: true));
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
        _dtls.CompleteAdding();
        _rtp.Writer.TryComplete();
        try { await Task.WhenAll(_loops).ConfigureAwait(false); } catch (OperationCanceledException) { }
        _stop.Dispose();
    }

    /// <summary>ICE strings use the ice-char alphabet (RFC 8839 §5.4): letters, digits, '+' and '/'.</summary>
    private static string RandomIceString(int length)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        return RandomNumberGenerator.GetString(alphabet, length);
    }

    private enum PairState { Waiting, InProgress, Succeeded, Failed }

    private sealed class CandidatePair(int socketIndex, IPEndPoint remote, uint localPriority, uint remotePriority)
    {
        public int SocketIndex { get; } = socketIndex;
        public IPEndPoint Remote { get; } = remote;
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

public sealed class IceException(string message) : Exception(message);
