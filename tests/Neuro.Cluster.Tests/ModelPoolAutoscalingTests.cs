using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Neuro.Abstractions;
using Neuro.Cluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Neuro.Cluster.Tests;

/// <summary>Live token-aware autoscaling of model serving on the dev cluster: real turns of the generated ONNX model feed
/// the model's pool grain, whose scaler (queueing view of the TTFT SLO on) sizes the pool from their real tokens.
/// The per-replica prefill capacity is set far below what the test offers, so the measured load needs more than one
/// replica; short timer and windows make the pool rise and fall within seconds.</summary>
public sealed class ModelPoolAutoscalingTests(ITestOutputHelper output)
{
    private const string Model = "tiny-random";

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private sealed record TurnResult(int PrefillTokens, int OutputTokens, TimeSpan ClientFirstToken);

    private static async Task<TurnResult> StreamAsync(HttpClient http, string sessionId, string content, int maxTokens)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/sessions/{sessionId}/turns:stream")
        {
            Content = Json(JsonSerializer.Serialize(new { content, max_tokens = maxTokens })),
        };
        var clock = Stopwatch.StartNew();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        TimeSpan? first = null;
        var tokens = 0;
        int? prefill = null;
        string? kind = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                kind = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                if (kind == "token")
                {
                    first ??= clock.Elapsed;
                    tokens++;
                }
                else if (kind == "done")
                {
                    prefill = JsonDocument.Parse(line["data: ".Length..]).RootElement.GetProperty("prefill_tokens").GetInt32();
                }
            }
        }
        return new TurnResult(prefill ?? throw new InvalidOperationException("no done event"), tokens, first ?? clock.Elapsed);
    }

    [Fact]
    public async Task Concurrent_turns_feed_the_model_pool_real_tokens_and_it_scales_up_then_back_down()
    {
        await using var app = NeuroHostFixture.BuildCluster(new Dictionary<string, string?>
        {
            ["Neuro:Autoscaling:Models:Interval"] = "00:00:00.250",
            ["Neuro:Autoscaling:Models:WindowSeconds"] = "3",
            ["Neuro:Autoscaling:Models:MinReplicas"] = "1",
            ["Neuro:Autoscaling:Models:MaxReplicas"] = "4",
            ["Neuro:Autoscaling:Models:ColdStartSeconds"] = "1",
            ["Neuro:Autoscaling:Models:ScaleDownWindowSeconds"] = "1",
            // A replica that prefills 20 tokens/s: the turns below offer several times that.
            ["Neuro:Autoscaling:Models:PerModel:tiny-random:PrefillTokensPerSecond"] = "20",
        });
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = NeuroHostFixture.RestAddress(app) };
        var pool = app.Services.GetRequiredService<IGrainFactory>().GetGrain<IModelPoolGrain>(Model);

        var sessions = Enumerable.Range(0, 4).Select(i => $"pool-{i}-{Guid.NewGuid():N}").ToArray();
        foreach (var id in sessions)
        {
            var opened = await http.PostAsync("/api/v1/sessions", Json($$"""{"session_id": "{{id}}", "model": "{{Model}}"}"""));
            Assert.Equal(HttpStatusCode.OK, opened.StatusCode);
        }

        // Watch the pool while the load runs: the highest desired count any decision made.
        using var stop = new CancellationTokenSource();
        var peak = 0;
        var watch = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, (await pool.GetStatusAsync()).DesiredReplicas ?? 0);
                await Task.Delay(100);
            }
        });
        var clock = Stopwatch.StartNew();
        var turns = (await Task.WhenAll(sessions.Select(async (id, i) =>
        {
            var results = new List<TurnResult>();
            for (var turn = 0; turn < 3; turn++)
            {
                results.Add(await StreamAsync(http, id, $"session {i} asks question number {turn}, with some context to prefill", 16));
            }
            return results;
        }))).SelectMany(r => r).ToArray();
        var loadSeconds = clock.Elapsed.TotalSeconds;

        // The signals are one-way: wait until the pool has heard every turn finish.
        ModelPoolStatus status;
        var expectedPrefill = turns.Sum(t => (long)t.PrefillTokens);
        var expectedOutput = turns.Sum(t => (long)t.OutputTokens);
        for (var wait = Stopwatch.StartNew(); ; await Task.Delay(50))
        {
            status = await pool.GetStatusAsync();
            if ((status.Signals.Turns == turns.Length && status.Signals.OutputTokens == expectedOutput) || wait.Elapsed > TimeSpan.FromSeconds(5))
            {
                break;
            }
        }
        output.WriteLine($"{turns.Length} turns in {loadSeconds:F1} s: prefilled {expectedPrefill}, output {expectedOutput}; pool: {status.Signals}");
        Assert.Equal(12, status.Signals.Turns);
        Assert.Equal(expectedPrefill, status.Signals.PrefilledTokens);
        Assert.Equal(expectedOutput, status.Signals.OutputTokens);
        Assert.InRange(expectedOutput, 12, 12 * 16);
        Assert.Equal(0, status.Signals.InFlightTurns);

        // The pool's TTFT is the server side of what the clients saw: positive and no later than their first token event.
        await WaitAsync(async () => (await pool.GetStatusAsync()).Signals.TtftP95Seconds is not null, "a TTFT p95");
        var ttft = (await pool.GetStatusAsync()).Signals.TtftP95Seconds!.Value;
        output.WriteLine($"TTFT p95 {ttft * 1000:F0} ms; clients' first tokens {turns.Min(t => t.ClientFirstToken).TotalMilliseconds:F0}–{turns.Max(t => t.ClientFirstToken).TotalMilliseconds:F0} ms");
        Assert.InRange(ttft, 1e-4, turns.Max(t => t.ClientFirstToken).TotalSeconds);

        // Scaled up: the offered prefill load is many replicas' worth at 20 tokens/s each.
        await WaitAsync(async () => Math.Max(peak, (await pool.GetStatusAsync()).DesiredReplicas ?? 0) > 1, "desired above the floor");
        stop.Cancel();
        await watch;
        var up = await pool.GetStatusAsync();
        // the wait above may have seen the scale-up before the watcher's next sample did
        peak = Math.Max(peak, up.DesiredReplicas ?? 0);
        output.WriteLine($"peak desired {peak}; after load: desired {up.DesiredReplicas} ({up.LastReason}); serving {string.Join(",", up.ServingSilos)}");
        Assert.InRange(peak, 2, 4);
        Assert.Single(up.ServingSilos); // one silo serves the model on this cluster: the rest is what it would ask an orchestrator for

        var metrics = await http.GetStringAsync("/api/v1/metrics");
        Assert.Matches(@"(?m)^neuro_desired_replicas\{(?=[^}]*kind=""model"")(?=[^}]*pool=""tiny-random"")[^}]*\} [1-4]", metrics);
        Assert.Matches(@"(?m)^neuro_tokens_in_queue\{(?=[^}]*kind=""model"")(?=[^}]*pool=""tiny-random"")[^}]*\} \d", metrics);
        Assert.Matches(@"(?m)^neuro_ttft_p95_seconds\{(?=[^}]*kind=""model"")(?=[^}]*pool=""tiny-random"")[^}]*\} \d", metrics);

        // The REST view of the same pool.
        var rest = JsonDocument.Parse(await http.GetStringAsync($"/api/v1/models/{Model}/pool")).RootElement;
        Assert.Equal(Model, rest.GetProperty("model").GetString());
        Assert.Equal(12, rest.GetProperty("signals").GetProperty("turns").GetInt64());
        Assert.True(rest.GetProperty("desired_replicas").GetInt32() >= 1);

        // And through the client SDK, over the gateway.
        await using (var sdk = await SdkAsync(app))
        {
            var viaSdk = await sdk.Neuro.GetModelPoolStatusAsync(Model);
            Assert.Equal(expectedPrefill, viaSdk.Signals.PrefilledTokens);
            Assert.NotNull(viaSdk.LastReason);
        }

        // Load stopped: once the window empties and the stabilisation passes, the pool goes back to its floor.
        await WaitAsync(async () => (await pool.GetStatusAsync()).DesiredReplicas == 1, "desired back at the floor", TimeSpan.FromSeconds(15));
        output.WriteLine($"back down after {clock.Elapsed.TotalSeconds - loadSeconds:F1} s: {(await pool.GetStatusAsync()).LastReason}");
    }

    [Fact]
    public async Task An_unknown_model_pool_is_404_naming_the_model()
    {
        await using var app = NeuroHostFixture.BuildCluster(new Dictionary<string, string?>());
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = NeuroHostFixture.RestAddress(app) };

        var missing = await http.GetAsync("/api/v1/models/no-such-model/pool");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("model", JsonDocument.Parse(await missing.Content.ReadAsStringAsync()).RootElement.GetProperty("field").GetString());

        await using var sdk = await SdkAsync(app);
        var refused = await Assert.ThrowsAsync<NeuroRequestException>(() => sdk.Neuro.GetModelPoolStatusAsync("no-such-model"));
        Assert.Equal(("model", NeuroErrorKind.NotFound), (refused.Field, refused.Kind));
        Assert.Equal("model", (await Assert.ThrowsAsync<NeuroRequestException>(() => sdk.Neuro.GetModelPoolStatusAsync(" "))).Field);
    }

    private sealed class Sdk(Microsoft.Extensions.Hosting.IHost host) : IAsyncDisposable
    {
        public Neuro.Client.INeuroClient Neuro => host.Services.GetRequiredService<Neuro.Client.INeuroClient>();

        public async ValueTask DisposeAsync()
        {
            await host.StopAsync();
            host.Dispose();
        }
    }

    private static async Task<Sdk> SdkAsync(WebApplication app)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        Neuro.Client.NeuroClientExtensions.AddNeuroClient(builder.Services, o =>
            (o.GatewayPort, o.ClusterId) = (int.Parse(app.Configuration["Neuro:GatewayPort"]!), app.Configuration["Neuro:ClusterId"]!));
        var host = builder.Build();
        await host.StartAsync();
        return new Sdk(host);
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        for (var clock = Stopwatch.StartNew(); !await condition(); await Task.Delay(50))
        {
            if (clock.Elapsed > (timeout ?? TimeSpan.FromSeconds(5)))
            {
                Assert.Fail($"timed out waiting for {what}");
            }
        }
    }
}
