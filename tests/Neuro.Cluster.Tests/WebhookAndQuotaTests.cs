using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Testing;
using Neuro.Webhooks;

namespace Neuro.Cluster.Tests;

/// <summary>Webhooks and tenant quotas through the real host: a signed delivery that survives a 500, SSRF refusals
/// that store nothing, and the active-task quota answering 429 with Retry-After until a task ends.</summary>
public sealed class WebhookAndQuotaTests(WebhookAndQuotaTests.GuardedHost guarded) : IClassFixture<WebhookAndQuotaTests.GuardedHost>
{
    /// <summary>One host with webhooks on and loopback 127.0.0.1 admitted, shared by the refusal cases.</summary>
    public sealed class GuardedHost : IAsyncLifetime
    {
        public HttpClient Http { get; private set; } = null!;

        private Microsoft.AspNetCore.Builder.WebApplication _app = null!;

        public async Task InitializeAsync() => (_app, Http) = await StartHost(new()
        {
            ["Neuro:Webhooks:SigningSecret"] = Secret,
            ["Neuro:Webhooks:AllowedNetworks:0"] = "127.0.0.1/32",
            ["Neuro:Agents:DefaultPoolWorkers"] = "0",
        });

        public async Task DisposeAsync()
        {
            Http.Dispose();
            await _app.DisposeAsync();
        }
    }

    private const string Secret = "cluster-test-secret";

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> Read(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    private static async Task<(Microsoft.AspNetCore.Builder.WebApplication App, HttpClient Http)> StartHost(Dictionary<string, string?> settings)
    {
        var app = NeuroHostFixture.BuildCluster(settings);
        await app.StartAsync();
        return (app, new HttpClient { BaseAddress = NeuroHostFixture.RestAddress(app) });
    }

    [Fact]
    public async Task A_finished_task_is_posted_signed_to_its_callback_and_a_500_is_retried()
    {
        var received = new ConcurrentQueue<(string? Signature, string? Timestamp, string? Delivery, byte[] Body)>();
        await using var receiver = await LocalSite.StartAsync(app => app.MapPost("/hook", async (HttpContext c) =>
        {
            using var body = new MemoryStream();
            await c.Request.Body.CopyToAsync(body);
            received.Enqueue((c.Request.Headers[WebhookSignature.SignatureHeader], c.Request.Headers[WebhookSignature.TimestampHeader],
                c.Request.Headers[WebhookSignature.DeliveryHeader], body.ToArray()));
            return Results.StatusCode(received.Count == 1 ? 500 : 200);
        }));
        await using var page = await ClickPage.StartAsync();
        var (app, http) = await StartHost(new()
        {
            ["Neuro:Webhooks:SigningSecret"] = Secret,
            ["Neuro:Webhooks:AllowedNetworks:0"] = "127.0.0.1/32", // the receiver runs on loopback, as an in-cluster one would be admitted
            ["Neuro:Webhooks:InitialBackoff"] = "00:00:00.050",
        });
        await using var _ = app;
        using var __ = http;

        var created = await http.PostAsync("/api/v1/tasks", Json($$"""
            {"task": "answer at once", "start_url": "{{page.Url}}", "callback_url": "{{receiver.Url}}/hook",
             "actions": [{"action": "ANSWER", "value": "42", "position": null}]}
            """));
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var id = (await Read(created)).GetProperty("task_id").GetString()!;

        JsonElement task;
        var clock = Stopwatch.StartNew();
        do
        {
            await Task.Delay(50);
            task = await Read(await http.GetAsync($"/api/v1/tasks/{id}"));
        }
        while ((!task.TryGetProperty("webhook", out var w) || w.GetProperty("status").GetString() == "pending") && clock.Elapsed < TimeSpan.FromSeconds(60));

        Assert.Equal("completed", task.GetProperty("status").GetString());
        var webhook = task.GetProperty("webhook");
        Assert.Equal("delivered", webhook.GetProperty("status").GetString());
        Assert.Equal(2, webhook.GetProperty("attempts").GetInt32());
        Assert.Equal(200, webhook.GetProperty("last_status_code").GetInt32());
        Assert.Equal(2, received.Count);
        foreach (var r in received)
        {
            Assert.True(WebhookSignature.Verify(Secret, r.Signature, r.Timestamp, r.Body, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)));
            Assert.Equal(id, r.Delivery);
            var payload = JsonDocument.Parse(r.Body).RootElement;
            Assert.Equal(id, payload.GetProperty("task_id").GetString());
            Assert.Equal("completed", payload.GetProperty("status").GetString());
            Assert.Equal("task.completed", payload.GetProperty("event").GetString());
            Assert.Equal("42", payload.GetProperty("answer").GetString());
        }
        var metrics = await http.GetStringAsync("/api/v1/metrics");
        Assert.Matches(@"(?m)^neuro_webhook_deliveries\{.*result=""delivered"".*\} [1-9]", metrics);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://10.0.0.5/hook")]
    [InlineData("http://127.0.0.2:8080/hook")] // loopback outside the allow-list
    [InlineData("http://[::1]/hook")]
    [InlineData("http://2130706434/hook")] // 127.0.0.2 as one decimal number
    [InlineData("http://[::ffff:192.168.0.1]/hook")]
    [InlineData("file:///etc/passwd")]
    [InlineData("http://user:pw@example.com/hook")]
    [InlineData("http://no-such-host.invalid/hook")]
    public async Task Callback_urls_that_reach_inside_are_refused_at_submit_and_nothing_is_stored(string url)
    {
        var http = guarded.Http;
        var response = await http.PostAsync("/api/v1/tasks", Json($$"""{"task_id": "ssrf-probe", "task": "x", "callback_url": "{{url}}"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("callback_url", (await Read(response)).GetProperty("field").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/v1/tasks/ssrf-probe")).StatusCode);
        Assert.Empty((await Read(await http.GetAsync("/api/v1/tasks"))).GetProperty("tasks").EnumerateArray());
    }

    [Fact]
    public async Task A_tenant_at_its_active_task_quota_gets_429_with_retry_after_until_one_ends()
    {
        var (app, http) = await StartHost(new()
        {
            ["Neuro:Agents:DefaultPoolWorkers"] = "0", // nothing runs: submitted tasks stay queued, i.e. active
            ["Neuro:Quotas:MaxActiveTasksPerTenant"] = "2",
            ["Neuro:Quotas:RetryAfterSeconds"] = "7",
        });
        await using var _ = app;
        using var __ = http;
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/api/v1/tasks", Json($$"""{"task_id": "q{{i}}", "task": "x"}"""))).StatusCode);
        }

        var refused = await http.PostAsync("/api/v1/tasks", Json("""{"task_id": "q2", "task": "x"}"""));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), refused.Headers.RetryAfter?.Delta);
        Assert.Equal("tenant", (await Read(refused)).GetProperty("field").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/v1/tasks/q2")).StatusCode); // nothing stored

        Assert.Equal(HttpStatusCode.OK, (await http.DeleteAsync("/api/v1/tasks/q0")).StatusCode); // cancelled: its slot is free
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/api/v1/tasks", Json("""{"task_id": "q2", "task": "x"}"""))).StatusCode);
    }
}
