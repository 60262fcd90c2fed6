using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Threading.Channels;

namespace Neuro.WebRtc.Tests.Interop;

/// <summary>
/// Headless Chromium on a page served by an in-test HTTP listener. The page signals by plain HTTP: POSTs arrive in
/// <see cref="WaitForPostAsync"/>, GETs other than "/" are answered from <see cref="Reply"/> once the test sets it.
/// </summary>
internal sealed class ChromiumPage : IAsyncDisposable
{
    private readonly HttpListener _http = new();
    private readonly Process _chromium;
    private readonly string _profile;
    private readonly Channel<(string Path, string Body)> _posts = Channel.CreateUnbounded<(string, string)>();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<string>> _replies = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _server;

    public ChromiumPage(string html, bool mdns = false)
    {
        int port = Neuro.Testing.FreePort.Next();
        _http.Prefixes.Add($"http://127.0.0.1:{port}/");
        _http.Start();
        _server = Task.Run(() => ServeAsync(html));
        _profile = Directory.CreateTempSubdirectory("neuro-webrtc-chromium-").FullName;
        var start = new ProcessStartInfo("/usr/bin/chromium") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var flag in new[]
                 {
                     "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
                     // Loopback candidates, and plain addresses instead of mDNS names (see notes-dotnet-stack.md §5).
                     "--allow-loopback-in-peer-connection",
                     mdns ? "--enable-features=WebRtcHideLocalIpsWithMdns" : "--disable-features=WebRtcHideLocalIpsWithMdns",
                     $"--user-data-dir={_profile}", $"http://127.0.0.1:{port}/",
                 }) start.ArgumentList.Add(flag);
        _chromium = Process.Start(start)!;
        _chromium.ErrorDataReceived += (_, _) => { };
        _chromium.OutputDataReceived += (_, _) => { };
        _chromium.BeginErrorReadLine();
        _chromium.BeginOutputReadLine();
    }

    /// <summary>Everything the page posted to paths nobody waited for (its /log and /state reports).</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    public TaskCompletionSource<string> Reply(string path) => _replies.GetOrAdd(path, _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));

    public async Task<string> WaitForPostAsync(string path, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var (p, body) = await _posts.Reader.ReadAsync(cts.Token);
                if (p == path) return body;
                Log.Enqueue($"{p}: {body}");
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"Chromium posted nothing to {path} within {timeout.TotalSeconds} s; page said: {string.Join(" | ", Log)}");
        }
    }

    private async Task ServeAsync(string html)
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await _http.GetContextAsync(); } catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                try
                {
                    string body = await new StreamReader(context.Request.InputStream).ReadToEndAsync();
                    string path = context.Request.Url!.AbsolutePath;
                    string reply = "";
                    if (path == "/")
                    {
                        reply = html;
                        context.Response.ContentType = "text/html";
                    }
                    else if (context.Request.HttpMethod == "POST") _posts.Writer.TryWrite((path, body));
                    else reply = await Reply(path).Task.WaitAsync(TimeSpan.FromSeconds(20));
                    byte[] bytes = Encoding.UTF8.GetBytes(reply);
                    context.Response.OutputStream.Write(bytes);
                    context.Response.Close();
                }
                catch (Exception)
                {
                    context.Response.Abort();
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_chromium.HasExited) _chromium.Kill(entireProcessTree: true);
        try { await _chromium.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)); } catch (TimeoutException) { }
        _chromium.Dispose();
        _stop.Cancel();
        _http.Stop();
        try { await _server.WaitAsync(TimeSpan.FromSeconds(2)); } catch (Exception) { }
        _http.Close();
        _stop.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
