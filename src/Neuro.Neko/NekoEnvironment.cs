using Neuro.Agents;

namespace Neuro.Neko;

/// <summary>
/// Where the agent's screenshots come from. Today: Neko's HTTP screenshot. The seam for the WebRTC video track: a
/// source fed by <see cref="NekoClient.RtpReceived"/> through the VP8 depacketizer and decoder (src/Neuro.WebRtc/Media,
/// another branch) that encodes its newest decoded frame as PNG.
/// </summary>
public interface IFrameSource
{
    /// <summary>The screen now, as PNG bytes.</summary>
    Task<byte[]> CapturePngAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Frames from <c>GET /api/room/screen/shot.jpg</c> (admin-only on real Neko). Neko answers baseline JPEG, which is
/// decoded with <see cref="JpegDecoder"/> and re-encoded as PNG; a PNG reply is passed through.
/// </summary>
public sealed class HttpScreenshotFrameSource(NekoClient client, int quality = 90) : IFrameSource
{
    public async Task<byte[]> CapturePngAsync(CancellationToken cancellationToken)
    {
        var (data, type) = await client.ScreenshotAsync(quality, cancellationToken).ConfigureAwait(false);
        if (data.Length >= 8 && data[0] == 0x89 && data[1] == (byte)'P' && data[2] == (byte)'N' && data[3] == (byte)'G') return data;
        if (data.Length >= 2 && data[0] == 0xFF && data[1] == 0xD8)
        {
            if (!JpegDecoder.TryDecode(data, out int w, out int h, out var rgb, out var error))
                throw new InvalidDataException($"undecodable JPEG screenshot: {error}");
            return PngDownscaler.EncodeRgb(w, h, rgb);
        }
        throw new InvalidDataException($"the screenshot is neither PNG nor JPEG ({type ?? "no content type"}, {data.Length} bytes)");
    }
}

public sealed class NekoEnvironmentOptions
{
    /// <summary>WebSocket control events (what the original agent sends) or the data channel's binary input.</summary>
    public NekoInputPath InputPath { get; init; } = NekoInputPath.WebSocket;

    /// <summary>Become host before acting (the data channel ignores a non-host's input, and the WebSocket requests implicitly).</summary>
    public bool RequestControl { get; init; } = true;

    /// <summary>Wheel notches per SCROLL amount unit. Neko scrolls one X wheel click per unit, so the original agent's
    /// ±120 (a browser's wheel delta) scrolled 120 notches; a few notches is one screenful-ish step.</summary>
    public int NotchesPerScroll { get; init; } = 5;

    /// <summary>Pause in a SWIPE between press and move, as the original agent does, so the page sees a drag.</summary>
    public TimeSpan SwipePause { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Dispose the client with the environment.</summary>
    public bool OwnsClient { get; init; }
}

/// <summary>
/// The agent runtime's environment on a Neko session: screenshots from an <see cref="IFrameSource"/>, the screen size
/// from system/init and screen/updated (not the video size, which a scaling pipeline may change), and actions as Neko
/// input with positions mapped from 0..1 fractions to screen pixels.
/// </summary>
public sealed class NekoEnvironment(NekoClient client, IFrameSource frames, NekoEnvironmentOptions? options = null) : IAgentEnvironment
{
    private readonly NekoEnvironmentOptions _options = options ?? new();

    public Task<(int Width, int Height)> GetScreenSizeAsync(CancellationToken cancellationToken) =>
        Task.FromResult(client.ScreenSize ?? throw new InvalidOperationException("no screen size yet (system/init not received)"));

    public Task<byte[]> ScreenshotAsync(CancellationToken cancellationToken) => frames.CapturePngAsync(cancellationToken);

    public async Task ExecuteAsync(AgentAction action, CancellationToken cancellationToken)
    {
        var ct = cancellationToken;
        var path = _options.InputPath;
        if (_options.RequestControl && !action.IsFinal && !client.IsHost) await client.RequestControlAsync(ct).ConfigureAwait(false);
        switch (action.Kind)
        {
            case "CLICK" or "TAP" or "SELECT":
                await MoveAsync(Require(action.Position, action), ct).ConfigureAwait(false);
                await client.ButtonPressAsync(ButtonCode(action.Button), path, ct).ConfigureAwait(false);
                break;
            case "HOVER":
                await MoveAsync(Require(action.Position, action), ct).ConfigureAwait(false);
                break;
            case "INPUT":
                if (action.Position is { } at)
                {
                    await MoveAsync(at, ct).ConfigureAwait(false);
                    await client.ButtonPressAsync(1, path, ct).ConfigureAwait(false);
                }
                await client.TypeTextAsync(action.Value ?? "", path, ct).ConfigureAwait(false);
                break;
            case "ENTER":
                await client.KeyPressAsync(Keysyms.Return, path, ct).ConfigureAwait(false);
                break;
            case "SCROLL":
                if (action.Position is { } over) await MoveAsync(over, ct).ConfigureAwait(false);
                int n = Math.Max(1, action.Amount) * _options.NotchesPerScroll;
                // Neko: positive delta_y scrolls up, positive delta_x right.
                var (dx, dy) = (action.Value?.Trim().ToLowerInvariant()) switch
                {
                    "up" => (0, n),
                    "left" => (-n, 0),
                    "right" => (n, 0),
                    _ => (0, -n),
                };
                await client.ScrollAsync(dx, dy, false, path, ct).ConfigureAwait(false);
                break;
            case "SELECT_TEXT" or "SWIPE":
                await MoveAsync(Require(action.Position, action), ct).ConfigureAwait(false);
                await client.ButtonDownAsync(1, path, ct).ConfigureAwait(false);
                if (action.Kind == "SWIPE") await Task.Delay(_options.SwipePause, ct).ConfigureAwait(false);
                await MoveAsync(Require(action.End, action), ct).ConfigureAwait(false);
                await client.ButtonUpAsync(1, path, ct).ConfigureAwait(false);
                break;
            case "COPY":
                await client.KeyDownAsync(Keysyms.ControlL, path, ct).ConfigureAwait(false);
                await client.KeyPressAsync('c', path, ct).ConfigureAwait(false);
                await client.KeyUpAsync(Keysyms.ControlL, path, ct).ConfigureAwait(false);
                break;
            case "ANSWER" or "DONE":
                break;
            default:
                throw new ArgumentException($"unknown action {action.Kind}", nameof(action));
        }
    }

    private static ScreenPoint Require(ScreenPoint? p, AgentAction action) =>
        p ?? throw new ArgumentException($"{action.Kind} needs a position", nameof(action));

    private static uint ButtonCode(string button) => button switch { "middle" => 2, "right" => 3, _ => 1 };

    private Task MoveAsync(ScreenPoint at, CancellationToken ct)
    {
        var (w, h) = client.ScreenSize ?? throw new InvalidOperationException("no screen size yet (system/init not received)");
        var (x, y) = at.ToPixels(w, h);
        return client.MoveAsync(x, y, _options.InputPath, ct);
    }

    public async ValueTask DisposeAsync()
    {
        if (_options.OwnsClient) await client.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>
/// Online mode as the original agent runs it: wait for <c>/task &lt;instruction&gt;</c> in chat, announce it, take
/// control, run the step loop, report, release control. One task at a time; tasks arriving meanwhile are queued.
/// </summary>
public static class NekoOnlineMode
{
    public static async Task RunAsync(NekoClient client, IAgentEnvironment environment, Func<string, IAgentPolicy> policyFor,
        Func<string, AgentRun> runFor, CancellationToken cancellationToken, Action<string, AgentRunResult>? completed = null)
    {
        var tasks = System.Threading.Channels.Channel.CreateUnbounded<string>();
        void OnTask(string instruction) => tasks.Writer.TryWrite(instruction);
        client.TaskRequested += OnTask;
        try
        {
            await client.SendChatAsync("Ready. Send a task in chat to begin.", cancellationToken).ConfigureAwait(false);
            while (true)
            {
                string instruction = await tasks.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                AgentRunResult result;
                try
                {
                    await client.SendChatAsync($"Starting task: {instruction}", cancellationToken).ConfigureAwait(false);
                    result = await AgentLoop.RunAsync(runFor(instruction), environment, policyFor(instruction), cancellationToken).ConfigureAwait(false);
                    if (result.Answer is { } answer) await client.SendChatAsync($"Answer: {answer}", cancellationToken).ConfigureAwait(false);
                    await client.SendChatAsync($"Completed task: {instruction} (steps={result.Steps.Count}).", cancellationToken).ConfigureAwait(false);
                    if (client.IsHost) await client.ReleaseControlAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // A drop or a refused action ends this task, not online mode: the client reconnects and the next
                    // /task runs. The report is best effort, since the connection may be the thing that failed.
                    result = new AgentRunResult(AgentOutcome.Failed, null, e.Message, []);
                    try { await client.SendChatAsync($"Task failed: {instruction}: {e.Message}", cancellationToken).ConfigureAwait(false); }
                    catch (Exception) when (!cancellationToken.IsCancellationRequested) { }
                }
                completed?.Invoke(instruction, result);
            }
        }
        finally
        {
            client.TaskRequested -= OnTask;
        }
    }
}

/// <summary>
/// The plug for the WebRTC video path: a decoder pushes RGB frames (<see cref="Push"/>), the agent gets the newest one
/// as PNG. As the original agent does, it skips the first frames (encoders start with poor ones), ignores frames
/// under 32 or over 8192 px a side, and counts a frame older than <see cref="MaxAge"/> as no frame, in which case the
/// fallback source (the HTTP screenshot) answers.
/// </summary>
public sealed class VideoFrameSource(IFrameSource? fallback = null) : IFrameSource
{
    private readonly object _gate = new();
    private (int Width, int Height, byte[] Rgb, long At)? _latest;
    private int _seen;

    public int SkipInitialFrames { get; init; } = 5;
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Frames accepted so far (after skipping).</summary>
    public int FramesAccepted { get; private set; }

    /// <summary>A decoded frame, 8-bit RGB, row-major, no padding. The array is kept, not copied: do not reuse it.</summary>
    public bool Push(int width, int height, byte[] rgb)
    {
        if (width is < 32 or > 8192 || height is < 32 or > 8192 || rgb.Length != width * height * 3) return false;
        lock (_gate)
        {
            if (++_seen <= SkipInitialFrames) return false;
            _latest = (width, height, rgb, Environment.TickCount64);
            FramesAccepted++;
        }
        return true;
    }

    public Task<byte[]> CapturePngAsync(CancellationToken cancellationToken)
    {
        (int Width, int Height, byte[] Rgb, long At)? frame;
        lock (_gate) frame = _latest;
        if (frame is { } f && Environment.TickCount64 - f.At <= (long)MaxAge.TotalMilliseconds)
            return Task.FromResult(PngDownscaler.EncodeRgb(f.Width, f.Height, f.Rgb));
        return fallback?.CapturePngAsync(cancellationToken)
            ?? Task.FromException<byte[]>(new TimeoutException($"no video frame in the last {MaxAge.TotalSeconds:F0} s and no fallback"));
    }
}
