using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Neuro.WebRtc;
using Neuro.WebRtc.Dtls;
using Neuro.WebRtc.Ice;
using Neuro.WebRtc.Sctp;
using Neuro.WebRtc.Sdp;

namespace Neuro.Neko;

public enum NekoInputPath { WebSocket, DataChannel }

public enum NekoConnectionState { New, Connecting, Connected, Reconnecting, Closed }

public sealed class NekoClientOptions
{
    /// <summary>The server's base URL (http or https), e.g. <c>http://neko:8080/</c>; a path prefix is kept.</summary>
    public required Uri BaseUrl { get; init; }

    public string Username { get; init; } = "agent";
    public string Password { get; init; } = "";

    /// <summary>A token obtained elsewhere: login is skipped and reconnects reuse it.</summary>
    public string? Token { get; init; }

    /// <summary>Negotiate WebRTC (video + the server's <c>data</c> channel). Off: WebSocket input and HTTP screenshots only,
    /// which Neko supports (every control/* event works over the WebSocket).</summary>
    public bool WebRtc { get; init; } = true;

    /// <summary>Ask for the video stream in <c>signal/request</c>; off sends <c>video.disabled</c>.</summary>
    public bool Video { get; init; } = true;

    /// <summary>Our WebRTC settings; null uses the machine's host addresses for ICE (a remote Neko).</summary>
    public RtcConfiguration? Rtc { get; init; }

    /// <summary>Bound on each HTTP request and on the WebSocket handshake.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Bound on one whole connection attempt: login, WebSocket, system/init, and with WebRTC the data channel.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>The server sends system/heartbeat every 10 s; this long without any message means the connection is dead.</summary>
    public TimeSpan SilenceTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan ReconnectMinDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Consecutive failed attempts after a drop before the client gives up (state Closed, <see cref="NekoClient.Failure"/> set).</summary>
    public int MaxReconnectAttempts { get; init; } = 10;

    /// <summary>Bound on waiting for the server to make us host after <c>control/request</c>.</summary>
    public TimeSpan ControlTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// A Neko v3 client: REST login, the <c>/api/ws</c> WebSocket with the <c>{event, payload}</c> envelope, heartbeats,
/// system/init, WebRTC signaling (server offer, our answer, trickled candidates both ways) with the server's <c>data</c>
/// channel on our SCTP stack, control (host) tracking, chat, input over either path, and reconnect with backoff.
/// Events are raised on the receive loop; a handler that throws is ignored rather than killing the connection.
/// </summary>
public sealed class NekoClient : IAsyncDisposable
{
    private readonly NekoClientOptions _options;
    private readonly Uri _baseUrl;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly HttpClient _http;
    private readonly CookieContainer _cookies = new();
    private readonly object _gate = new();
    private Session? _session;
    private Task? _supervisor;
    private string? _token;
    private long _rtpPackets;
    private int _disposed;

    public NekoClient(NekoClientOptions options)
    {
        _options = options;
        _baseUrl = BaseWithSlash(options.BaseUrl);
        _http = new HttpClient(new SocketsHttpHandler { CookieContainer = _cookies, UseCookies = true }) { Timeout = options.RequestTimeout };
    }

    public NekoConnectionState State { get; private set; } = NekoConnectionState.New;

    /// <summary>Why the client stopped (gave up reconnecting); null while it runs.</summary>
    public Exception? Failure { get; private set; }

    public string? SessionId => _session?.SessionId;
    public (int Width, int Height)? ScreenSize { get; private set; }
    public bool HasHost { get; private set; }
    public string? HostId { get; private set; }
    public bool IsHost => HasHost && HostId is not null && HostId == SessionId;
    public string? Token => _token;

    /// <summary>The server's <c>data</c> channel once open (null without WebRTC or before it opens).</summary>
    public DataChannel? DataChannel => _session?.Data;

    public RtcPeerConnection? PeerConnection => _session?.Peer;

    /// <summary>Successful (re)connections so far.</summary>
    public int Connections { get; private set; }

    /// <summary>Decrypted RTP packets received on the current and earlier peer connections (video, for now only counted).</summary>
    public long RtpPacketsReceived => Interlocked.Read(ref _rtpPackets);

    /// <summary>The VP8 payload type of the server's current offer (what the video decoder must accept), or null.</summary>
    public int? VideoPayloadType { get; private set; }

    public event Action<NekoConnectionState>? StateChanged;

    /// <summary>The connection dropped; the argument says why. Reconnecting follows unless the client is disposed.</summary>
    public event Action<string>? Disconnected;

    public event Action<NekoChatMessage>? ChatReceived;

    /// <summary>Online mode: <c>/task &lt;instruction&gt;</c> in chat from someone else (or send/* with subject task).</summary>
    public event Action<string>? TaskRequested;

    public event Action<bool, string?>? HostChanged;
    public event Action<int, int>? ScreenSizeChanged;
    public event Action<int, int>? CursorMoved;

    /// <summary>Every message the server sent, after the client handled it (for logging and for events it does not model).</summary>
    public event Action<NekoMessage>? MessageReceived;

    /// <summary>The seam for a video decoder: every decrypted RTP packet from the peer connection.</summary>
    public event Action<RtcReceivedPacket>? RtpReceived;

    /// <summary>First connection: throws if it fails; later drops are reconnected in the background.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        if (State != NekoConnectionState.New) throw new InvalidOperationException($"already {State}");
        SetState(NekoConnectionState.Connecting);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        try
        {
            _session = await OpenSessionAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Failure = e;
            SetState(NekoConnectionState.Closed);
            throw;
        }
        Connections++;
        SetState(NekoConnectionState.Connected);
        _supervisor = Task.Run(SuperviseAsync);
    }

    /// <summary>Completes when the client has given up or been disposed.</summary>
    public Task Completion => _supervisor ?? Task.CompletedTask;

    private async Task SuperviseAsync()
    {
        var ct = _lifetime.Token;
        while (!ct.IsCancellationRequested)
        {
            var session = _session!;
            string reason;
            try
            {
                reason = await session.Ended.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            SafeInvoke(() => Disconnected?.Invoke(reason));
            SetState(NekoConnectionState.Reconnecting);
            await session.DisposeAsync().ConfigureAwait(false);
            Exception? last = null;
            Session? next = null;
            for (int attempt = 1; attempt <= _options.MaxReconnectAttempts && next is null; attempt++)
            {
                try
                {
                    await Task.Delay(Backoff(attempt), ct).ConfigureAwait(false);
                    next = await OpenSessionAsync(ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    last = e;
                }
            }
            if (next is null)
            {
                Failure = new NekoConnectionException($"gave up after {_options.MaxReconnectAttempts} reconnect attempts (dropped: {reason})", last);
                SetState(NekoConnectionState.Closed);
                return;
            }
            _session = next;
            Connections++;
            SetState(NekoConnectionState.Connected);
        }
    }

    /// <summary>Exponential from the minimum, capped, with ±20 % jitter so many agents do not reconnect in lockstep.</summary>
    private TimeSpan Backoff(int attempt)
    {
        double baseMs = Math.Min(_options.ReconnectMaxDelay.TotalMilliseconds, _options.ReconnectMinDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 20)));
        return TimeSpan.FromMilliseconds(baseMs * (0.8 + 0.4 * Random.Shared.NextDouble()));
    }

    private async Task<Session> OpenSessionAsync(CancellationToken cancellationToken)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(_options.ConnectTimeout);
        var ct = attempt.Token;
        string? token = _options.Token ?? await LoginAsync(ct).ConfigureAwait(false);
        _token = token;
        var session = new Session(this);
        try
        {
            await session.OpenAsync(token, ct).ConfigureAwait(false);
            return session;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            var stage = session.Stage;
            await session.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"Neko connection attempt timed out after {_options.ConnectTimeout.TotalSeconds:F0} s while {stage}");
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>POST /api/login; the token comes in the body, or (cookie auth, Neko's default in released v3) as the NEKO_SESSION cookie.</summary>
    private async Task<string?> LoginAsync(CancellationToken ct)
    {
        using var response = await _http.PostAsJsonAsync(new Uri(_baseUrl, "api/login"),
            new { username = _options.Username, password = _options.Password }, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            string body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            throw new NekoLoginException((int)response.StatusCode, body.Length > 200 ? body[..200] : body);
        }
        string text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String)
                return t.GetString();
        }
        catch (JsonException)
        {
        }
        var cookie = _cookies.GetCookies(_baseUrl)["NEKO_SESSION"];
        return cookie?.Value ?? throw new NekoLoginException((int)response.StatusCode, "login reply has neither a token nor a NEKO_SESSION cookie");
    }

    private Uri WebSocketUri(string? token) => WebSocketUri(_baseUrl, token);

    internal static Uri WebSocketUri(Uri baseUrl, string? token)
    {
        var b = new UriBuilder(new Uri(BaseWithSlash(baseUrl), "api/ws")) { Scheme = baseUrl.Scheme == "https" ? "wss" : "ws" };
        if (token is not null) b.Query = "token=" + Uri.EscapeDataString(token);
        return b.Uri;
    }

    /// <summary>Relative paths resolve against the last slash, so "http://h/neko" would lose its prefix without one.</summary>
    internal static Uri BaseWithSlash(Uri baseUrl) =>
        baseUrl.AbsolutePath.EndsWith('/') ? baseUrl : new UriBuilder(baseUrl) { Path = baseUrl.AbsolutePath + "/", Query = "" }.Uri;

    /// <summary>GET /api/room/screen/shot.jpg (admin-only on real Neko), authenticated with the session token.</summary>
    public async Task<(byte[] Data, string? ContentType)> ScreenshotAsync(int quality, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_baseUrl, $"api/room/screen/shot.jpg?quality={quality}"));
        if (_token is not null) request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", _token);
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"shot.jpg: HTTP {(int)response.StatusCode}", null, response.StatusCode);
        return (await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false), response.Content.Headers.ContentType?.MediaType);
    }

    private Session Current => _session is { } s && State == NekoConnectionState.Connected ? s
        : throw new NekoConnectionException($"not connected (state {State})", Failure);

    public Task SendAsync(string name, object? payload, CancellationToken cancellationToken) => Current.SendAsync(name, payload, cancellationToken);

    public Task SendChatAsync(string text, CancellationToken cancellationToken) => SendAsync("chat/message", new { text }, cancellationToken);

    /// <summary>Asks for control and waits (bounded by <see cref="NekoClientOptions.ControlTimeout"/>) until the server names us host.</summary>
    public async Task RequestControlAsync(CancellationToken cancellationToken)
    {
        var session = Current;
        if (IsHost) return;
        var became = session.HostWaiter();
        await session.SendAsync("control/request", null, cancellationToken).ConfigureAwait(false);
        try
        {
            await became.WaitAsync(_options.ControlTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new NekoControlException($"not made host within {_options.ControlTimeout.TotalSeconds:F1} s (host is {HostId ?? "nobody"})");
        }
    }

    public Task ReleaseControlAsync(CancellationToken cancellationToken) => SendAsync("control/release", null, cancellationToken);

    public Task MoveAsync(int x, int y, NekoInputPath path, CancellationToken cancellationToken) =>
        path == NekoInputPath.WebSocket
            ? SendAsync("control/move", new { x, y }, cancellationToken)
            : SendBinaryAsync(cancellationToken, NekoBinary.Move(x, y));

    /// <summary>Press and release (Neko's buttonpress); X buttons 1 left, 2 middle, 3 right.</summary>
    public Task ButtonPressAsync(uint code, NekoInputPath path, CancellationToken cancellationToken) =>
        path == NekoInputPath.WebSocket
            ? SendAsync("control/buttonpress", new { code }, cancellationToken)
            : SendBinaryAsync(cancellationToken, NekoBinary.ButtonDown(code), NekoBinary.ButtonUp(code));

    public Task ButtonDownAsync(uint code, NekoInputPath path, CancellationToken cancellationToken) =>
        path == NekoInputPath.WebSocket ? SendAsync("control/buttondown", new { code }, cancellationToken) : SendBinaryAsync(cancellationToken, NekoBinary.ButtonDown(code));

    public Task ButtonUpAsync(uint code, NekoInputPath path, CancellationToken cancellationToken) =>
        path == NekoInputPath.WebSocket ? SendAsync("control/buttonup", new { code }, cancellationToken) : SendBinaryAsync(cancellationToken, NekoBinary.ButtonUp(code));

    public Task KeyPressAsync(uint keysym, NekoInputPath path, CancellationToken cancellationToken) =>
        path == NekoInputPath.WebSocket
            ? SendAsync("control/keypress", new { keysym }, cancellationToken)
            : SendBinaryAsync(cancellationToken, NekoBinary.KeyDown(keysym), NekoBinary.KeyUp(keysym));

    public Task KeyDownAsync(uint keysym, NekoInputPath path, CancellationToken cancellationToken) =>
        path == NekoInputPath.WebSocket ? SendAsync("control/keydown", new { keysym }, cancellationToken) : SendBinaryAsync(cancellationToken, NekoBinary.KeyDown(keysym));

    public Task KeyUpAsync(uint keysym, NekoInputPath path, CancellationToken cancellationToken) =>
        path == NekoInputPath.WebSocket ? SendAsync("control/keyup", new { keysym }, cancellationToken) : SendBinaryAsync(cancellationToken, NekoBinary.KeyUp(keysym));

    /// <summary>Wheel notches (Neko: each unit is one X wheel click; positive y = up, positive x = right).</summary>
    public Task ScrollAsync(int deltaX, int deltaY, bool controlKey, NekoInputPath path, CancellationToken cancellationToken) =>
        path == NekoInputPath.WebSocket
            ? SendAsync("control/scroll", new { delta_x = deltaX, delta_y = deltaY, control_key = controlKey }, cancellationToken)
            : SendBinaryAsync(cancellationToken, NekoBinary.Scroll(deltaX, deltaY, controlKey));

    /// <summary>Types text as one key press per character (X11 keysyms; newline = Return).</summary>
    public async Task TypeTextAsync(string text, NekoInputPath path, CancellationToken cancellationToken)
    {
        foreach (uint k in Keysyms.ForText(text)) await KeyPressAsync(k, path, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Data-channel round trip: PING with our clock, answered by the server's PONG.</summary>
    public async Task<TimeSpan> PingAsync(CancellationToken cancellationToken)
    {
        var session = Current;
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        ulong stamp = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var pong = session.PongWaiter(stamp);
        await SendBinaryAsync(cancellationToken, NekoBinary.Ping(stamp)).ConfigureAwait(false);
        await pong.WaitAsync(_options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        return System.Diagnostics.Stopwatch.GetElapsedTime(start);
    }

    private async Task SendBinaryAsync(CancellationToken cancellationToken, params byte[][] messages)
    {
        var channel = Current.Data ?? throw new NekoConnectionException("the data channel is not open (WebRTC off or not negotiated)", null);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(_options.RequestTimeout);
        foreach (var m in messages) await channel.SendAsync(m, bounded.Token).ConfigureAwait(false);
    }

    /// <summary>Waits (bounded) for the data channel of the current connection.</summary>
    public async Task<DataChannel> WaitForDataChannelAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        await Current.DataOpened.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);

    private void SetState(NekoConnectionState state)
    {
        State = state;
        SafeInvoke(() => StateChanged?.Invoke(state));
    }

    private static void SafeInvoke(Action action)
    {
        try { action(); }
        catch (Exception) { /* a subscriber's bug must not take the connection down */ }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _lifetime.Cancel();
        if (_supervisor is not null)
        {
            try { await _supervisor.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); } catch (Exception) { }
        }
        if (_session is { } s) await s.DisposeAsync().ConfigureAwait(false);
        SetState(NekoConnectionState.Closed);
        _http.Dispose();
        _lifetime.Dispose();
    }

    /// <summary>One WebSocket connection and the peer connection negotiated over it.</summary>
    private sealed class Session(NekoClient owner) : IAsyncDisposable
    {
        private readonly ClientWebSocket _ws = new();
        private readonly CancellationTokenSource _cts = new();
        private readonly SemaphoreSlim _sendLock = new(1, 1);
        private readonly TaskCompletionSource _init = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<DataChannel> _data = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<string> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<(IceCandidate? Candidate, string? Mid)> _earlyCandidates = [];
        private readonly HashSet<string> _sentCandidates = [];
        private TaskCompletionSource _host = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource? _pong;
        private ulong _pongStamp;
        private Task? _receiver;
        private Task? _webrtc;
        private SctpDataChannels? _sctp;
        private int _disposed;

        public string? SessionId { get; private set; }
        public RtcPeerConnection? Peer { get; private set; }
        public DataChannel? Data { get; private set; }
        public string Stage { get; private set; } = "opening the WebSocket";
        public Task<string> Ended => _ended.Task;
        public Task<DataChannel> DataOpened => _data.Task;

        public async Task OpenAsync(string? token, CancellationToken ct)
        {
            _ws.Options.KeepAliveInterval = TimeSpan.FromSeconds(30);
            if (token is not null)
            {
                // Neko checks cookie, then Bearer, then ?token: send the query form (works with and without cookie auth).
                _ws.Options.Cookies = owner._cookies;
            }
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                connect.CancelAfter(owner._options.RequestTimeout);
                await _ws.ConnectAsync(owner.WebSocketUri(token), connect.Token).ConfigureAwait(false);
            }
            _receiver = Task.Run(ReceiveLoopAsync);
            Stage = "waiting for system/init";
            await WaitOrEndAsync(_init.Task, ct).ConfigureAwait(false);
            if (!owner._options.WebRtc) return;
            Stage = "negotiating WebRTC (signal/request)";
            await SendAsync("signal/request", new
            {
                video = owner._options.Video ? (object)new { } : new { disabled = true },
                audio = new { disabled = true },
            }, ct).ConfigureAwait(false);
            await WaitOrEndAsync(_data.Task, ct).ConfigureAwait(false);
        }

        private async Task WaitOrEndAsync(Task task, CancellationToken ct)
        {
            var done = await Task.WhenAny(task, _ended.Task).WaitAsync(ct).ConfigureAwait(false);
            if (done == _ended.Task) throw new NekoConnectionException($"connection ended while {Stage}: {_ended.Task.Result}", null);
            await task.ConfigureAwait(false);
        }

        public Task HostWaiter()
        {
            lock (owner._gate)
            {
                if (_host.Task.IsCompleted) _host = new(TaskCreationOptions.RunContinuationsAsynchronously);
                return _host.Task;
            }
        }

        public Task PongWaiter(ulong stamp)
        {
            lock (owner._gate)
            {
                _pongStamp = stamp;
                _pong = new(TaskCreationOptions.RunContinuationsAsynchronously);
                return _pong.Task;
            }
        }

        public async Task SendAsync(string name, object? payload, CancellationToken cancellationToken)
        {
            var bytes = Encoding.UTF8.GetBytes(NekoMessage.Serialize(name, payload));
            if (Volatile.Read(ref _disposed) != 0) throw new NekoConnectionException($"send of {name} failed: the connection is closed", null);
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _cts.Token);
            bounded.CancelAfter(owner._options.RequestTimeout);
            await _sendLock.WaitAsync(bounded.Token).ConfigureAwait(false);
            try
            {
                await _ws.SendAsync(bytes, WebSocketMessageType.Text, true, bounded.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or ObjectDisposedException or InvalidOperationException)
            {
                End($"send failed: {e.Message}");
                throw new NekoConnectionException($"send of {name} failed: the connection is down", e);
            }
            finally
            {
                _sendLock.Release();
            }
        }

        private void End(string reason) => _ended.TrySetResult(reason);

        private async Task ReceiveLoopAsync()
        {
            var buffer = new byte[64 * 1024];
            using var message = new MemoryStream();
            try
            {
                while (true)
                {
                    message.SetLength(0);
                    WebSocketReceiveResult result;
                    using (var silence = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token))
                    {
                        silence.CancelAfter(owner._options.SilenceTimeout);
                        do
                        {
                            try
                            {
                                result = await _ws.ReceiveAsync(buffer, silence.Token).ConfigureAwait(false);
                            }
                            catch (OperationCanceledException) when (!_cts.IsCancellationRequested)
                            {
                                End($"no message from the server for {owner._options.SilenceTimeout.TotalSeconds:F0} s");
                                return;
                            }
                            if (result.MessageType == WebSocketMessageType.Close)
                            {
                                End($"server closed the WebSocket ({result.CloseStatus} {result.CloseStatusDescription})");
                                return;
                            }
                            if (message.Length + result.Count > NekoMessage.MaxLength)
                            {
                                End("server sent a message over the size limit");
                                return;
                            }
                            message.Write(buffer, 0, result.Count);
                        }
                        while (!result.EndOfMessage);
                    }
                    if (result.MessageType != WebSocketMessageType.Text) continue;
                    string text = Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length);
                    if (!NekoMessage.TryParse(text, out var m, out _)) continue; // Neko itself only logs bad messages
                    await HandleAsync(m!).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (_cts.IsCancellationRequested)
            {
                End("closed");
            }
            catch (Exception e)
            {
                End($"WebSocket failed: {e.Message}");
            }
        }

        private async Task HandleAsync(NekoMessage m)
        {
            switch (m.Event)
            {
                case "system/init":
                    SessionId = m.String("session_id");
                    if (NekoEvents.ScreenSize(m.Object("screen_size")) is { } size) SetScreen(size);
                    SetHost(m.Object("control_host"));
                    _init.TrySetResult();
                    break;
                case "screen/updated":
                    if (NekoEvents.ScreenSize(m.Payload) is { } s) SetScreen(s);
                    break;
                case "control/host":
                    SetHost(m.Payload);
                    break;
                case "system/heartbeat":
                    try { await SendAsync("client/heartbeat", null, _cts.Token).ConfigureAwait(false); } catch (Exception) { }
                    break;
                case "system/disconnect":
                    End("server disconnected us: " + (m.String("message") ?? "no reason"));
                    break;
                case "signal/close":
                    End("server closed the peer connection (signal/close)");
                    break;
                case "signal/provide" or "signal/offer" or "signal/restart":
                    if (owner._options.WebRtc) await AnswerOfferAsync(m).ConfigureAwait(false);
                    break;
                case "signal/candidate":
                    AddRemoteCandidate(m);
                    break;
                case "chat/message":
                    if (NekoEvents.ChatText(m) is { } text)
                    {
                        string? sender = m.String("id");
                        bool self = sender is not null && sender == SessionId;
                        var chat = new NekoChatMessage(sender, text, self);
                        SafeInvoke(() => owner.ChatReceived?.Invoke(chat));
                        // The original agent ignores its own lines, so its "Starting task: …" echo never loops.
                        if (!self && NekoEvents.TaskInstruction(text) is { Length: > 0 } instruction) SafeInvoke(() => owner.TaskRequested?.Invoke(instruction));
                    }
                    break;
                case "send/broadcast" or "send/unicast":
                    if (m.String("subject") == "task" && m.String("body") is { Length: > 0 } body) SafeInvoke(() => owner.TaskRequested?.Invoke(body));
                    break;
            }
            SafeInvoke(() => owner.MessageReceived?.Invoke(m));
        }

        private void SetScreen((int Width, int Height) size)
        {
            owner.ScreenSize = size;
            SafeInvoke(() => owner.ScreenSizeChanged?.Invoke(size.Width, size.Height));
        }

        private void SetHost(JsonElement? payload)
        {
            if (payload is not { ValueKind: JsonValueKind.Object } p) return;
            bool has = p.TryGetProperty("has_host", out var h) && h.ValueKind == JsonValueKind.True;
            string? id = has ? NekoMessage.String(p, "host_id") : null;
            owner.HasHost = has;
            owner.HostId = id;
            if (has && id is not null && id == SessionId)
            {
                lock (owner._gate) _host.TrySetResult();
            }
            else
            {
                lock (owner._gate) if (_host.Task.IsCompleted) _host = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            SafeInvoke(() => owner.HostChanged?.Invoke(has, id));
        }

        private async Task AnswerOfferAsync(NekoMessage m)
        {
            if (!SessionDescription.TryParse(m.String("sdp"), out var offer, out var error))
            {
                End($"unusable offer: {error}");
                return;
            }
            if (Peer is not null)
            {
                // Our stack does not renegotiate a running connection: start over with a new one.
                await DisposePeerAsync().ConfigureAwait(false);
            }
            var config = owner._options.Rtc ?? new RtcConfiguration { Ice = new IceAgentOptions { BindAddresses = IceAgentOptions.HostAddresses() } };
            var pc = new RtcPeerConnection(config);
            Peer = pc;
            pc.LocalCandidate += c => _ = TrickleAsync(c);
            try
            {
                pc.SetRemoteDescription(RtcSdpType.Offer, offer!);
                owner.VideoPayloadType = offer!.Media.Where(m => m.Kind == "video").SelectMany(m => m.RtpMaps)
                    .FirstOrDefault(r => r.EncodingName.Equals("VP8", StringComparison.OrdinalIgnoreCase))?.PayloadType;
                var answer = pc.CreateAnswer();
                pc.SetLocalDescription(RtcSdpType.Answer, answer);
                await SendAsync("signal/answer", new { sdp = answer.ToString(), type = "answer" }, _cts.Token).ConfigureAwait(false);
                foreach (var c in pc.Ice.LocalCandidates) await TrickleAsync(c).ConfigureAwait(false);
                List<(IceCandidate?, string?)> early;
                lock (_earlyCandidates) { early = [.. _earlyCandidates]; _earlyCandidates.Clear(); }
                foreach (var (c, mid) in early) pc.AddRemoteCandidate(c, mid);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
            {
                End($"could not answer the offer: {e.Message}");
                return;
            }
            var app = offer!.Media.FirstOrDefault(s => s.Kind == "application");
            _webrtc = Task.Run(() => RunWebRtcAsync(pc, app));
        }

        private async Task TrickleAsync(IceCandidate c)
        {
            string text = c.ToString();
            lock (_sentCandidates) if (!_sentCandidates.Add(text)) return;
            try
            {
                await SendAsync("signal/candidate", new { candidate = text, sdpMid = Peer?.BundleMid ?? "0", sdpMLineIndex = 0 }, _cts.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The connection is going down; the session end reports it.
            }
        }

        private void AddRemoteCandidate(NekoMessage m)
        {
            string? text = m.String("candidate");
            string? mid = m.String("sdpMid");
            IceCandidate? candidate = null;
            if (!string.IsNullOrEmpty(text) && !IceCandidate.TryParse(text, out candidate)) return; // unparseable (e.g. a TCP type we skip)
            var pc = Peer;
            if (pc is null)
            {
                lock (_earlyCandidates) if (_earlyCandidates.Count < 256) _earlyCandidates.Add((candidate, mid));
                return;
            }
            pc.AddRemoteCandidate(candidate, mid);
        }

        private async Task RunWebRtcAsync(RtcPeerConnection pc, MediaDescription? app)
        {
            var ct = _cts.Token;
            try
            {
                using (var connect = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    connect.CancelAfter(owner._options.ConnectTimeout);
                    await pc.ConnectAsync(connect.Token).ConfigureAwait(false);
                }
                _ = Task.Run(() => DrainRtpAsync(pc, ct));
                if (app is null) { _data.TrySetException(new NekoConnectionException("the offer has no data channel section", null)); return; }
                long remoteMax = app.MaxMessageSize ?? 65536;
                var sctp = SctpDataChannels.Start(pc.DataTransport, pc.DtlsRole == DtlsRole.Client, new SctpOptions
                {
                    LocalPort = 5000,
                    RemotePort = (ushort)Math.Clamp(app.SctpPort ?? 5000, 1, ushort.MaxValue),
                    MaxMessageSize = remoteMax <= 0 || remoteMax > int.MaxValue ? int.MaxValue : (int)remoteMax,
                });
                _sctp = sctp;
                using (var connect = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    connect.CancelAfter(owner._options.ConnectTimeout);
                    await sctp.Association.ConnectAsync(connect.Token).ConfigureAwait(false);
                    while (true)
                    {
                        var channel = await sctp.IncomingChannels.ReadAsync(connect.Token).ConfigureAwait(false);
                        if (channel.Label != "data") continue;
                        Data = channel;
                        _data.TrySetResult(channel);
                        break;
                    }
                }
                await foreach (var message in Data.ReadAllAsync(ct).ConfigureAwait(false))
                {
                    if (message.IsText || !NekoBinary.TryParseServer(message.Data.Span, out var parsed, out _)) continue;
                    if (parsed.Op == NekoBinary.ServerCursorPosition) SafeInvoke(() => owner.CursorMoved?.Invoke(parsed.X, parsed.Y));
                    else if (parsed.Op == NekoBinary.ServerPong)
                    {
                        lock (owner._gate) if (_pong is not null && _pongStamp == parsed.PingMilliseconds) _pong.TrySetResult();
                    }
                }
                // The server's channel closing means its side of the input path is gone: treat as a drop.
                if (!ct.IsCancellationRequested) End("the data channel closed");
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                var failure = new NekoConnectionException($"WebRTC failed: {e.Message}", e);
                _data.TrySetException(failure);
                End(failure.Message);
            }
        }

        private async Task DrainRtpAsync(RtcPeerConnection pc, CancellationToken ct)
        {
            try
            {
                while (await pc.ReceiveAsync(ct).ConfigureAwait(false) is { } packet)
                {
                    if (!packet.IsRtcp) Interlocked.Increment(ref owner._rtpPackets);
                    SafeInvoke(() => owner.RtpReceived?.Invoke(packet));
                }
                // ReceiveAsync gives null once the connection failed or closed (e.g. the server's DTLS close_notify).
                if (!ct.IsCancellationRequested) End("the peer connection ended: " + (pc.Failure?.Message ?? pc.State.ToString()));
            }
            catch (OperationCanceledException)
            {
            }
        }

        private async Task DisposePeerAsync()
        {
            if (_sctp is { } s)
            {
                _sctp = null;
                try { await s.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); } catch (Exception) { }
            }
            if (Peer is { } pc)
            {
                Peer = null;
                try { await pc.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); } catch (Exception) { }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            End("closed");
            _data.TrySetCanceled();
            if (_ws.State == WebSocketState.Open)
            {
                try
                {
                    using var close = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                    await _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", close.Token).ConfigureAwait(false);
                }
                catch (Exception) { }
            }
            _cts.Cancel();
            _ws.Abort();
            foreach (var t in new[] { _receiver, _webrtc })
            {
                if (t is null) continue;
                try { await t.WaitAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(false); } catch (Exception) { }
            }
            await DisposePeerAsync().ConfigureAwait(false);
            _ws.Dispose();
            _cts.Dispose();
        }
    }
}

public sealed class NekoConnectionException(string message, Exception? inner) : Exception(message, inner);

public sealed class NekoLoginException(int status, string body) : Exception($"Neko login failed: HTTP {status} {body}")
{
    public int Status { get; } = status;
}

public sealed class NekoControlException(string message) : Exception(message);
