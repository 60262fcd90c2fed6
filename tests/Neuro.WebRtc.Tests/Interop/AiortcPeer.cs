using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;

namespace Neuro.WebRtc.Tests.Interop;

/// <summary>The aiortc peer process (peers/aiortc_peer.py), one JSON message per line each way.</summary>
internal sealed class AiortcPeer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<JsonElement> _messages = Channel.CreateUnbounded<JsonElement>();
    private readonly System.Text.StringBuilder _stderr = new();
    private readonly Task _reader;

    private AiortcPeer(Process process)
    {
        _process = process;
        _reader = Task.Run(ReadAsync);
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();
    }

    public static AiortcPeer Start(string mode, double seconds = 20)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "peers", "aiortc_peer.py");
        var info = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(mode);
        info.ArgumentList.Add("--seconds");
        info.ArgumentList.Add(seconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return new AiortcPeer(Process.Start(info)!);
    }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    private async Task ReadAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.Length == 0) continue;
                using var doc = JsonDocument.Parse(line);
                _messages.Writer.TryWrite(doc.RootElement.Clone());
            }
        }
        finally
        {
            _messages.Writer.TryComplete();
        }
    }

    public async Task SendAsync(object message)
    {
        await _process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(message));
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>The next message matching <paramref name="predicate"/>; earlier ones are passed to <paramref name="skipped"/>.</summary>
    public async Task<JsonElement> WaitForAsync(Func<JsonElement, bool> predicate, TimeSpan timeout, Action<JsonElement>? skipped = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var message = await _messages.Reader.ReadAsync(cts.Token);
                if (predicate(message)) return message;
                skipped?.Invoke(message);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            throw new TimeoutException($"aiortc peer: no expected message within {timeout.TotalSeconds} s. stderr:\n{Stderr}");
        }
    }

    /// <summary>Drains messages that arrived so far, without waiting.</summary>
    public List<JsonElement> Drain()
    {
        var list = new List<JsonElement>();
        while (_messages.Reader.TryRead(out var m)) list.Add(m);
        return list;
    }

    public static bool IsType(JsonElement e, string type) => e.TryGetProperty("type", out var t) && t.GetString() == type;
    public static bool IsEvent(JsonElement e, string name) => e.TryGetProperty("event", out var t) && t.GetString() == name;

    private bool _disposed;

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            _process.StandardInput.Close(); // the peer closes its connection and exits
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (Exception)
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        try { await _reader.WaitAsync(TimeSpan.FromSeconds(2)); } catch (Exception) { }
        _process.Dispose();
    }
}
