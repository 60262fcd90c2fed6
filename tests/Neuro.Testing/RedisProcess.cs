using System.Diagnostics;
using StackExchange.Redis;

namespace Neuro.Testing;

/// <summary>A real Debian redis-server on a free loopback port, with no persistence, owned by this process.</summary>
public sealed class RedisProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;

    private RedisProcess(Process process, string dir, string connectionString, ConnectionMultiplexer connection)
    {
        _process = process;
        _dir = dir;
        ConnectionString = connectionString;
        Connection = connection;
    }

    public string ConnectionString { get; }

    public ConnectionMultiplexer Connection { get; }

    /// <summary>Starts redis-server; fails loudly when it is not installed (./test.sh installs it).</summary>
    public static async Task<RedisProcess> StartAsync()
    {
        var binary = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed: run ./test.sh, which installs it with apt-get");
        var port = FreePort.Next();
        var dir = Directory.CreateTempSubdirectory("neuro-redis-").FullName;
        var process = Process.Start(new ProcessStartInfo(binary)
        {
            ArgumentList = { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("could not start redis-server");
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        var connectionString = $"127.0.0.1:{port}";
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            try
            {
                var connection = await ConnectionMultiplexer.ConnectAsync($"{connectionString},connectTimeout=500,abortConnect=true");
                await connection.GetDatabase().PingAsync();
                return new RedisProcess(process, dir, connectionString, connection);
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline && !process.HasExited)
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

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
