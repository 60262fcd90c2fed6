using System.Diagnostics;

namespace Neuro.Testing;

/// <summary>A real silo process (Neuro.Silo.dll from the caller's output folder) on free loopback ports,
/// ready once its health endpoint answers.</summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output;

    private SiloProcess(Process process, System.Collections.Concurrent.ConcurrentQueue<string> output, Uri rest, Uri grpc, int gatewayPort, string clusterId)
    {
        _process = process;
        _output = output;
        Rest = rest;
        Grpc = grpc;
        GatewayPort = gatewayPort;
        ClusterId = clusterId;
    }

    public Uri Rest { get; }

    public Uri Grpc { get; }

    public int GatewayPort { get; }

    public string ClusterId { get; }

    public int ProcessId => _process.Id;

    /// <summary>What the process wrote to stdout and stderr so far, line by line.</summary>
    public IReadOnlyCollection<string> Output => _output;

    public static async Task<SiloProcess> StartAsync(IReadOnlyDictionary<string, string> settings, string? clusterId = null, TimeSpan? timeout = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Neuro.Silo.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException("Neuro.Silo.dll is not beside this program: reference the silo project", dll);
        }
        clusterId ??= $"neuro-{Guid.NewGuid():N}";
        var rest = new Uri($"http://127.0.0.1:{FreePort.Next()}");
        var grpc = new Uri($"http://127.0.0.1:{FreePort.Next()}");
        var gatewayPort = FreePort.Next();
        var all = new Dictionary<string, string>
        {
            ["Kestrel:Endpoints:Rest:Url"] = rest.ToString().TrimEnd('/'),
            ["Kestrel:Endpoints:Grpc:Url"] = grpc.ToString().TrimEnd('/'),
            ["Neuro:SiloPort"] = FreePort.Next().ToString(),
            ["Neuro:GatewayPort"] = gatewayPort.ToString(),
            ["Neuro:ClusterId"] = clusterId,
            ["Logging:LogLevel:Default"] = "Warning",
            ["Neuro:Auth:Mode"] = "off",
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var (key, value) in all)
        {
            start.ArgumentList.Add($"--{key}={value}");
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the silo");
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { output.Enqueue(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { output.Enqueue(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                if ((await http.GetAsync(new Uri(rest, "/api/v1/health"))).IsSuccessStatusCode)
                {
                    return new SiloProcess(process, output, rest, grpc, gatewayPort, clusterId);
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(200);
        }
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }
        throw new InvalidOperationException($"the silo did not become healthy:{Environment.NewLine}{string.Join(Environment.NewLine, output.TakeLast(40))}");
    }

    /// <summary>SIGKILL: the process gets no chance to hand anything off.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
