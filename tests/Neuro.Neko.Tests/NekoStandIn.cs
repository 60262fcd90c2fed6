using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Neuro.Neko.Tests;

/// <summary>The Neko v3 stand-in process (peers/neko_standin.py: aiohttp + aiortc under /usr/bin/python3).</summary>
internal sealed class NekoStandIn : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _stderr = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private NekoStandIn(Process process, int port)
    {
        _process = process;
        Port = port;
        BaseUrl = new Uri($"http://127.0.0.1:{port}/");
    }

    public int Port { get; }
    public Uri BaseUrl { get; }
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    public static async Task<NekoStandIn> StartAsync(bool cookie = false, double heartbeat = 1.0, int port = 0, bool jpeg = false)
    {
        var info = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "peers", "neko_standin.py"));
        info.ArgumentList.Add("--heartbeat");
        info.ArgumentList.Add(heartbeat.ToString(System.Globalization.CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--port");
        info.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (cookie) info.ArgumentList.Add("--cookie");
        if (jpeg) info.ArgumentList.Add("--jpeg");
        var process = Process.Start(info)!;
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        string? line;
        try
        {
            line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (TimeoutException)
        {
            process.Kill(true);
            throw new TimeoutException("the Neko stand-in did not start: " + stderr);
        }
        if (line is null) throw new InvalidOperationException("the Neko stand-in exited: " + stderr);
        int p = JsonDocument.Parse(line).RootElement.GetProperty("port").GetInt32();
        var standIn = new NekoStandIn(process, p);
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (standIn._stderr) standIn._stderr.AppendLine(e.Data); };
        return standIn;
    }

    public async Task<List<JsonElement>> InputsAsync()
    {
        var doc = await _http.GetFromJsonAsync<JsonElement>(new Uri(BaseUrl, "test/input"));
        return doc.EnumerateArray().Select(e => e.Clone()).ToList();
    }

    public async Task<JsonElement> StateAsync() => await _http.GetFromJsonAsync<JsonElement>(new Uri(BaseUrl, "test/state"));

    public async Task ChatFromOtherAsync(string text) => (await _http.PostAsJsonAsync(new Uri(BaseUrl, "test/chat"), new { text })).EnsureSuccessStatusCode();

    public async Task GarbageAsync(int count, int seed) =>
        (await _http.PostAsJsonAsync(new Uri(BaseUrl, "test/garbage"), new { count, seed })).EnsureSuccessStatusCode();

    public async Task DropAsync() => (await _http.PostAsJsonAsync(new Uri(BaseUrl, "test/drop"), new { })).EnsureSuccessStatusCode();

    /// <summary>Polls the recorded input until <paramref name="done"/> holds (bounded).</summary>
    public async Task<List<JsonElement>> WaitForInputsAsync(Func<List<JsonElement>, bool> done, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var inputs = await InputsAsync();
            if (done(inputs)) return inputs;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"stand-in input not as expected within {timeout.TotalSeconds} s: {string.Join("\n", inputs)}\nstderr:\n{Stderr}");
            await Task.Delay(50);
        }
    }

    /// <summary>SIGSTOP / SIGCONT: a server that hangs without closing anything (sockets stay open, nothing answers).</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit(5000);
    }

    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (Exception)
        {
            Kill();
        }
        _process.Dispose();
        _http.Dispose();
    }
}

internal static class Inputs
{
    /// <summary>A compact line per recorded input, so sequences compare as strings.</summary>
    public static string Describe(JsonElement e)
    {
        string via = e.GetProperty("via").GetString()!;
        if (via == "dc")
        {
            string op = e.GetProperty("op").GetString()!;
            return op switch
            {
                "move" => $"dc move {e.GetProperty("x")} {e.GetProperty("y")}",
                "scroll" => $"dc scroll {e.GetProperty("dx")} {e.GetProperty("dy")} ctrl={e.GetProperty("control")} len={e.GetProperty("len")}",
                "keydown" or "keyup" => $"dc {op} 0x{e.GetProperty("keysym").GetUInt32():x}",
                "buttondown" or "buttonup" => $"dc {op} {e.GetProperty("code")}",
                _ => $"dc {e}",
            };
        }
        if (via == "ws")
        {
            string ev = e.GetProperty("event").GetString()!;
            return ev switch
            {
                "control/move" => $"ws move {e.GetProperty("x")} {e.GetProperty("y")}",
                "control/buttonpress" or "control/buttondown" or "control/buttonup" => $"ws {ev[8..]} {e.GetProperty("code")}",
                "control/keypress" or "control/keydown" or "control/keyup" => $"ws {ev[8..]} 0x{e.GetProperty("keysym").GetUInt32():x}",
                "control/scroll" => $"ws scroll {e.GetProperty("delta_x")} {e.GetProperty("delta_y")} ctrl={e.GetProperty("control_key")}",
                _ => $"ws {e}",
            };
        }
        if (via == "chat") return "chat " + e.GetProperty("text").GetString();
        return via + " " + e.GetProperty("op").GetString();
    }

    public static List<string> Input(IEnumerable<JsonElement> all) =>
        all.Select(Describe).Where(s => s.StartsWith("dc ", StringComparison.Ordinal) || s.StartsWith("ws ", StringComparison.Ordinal)).ToList();
}
