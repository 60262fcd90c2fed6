using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Neuro.Abstractions;
using Neuro.Client;
using Neuro.Core.Sessions;
using Neuro.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using StackExchange.Redis;

namespace Neuro.Benchmarks.Sessions;

/// <summary>Session-turn throughput and latency: the grain path (Orleans client and REST, against a real silo process)
/// beside a stateless baseline that reads and writes the whole session in Redis on every call.</summary>
public static class SessionBenchmark
{
    private const double TargetCallsPerSecond = 50_000;
    private const double TargetP99Ms = 5;

    public static async Task<int> RunAsync(string[] args)
    {
        var callers = Option(args, "--callers", "1,16,64").Split(',').Select(int.Parse).ToArray();
        var window = TimeSpan.FromSeconds(double.Parse(Option(args, "--seconds", "5"), CultureInfo.InvariantCulture));
        var warmup = TimeSpan.FromSeconds(double.Parse(Option(args, "--warmup", "2"), CultureInfo.InvariantCulture));
        var turnsPerSession = int.Parse(Option(args, "--turns-per-session", "20"));
        // Each scenario group first runs unmeasured at the highest caller count, so JIT tiering and connection pools
        // settle before the first measured window (otherwise whichever scenario runs first looks worst).
        var groupWarmup = TimeSpan.FromSeconds(double.Parse(Option(args, "--group-warmup", "5"), CultureInfo.InvariantCulture));
        var contentChars = int.Parse(Option(args, "--content-chars", "200"));
        var content = new string('x', contentChars);
        // Extra silo settings, e.g. --set Neuro:ExportOrleansMeters=false (repeatable).
        var extra = args.Select((a, i) => (a, i)).Where(p => p.a == "--set" && p.i + 1 < args.Length)
            .Select(p => args[p.i + 1].Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
        var scenarios = Option(args, "--storage", "memory,redis").Split(',');
        Console.WriteLine($"session-turn benchmark (each call appends one turn, acknowledged after it is stored): callers {string.Join(",", callers)}, {warmup.TotalSeconds:0.#} s warm-up + {window.TotalSeconds:0.#} s window, " +
                          $"{turnsPerSession} turns per session then a fresh one, {contentChars}-char turns, {Environment.ProcessorCount} cores");

        await using var redis = await RedisProcess.StartAsync();
        var results = new List<LoadResult>();
        var run = Guid.NewGuid().ToString("N")[..8];

        foreach (var (label, settings) in new[]
                 {
                     ("memory", new Dictionary<string, string> { ["Neuro:Dashboard"] = "false" }),
                     ("redis", new Dictionary<string, string> { ["Neuro:Cluster"] = "redis", ["Neuro:Redis"] = redis.ConnectionString }),
                 }.Where(s => scenarios.Contains(s.Item1)))
        {
            foreach (var (key, value) in extra)
            {
                settings[key] = value;
            }
            await using var silo = await SiloProcess.StartAsync(settings);
            using var client = await StartClientAsync(silo, label == "redis" ? redis.ConnectionString : null);
            var neuro = client.Services.GetRequiredService<INeuroClient>();
            Func<int, Func<Task>> OrleansCaller(string tag) => c => TurnLoop($"{run}-{label}-{tag}-{c}", turnsPerSession,
                id => neuro.OpenSessionAsync(id),
                id => neuro.AppendTurnAsync(id, new TurnInput("user", content, PromptTokens: 50)));
            await LoadRunner.RunAsync("warm-up", callers.Max(), TimeSpan.Zero, groupWarmup, OrleansCaller("warm"));
            foreach (var n in callers)
            {
                results.Add(await LoadRunner.RunAsync($"grain via Orleans client ({label} storage)", n, warmup, window, OrleansCaller($"c{n}")));
                Report(results[^1]);
            }
            if (label == "memory")
            {
                using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = silo.Rest };
                Func<int, Func<Task>> RestCaller(string tag) => c => TurnLoop($"{run}-rest-{tag}-{c}", turnsPerSession,
                    async id => (await http.PostAsJsonAsync("/api/v1/sessions", new { session_id = id })).EnsureSuccessStatusCode(),
                    async id => (await http.PostAsJsonAsync($"/api/v1/sessions/{id}/turns", new { role = "user", content, prompt_tokens = 50 })).EnsureSuccessStatusCode());
                await LoadRunner.RunAsync("warm-up", callers.Max(), TimeSpan.Zero, groupWarmup, RestCaller("warm"));
                foreach (var n in callers)
                {
                    results.Add(await LoadRunner.RunAsync("grain via REST front door (memory storage)", n, warmup, window, RestCaller($"c{n}")));
                    Report(results[^1]);
                }
            }
            await client.StopAsync();
        }

        var baseline = new StatelessRedisTurns(redis.Connection.GetDatabase(), new SessionLimits());
        Func<int, Func<Task>> BaselineCaller(string tag) => c => TurnLoop($"{run}-base-{tag}-{c}", turnsPerSession,
            baseline.OpenAsync, id => baseline.AppendAsync(id, "user", content, 50));
        await LoadRunner.RunAsync("warm-up", callers.Max(), TimeSpan.Zero, groupWarmup, BaselineCaller("warm"));
        foreach (var n in callers)
        {
            results.Add(await LoadRunner.RunAsync("baseline: stateless handler, session in Redis", n, warmup, window, BaselineCaller($"c{n}")));
            Report(results[^1]);
        }

        // The same baseline behind an HTTP endpoint, for a like-for-like comparison with the REST front door.
        await using (var web = await StartBaselineServerAsync(baseline))
        {
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = new Uri(web.Url) };
            Func<int, Func<Task>> RestBaselineCaller(string tag) => c => TurnLoop($"{run}-rbase-{tag}-{c}", turnsPerSession,
                async id => (await http.PostAsync($"/baseline/sessions/{id}", null)).EnsureSuccessStatusCode(),
                async id => (await http.PostAsJsonAsync($"/baseline/sessions/{id}/turns", new { role = "user", content, prompt_tokens = 50 })).EnsureSuccessStatusCode());
            await LoadRunner.RunAsync("warm-up", callers.Max(), TimeSpan.Zero, groupWarmup, RestBaselineCaller("warm"));
            foreach (var n in callers)
            {
                results.Add(await LoadRunner.RunAsync("baseline over REST: stateless handler, session in Redis", n, warmup, window, RestBaselineCaller($"c{n}")));
                Report(results[^1]);
            }
        }

        PrintTable(results, extra);
        return 0;
    }

    private static Func<Task> TurnLoop(string prefix, int turnsPerSession, Func<string, Task> open, Func<string, Task> append)
    {
        var session = 0;
        var turns = turnsPerSession;
        var id = "";
        return async () =>
        {
            if (turns == turnsPerSession)
            {
                id = $"{prefix}-{session++}";
                turns = 0;
                await open(id);
            }
            await append(id);
            turns++;
        };
    }

    private static Task<LocalSite> StartBaselineServerAsync(StatelessRedisTurns baseline) => LocalSite.StartAsync(app =>
    {
        app.MapPost("/baseline/sessions/{id}", async (string id) =>
        {
            await baseline.OpenAsync(id);
            return Results.Ok();
        });
        app.MapPost("/baseline/sessions/{id}/turns", async (string id, BaselineTurn turn) =>
        {
            await baseline.AppendAsync(id, turn.role, turn.content, turn.prompt_tokens);
            return Results.Ok();
        });
    });

    private sealed record BaselineTurn(string role, string content, int prompt_tokens);

    private static async Task<IHost> StartClientAsync(SiloProcess silo, string? redis)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddNeuroClient(o =>
        {
            o.ClusterId = silo.ClusterId;
            o.GatewayPort = silo.GatewayPort;
            if (redis is not null)
            {
                o.Cluster = NeuroClusterKind.Redis;
                o.Redis = redis;
            }
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static void Report(LoadResult r) =>
        Console.WriteLine($"  {r.Scenario,-48} callers {r.Callers,3}: {r.CallsPerSecond,9:N0} calls/s  p50 {r.P50Ms,6:0.000} ms  p99 {r.P99Ms,7:0.000} ms  errors {r.Errors}");

    private static void PrintTable(List<LoadResult> results, Dictionary<string, string> extra)
    {
        Console.WriteLine();
        Console.WriteLine("| scenario | callers | calls/s | p50 ms | p99 ms | max ms | throughput vs baseline (REST vs REST baseline, others vs direct baseline) | errors |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            // REST scenarios compare with the REST baseline, the others with the direct one.
            var rest = r.Scenario.Contains("REST", StringComparison.Ordinal);
            var baseline = results.Single(b => b.Scenario.StartsWith(rest ? "baseline over REST" : "baseline: ", StringComparison.Ordinal) && b.Callers == r.Callers);
            var settings = extra.Count == 0 ? "" : $" [{string.Join(", ", extra.Select(kv => $"{kv.Key}={kv.Value}"))}]";
            Console.WriteLine($"| {r.Scenario}{(r.Scenario.StartsWith("baseline", StringComparison.Ordinal) ? "" : settings)} | {r.Callers} | {r.CallsPerSecond:N0} | {r.P50Ms:0.000} | {r.P99Ms:0.000} | {r.MaxMs:0.0} | {r.CallsPerSecond / baseline.CallsPerSecond:0.00}x | {r.Errors} |");
        }
        var best = results.Where(r => r.Scenario.StartsWith("grain via Orleans client (memory", StringComparison.Ordinal)).MaxBy(r => r.CallsPerSecond)!;
        Console.WriteLine();
        Console.WriteLine($"limit (issue #2, 2-core box): >= {TargetCallsPerSecond:N0} calls/s through the Orleans client with p99 < {TargetP99Ms} ms; " +
                          $"best measured: {best.CallsPerSecond:N0} calls/s at {best.Callers} callers, p99 {best.P99Ms:0.00} ms " +
                          $"({(best.CallsPerSecond >= TargetCallsPerSecond && best.P99Ms < TargetP99Ms ? "met" : "NOT met")})");
    }

    private static string Option(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}

/// <summary>The baseline: what a stateless front end does without session affinity — every turn reads the whole session
/// from Redis, applies the same rules, and writes it back. (No WATCH/MULTI: each caller owns its sessions, so this is the
/// baseline's best case.)</summary>
internal sealed class StatelessRedisTurns(IDatabase db, SessionLimits limits)
{
    public async Task OpenAsync(string id)
    {
        var state = new ConversationState();
        state.Open(null, null, null, limits, DateTimeOffset.UtcNow);
        await db.StringSetAsync(Key(id), JsonSerializer.SerializeToUtf8Bytes(state), limits.IdleTtl);
    }

    public async Task AppendAsync(string id, string role, string content, int promptTokens)
    {
        var raw = await db.StringGetAsync(Key(id));
        var state = raw.IsNull ? throw new InvalidOperationException($"session {id} not found") : JsonSerializer.Deserialize<ConversationState>((byte[])raw!)!;
        if (state.ValidateTurn(role, content, promptTokens, 0, limits) is { } error)
        {
            throw new InvalidOperationException(error.Message);
        }
        state.Append(role, content, promptTokens, 0, DateTimeOffset.UtcNow);
        await db.StringSetAsync(Key(id), JsonSerializer.SerializeToUtf8Bytes(state), limits.IdleTtl);
    }

    private static string Key(string id) => $"baseline/session/{id}";
}
