using System.Diagnostics;
using StackExchange.Redis;

namespace Neuro.Cluster.Tests.Infrastructure;

/// <summary>A real Debian redis-server on a free loopback port, started for the test collection and stopped after it.
/// Fails loudly when redis-server is missing: these tests never pass by skipping.</summary>
public sealed class RedisServer : IAsyncLifetime
{
    private Process? _process;
    private string? _dir;

    public string ConnectionString { get; private set; } = "";

    public ConnectionMultiplexer Connection { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var binary = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed: run ./test.sh, which installs it with apt-get");
        var port = FreePort.Next();
        _dir = Directory.CreateTempSubdirectory("neuro-redis-").FullName;
        _process = Process.Start(new ProcessStartInfo(binary)
        {
            ArgumentList = { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _dir, "--protected-mode", "yes" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("could not start redis-server");
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        ConnectionString = $"127.0.0.1:{port}";
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            try
            {
                Connection = await ConnectionMultiplexer.ConnectAsync($"{ConnectionString},connectTimeout=500,abortConnect=true");
                await Connection.GetDatabase().PingAsync();
                return;
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Every key whose name contains <paramref name="fragment"/>.</summary>
    public async Task<List<string>> KeysContainingAsync(string fragment)
    {
        var server = Connection.GetServer(Connection.GetEndPoints()[0]);
        var keys = new List<string>();
        await foreach (var key in server.KeysAsync(pattern: $"*{fragment}*"))
        {
            keys.Add(key.ToString());
        }
        return keys;
    }

    public async Task DisposeAsync()
    {
        if (Connection is not null)
        {
            await Connection.DisposeAsync();
        }
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        if (_dir is not null)
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServer>
{
    public const string Name = "redis";
}
