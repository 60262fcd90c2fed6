using System.Diagnostics;

namespace Neuro.Agents;

public sealed class ChromiumOptions
{
    public string Executable { get; set; } = "/usr/bin/chromium";

    public int Width { get; set; } = 1280;

    public int Height { get; set; } = 800;

    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>The embedded default environment: a headless Debian Chromium driven over the DevTools protocol, one page per
/// environment, viewport set to the task's screen resolution. Input goes in as real mouse/keyboard events.</summary>
public sealed class ChromiumEnvironment : IAgentEnvironment
{
    // As root and on a closed network: no sandbox, and none of the background fetches that would each time out.
    private static readonly string[] Flags =
    [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio", "--remote-debugging-port=0",
    ];

    private readonly Process _process;
    private readonly string _profile;
    private readonly DevToolsConnection _devtools;
    private readonly string _session;
    private readonly int _width;
    private readonly int _height;

    private ChromiumEnvironment(Process process, string profile, DevToolsConnection devtools, string session, int width, int height)
    {
        (_process, _profile, _devtools, _session, _width, _height) = (process, profile, devtools, session, width, height);
    }

    public static async Task<ChromiumEnvironment> LaunchAsync(ChromiumOptions options, AgentMode mode = AgentMode.Web, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(options.Executable))
        {
            throw new FileNotFoundException($"Chromium not found at {options.Executable}: install Debian's chromium package (./test.sh does)", options.Executable);
        }
        if (options.Width is < 64 or > 8192 || options.Height is < 64 or > 8192)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "screen resolution must be between 64 and 8192 pixels each way");
        }
        var profile = Directory.CreateTempSubdirectory("neuro-chromium-").FullName;
        var start = new ProcessStartInfo(options.Executable) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var flag in Flags)
        {
            start.ArgumentList.Add(flag);
        }
        start.ArgumentList.Add($"--user-data-dir={profile}");
        start.ArgumentList.Add($"--window-size={options.Width},{options.Height}");
        start.ArgumentList.Add("about:blank");
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start Chromium");
        process.ErrorDataReceived += (_, _) => { };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            var endpoint = await WaitForEndpointAsync(profile, process, options.StartTimeout, cancellationToken);
            var devtools = await DevToolsConnection.ConnectAsync(endpoint, cancellationToken);
            var target = await devtools.SendAsync("Target.createTarget", new { url = "about:blank" }, cancellationToken: cancellationToken);
            var attached = await devtools.SendAsync("Target.attachToTarget", new { targetId = (string)target["targetId"]!, flatten = true }, cancellationToken: cancellationToken);
            var session = (string)attached["sessionId"]!;
            await devtools.SendAsync("Page.enable", null, session, cancellationToken);
            await devtools.SendAsync("Emulation.setDeviceMetricsOverride",
                new { width = options.Width, height = options.Height, deviceScaleFactor = 1, mobile = mode == AgentMode.Phone }, session, cancellationToken);
            return new ChromiumEnvironment(process, profile, devtools, session, options.Width, options.Height);
        }
        catch
        {
            Kill(process, profile);
            throw;
        }
    }

    /// <summary>Chromium writes the port it chose and the browser's target path into DevToolsActivePort.</summary>
    private static async Task<Uri> WaitForEndpointAsync(string profile, Process process, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var file = Path.Combine(profile, "DevToolsActivePort");
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"Chromium exited with code {process.ExitCode} before opening DevTools");
            }
            if (File.Exists(file) && (await File.ReadAllLinesAsync(file, cancellationToken)) is [var port, var path, ..])
            {
                return new Uri($"ws://127.0.0.1:{port}{path}");
            }
            await Task.Delay(50, cancellationToken);
        }
        throw new TimeoutException($"Chromium did not open DevTools within {timeout}");
    }

    public Task<(int Width, int Height)> GetScreenSizeAsync(CancellationToken cancellationToken) => Task.FromResult((_width, _height));

    /// <summary>Loads a page and waits until the document has finished loading.</summary>
    public async Task NavigateAsync(string url, CancellationToken cancellationToken = default)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "data" or "about"))
        {
            throw new ArgumentException($"'{url}' is not an http(s), data: or about: URL", nameof(url));
        }
        await _devtools.SendAsync("Page.navigate", new { url }, _session, cancellationToken);
        while ((await EvaluateAsync("document.readyState", cancellationToken)) != "complete")
        {
            await Task.Delay(20, cancellationToken);
        }
    }

    /// <summary>Evaluates a JavaScript expression in the page and returns its value as a string (for checks and waits).</summary>
    public async Task<string?> EvaluateAsync(string expression, CancellationToken cancellationToken = default)
    {
        var result = await _devtools.SendAsync("Runtime.evaluate", new { expression, returnByValue = true }, _session, cancellationToken);
        return result["result"]?["value"]?.ToString();
    }

    public async Task<byte[]> ScreenshotAsync(CancellationToken cancellationToken)
    {
        var shot = await _devtools.SendAsync("Page.captureScreenshot", new { format = "png" }, _session, cancellationToken);
        return Convert.FromBase64String((string)shot["data"]!);
    }

    public async Task ExecuteAsync(AgentAction action, CancellationToken cancellationToken)
    {
        switch (action.Kind)
        {
            case "CLICK" or "TAP" or "SELECT":
                await ClickAsync(action.Position!.Value, action.Button, cancellationToken);
                break;
            case "HOVER":
                await MouseAsync("mouseMoved", action.Position!.Value, "none", 0, cancellationToken);
                break;
            case "INPUT":
                await ClickAsync(action.Position!.Value, "left", cancellationToken);
                var lines = action.Value!.Split('\n');
                for (var i = 0; i < lines.Length; i++)
                {
                    if (lines[i].Length > 0)
                    {
                        await _devtools.SendAsync("Input.insertText", new { text = lines[i] }, _session, cancellationToken);
                    }
                    if (i < lines.Length - 1)
                    {
                        await EnterAsync(cancellationToken);
                    }
                }
                break;
            case "ENTER":
                await EnterAsync(cancellationToken);
                break;
            case "SCROLL":
                var (dx, dy) = (action.Value?.ToLowerInvariant()) switch
                {
                    "up" => (0, -120),
                    "left" => (-120, 0),
                    "right" => (120, 0),
                    _ => (0, 120),
                };
                var at = action.Position ?? new ScreenPoint(0.5, 0.5);
                var (x, y) = at.ToPixels(_width, _height);
                await _devtools.SendAsync("Input.dispatchMouseEvent",
                    new { type = "mouseWheel", x, y, deltaX = dx * action.Amount, deltaY = dy * action.Amount }, _session, cancellationToken);
                break;
            case "SELECT_TEXT" or "SWIPE":
                await MouseAsync("mouseMoved", action.Position!.Value, "none", 0, cancellationToken);
                await MouseAsync("mousePressed", action.Position.Value, "left", 1, cancellationToken);
                await MouseAsync("mouseMoved", action.End!.Value, "left", 0, cancellationToken);
                await MouseAsync("mouseReleased", action.End.Value, "left", 1, cancellationToken);
                break;
            case "COPY":
                await KeyAsync("keyDown", "c", "KeyC", 67, modifiers: 2, cancellationToken);
                await KeyAsync("keyUp", "c", "KeyC", 67, modifiers: 2, cancellationToken);
                break;
            case "ANSWER" or "DONE":
                break;
            default:
                throw new ArgumentException($"unknown action {action.Kind}", nameof(action));
        }
    }

    private async Task ClickAsync(ScreenPoint at, string button, CancellationToken cancellationToken)
    {
        await MouseAsync("mouseMoved", at, "none", 0, cancellationToken);
        await MouseAsync("mousePressed", at, button, 1, cancellationToken);
        await MouseAsync("mouseReleased", at, button, 1, cancellationToken);
    }

    private Task MouseAsync(string type, ScreenPoint at, string button, int clickCount, CancellationToken cancellationToken)
    {
        var (x, y) = at.ToPixels(_width, _height);
        return _devtools.SendAsync("Input.dispatchMouseEvent", new { type, x, y, button, clickCount }, _session, cancellationToken);
    }

    private async Task EnterAsync(CancellationToken cancellationToken)
    {
        await _devtools.SendAsync("Input.dispatchKeyEvent",
            new { type = "keyDown", key = "Enter", code = "Enter", windowsVirtualKeyCode = 13, text = "\r" }, _session, cancellationToken);
        await KeyAsync("keyUp", "Enter", "Enter", 13, 0, cancellationToken);
    }

    private Task KeyAsync(string type, string key, string code, int virtualKey, int modifiers, CancellationToken cancellationToken) =>
        _devtools.SendAsync("Input.dispatchKeyEvent", new { type, key, code, windowsVirtualKeyCode = virtualKey, modifiers }, _session, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _devtools.DisposeAsync();
        Kill(_process, _profile);
    }

    private static void Kill(Process process, string profile)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        process.Dispose();
        try
        {
            Directory.Delete(profile, recursive: true);
        }
        catch (IOException)
        {
            // Chromium's crash handler may still hold a file for a moment; a leftover temp profile is harmless.
        }
    }
}
