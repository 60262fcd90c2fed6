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
        if (Array.IndexOf(args, "--e2e") >= 0)
        {
            return await EndToEndAsync(int.Parse(Option(args, "--e2e", "100"), CultureInfo.InvariantCulture),
                int.Parse(Option(args, "--workers", "10"), CultureInfo.InvariantCulture));
        }
        var rate = int.Parse(Option(args, "--rate", "500"), CultureInfo.InvariantCulture);
        var seconds = double.Parse(Option(args, "--seconds", "10"), CultureInfo.InvariantCulture);
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Neuro:Auth:Mode"] = "jwt",
            ["Neuro:Auth:SigningKey"] = Key,
            ["Neuro:Auth:RequestsPerMinute"] = "0",
            ["Neuro:Agents:DefaultPoolWorkers"] = "0",
            ["Neuro:Quotas:MaxActiveTasksPerTenant"] = "1000000", // nothing runs here, so every submitted task stays active
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

    /// <summary>N scripted tasks submitted at once to a pool of W agent workers (W headless Chromiums at a time); every
    /// task must reach "completed" — none lost, none run twice.</summary>
    private static async Task<int> EndToEndAsync(int tasks, int workers)
    {
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Neuro:Auth:Mode"] = "jwt",
            ["Neuro:Auth:SigningKey"] = Key,
            ["Neuro:Auth:RequestsPerMinute"] = "0",
            ["Neuro:Agents:DefaultPoolWorkers"] = workers.ToString(CultureInfo.InvariantCulture),
            ["Neuro:Dashboard"] = "false",
        });
        using var http = new HttpClient { BaseAddress = silo.Rest, Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token());
        const string hover = "{\"action\": \"HOVER\", \"value\": null, \"position\": [0.5, 0.5]}";
        var body = "{\"task\": \"e2e\", \"options\": {\"screen_resolution\": \"640x480\"}, \"actions\": [" +
                   string.Join(", ", Enumerable.Repeat(hover, 3)) + ", {\"action\": \"ANSWER\", \"value\": \"ok\", \"position\": null}]}";
        var clock = Stopwatch.StartNew();
        var ids = await Task.WhenAll(Enumerable.Range(0, tasks).Select(async _ =>
        {
            using var response = await http.PostAsync("/api/v1/tasks", new StringContent(body, Encoding.UTF8, "application/json"));
            response.EnsureSuccessStatusCode();
            return System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("task_id").GetString()!;
        }));
        var submitted = clock.Elapsed;
        var states = new Dictionary<string, (string Status, int Attempts)>();
        while (clock.Elapsed < TimeSpan.FromMinutes(10))
        {
            foreach (var id in ids)
            {
                var task = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"/api/v1/tasks/{id}")).RootElement;
                states[id] = (task.GetProperty("status").GetString()!, task.GetProperty("attempts").GetInt32());
            }
            if (states.Values.All(s => s.Status is not ("queued" or "running")))
            {
                break;
            }
            await Task.Delay(500);
        }
        var completed = states.Values.Count(s => s.Status == "completed");
        var reruns = states.Values.Count(s => s.Attempts > 1);
        Console.WriteLine($"{tasks} scripted tasks (3 HOVER + ANSWER, 640x480) on {workers} agent workers, JWT auth on, {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine("| measure | ours | limit |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| submitted (all {tasks}) in s | {submitted.TotalSeconds:0.00} | |");
        Console.WriteLine($"| all finished in s | {clock.Elapsed.TotalSeconds:0.0} | |");
        Console.WriteLine($"| completed | {completed} | {tasks} |");
        Console.WriteLine($"| lost (not finished or failed) | {tasks - completed} | 0 |");
        Console.WriteLine($"| run more than once | {reruns} | 0 |");
        Console.WriteLine($"| tasks/s end to end | {tasks / clock.Elapsed.TotalSeconds:0.00} | |");
        return completed == tasks ? 0 : 1;
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
