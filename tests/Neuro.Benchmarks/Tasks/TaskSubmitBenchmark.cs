using System.Diagnostics;
using System.Globalization;
using System.IdentityModel.Tokens.Jwt;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text;
using Microsoft.IdentityModel.Tokens;
using Neuro.Testing;

namespace Neuro.Benchmarks.Tasks;

/// <summary>POST /api/v1/tasks at a fixed offered rate (open loop) against a real silo process with JWT auth on: each
/// request is authenticated, validated, persisted and queued before it is answered. The default pool has no workers
/// here, so what is measured is the submit path, not browsers.</summary>
public static class TaskSubmitBenchmark
{
    private const string Key = "benchmark-signing-key-that-is-long-enough-0123";

    public static async Task<int> RunAsync(string[] args)
    {
        var rate = int.Parse(Option(args, "--rate", "500"), CultureInfo.InvariantCulture);
        var seconds = double.Parse(Option(args, "--seconds", "10"), CultureInfo.InvariantCulture);
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Neuro:Auth:Mode"] = "jwt",
            ["Neuro:Auth:SigningKey"] = Key,
            ["Neuro:Auth:RequestsPerMinute"] = "0",
            ["Neuro:Agents:DefaultPoolWorkers"] = "0",
            ["Neuro:Dashboard"] = "false",
        });
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = silo.Rest };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token());
        const string body = """{"task": "benchmark task", "mode": "web", "max_steps": 10, "timeout": 300, "options": {"screen_resolution": "1280x800"}}""";

        async Task<(long Ticks, bool Ok)> Post()
        {
            var start = Stopwatch.GetTimestamp();
            using var response = await http.PostAsync("/api/v1/tasks", new StringContent(body, Encoding.UTF8, "application/json"));
            return (Stopwatch.GetTimestamp() - start, response.IsSuccessStatusCode);
        }

        for (var i = 0; i < 500; i++)
        {
            await Post(); // warm-up: JIT, connections, grain activations of the pool and index
        }

        var interval = TimeSpan.FromSeconds(1.0 / rate);
        var total = (int)(rate * seconds);
        var calls = new List<Task<(long Ticks, bool Ok)>>(total);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < total; i++)
        {
            var due = interval * i;
            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait);
            }
            calls.Add(Post());
        }
        var results = await Task.WhenAll(calls);
        var elapsed = clock.Elapsed.TotalSeconds;
        var ms = results.Select(r => r.Ticks * 1000.0 / Stopwatch.Frequency).Order().ToArray();
        double Pct(double p) => ms[Math.Min(ms.Length - 1, (int)(p * ms.Length))];
        var failed = results.Count(r => !r.Ok);

        Console.WriteLine($"POST /api/v1/tasks, JWT auth on, offered {rate}/s for {seconds:0} s ({total} requests), {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine("| measure | ours | limit |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| achieved rate (req/s) | {total / elapsed:N0} | offered {rate} |");
        Console.WriteLine($"| p50 latency (ms) | {Pct(0.50):0.00} | seed: < 2000 |");
        Console.WriteLine($"| p99 latency (ms) | {Pct(0.99):0.00} | aim: < 10 |");
        Console.WriteLine($"| max latency (ms) | {ms[^1]:0.0} | |");
        Console.WriteLine($"| non-2xx responses | {failed} | 0 |");
        return failed == 0 ? 0 : 1;
    }

    private static string Token()
    {
        var credentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(Key)), SecurityAlgorithms.HmacSha256);
        var jwt = new JwtSecurityToken(null, null, [new Claim("sub", "bench"), new Claim("role", "submitter"), new Claim("tenant", "bench")],
            DateTime.UtcNow, DateTime.UtcNow.AddHours(1), credentials);
        return new JwtSecurityTokenHandler().WriteToken(jwt);
    }

    private static string Option(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
