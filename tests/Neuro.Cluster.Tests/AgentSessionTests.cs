using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Neuro.Cluster.Tests.Infrastructure;

namespace Neuro.Cluster.Tests;

/// <summary>POST /api/v1/sessions with an "agent" object: the session's tasks run one after another in one kept
/// browser, so a later task continues on the page state an earlier one left.</summary>
public sealed class AgentSessionTests(NeuroHostFixture host) : IClassFixture<NeuroHostFixture>
{
    private HttpClient Http => host.Http;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> Read(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    private Task<JsonElement> RunAsync(string body) => TaskCalls.SubmitAndWaitAsync(Http, body);

    [Fact]
    public async Task A_second_task_continues_in_the_environment_the_first_left()
    {
        await using var page = await ClickPage.StartAsync();
        var session = await Http.PostAsync("/api/v1/sessions", Json($$$"""
            {"session_id": "agent-{{{Guid.NewGuid():N}}}", "agent": {"mode": "web", "screen_resolution": "800x600", "start_url": "{{{page.Url}}}"}}
            """));
        Assert.Equal(HttpStatusCode.OK, session.StatusCode);
        var opened = await Read(session);
        var sessionId = opened.GetProperty("session_id").GetString()!;
        Assert.Equal("800x600", opened.GetProperty("agent").GetProperty("screen_resolution").GetString());

        // Task 1 types into the field and stops; task 2 (no start_url) presses the button on the same page.
        var first = await RunAsync($$"""
            {"task": "type", "session_id": "{{sessionId}}", "actions": [{"action": "INPUT", "value": "kept state", "position": [0.375, 0.2]}]}
            """);
        Assert.Equal("completed", first.GetProperty("status").GetString());
        Assert.Equal(sessionId, first.GetProperty("session_id").GetString());
        Assert.Equal("800x600", first.GetProperty("options").GetProperty("screen_resolution").GetString()); // the session's screen
        var second = await RunAsync($$"""
            {"task": "submit", "session_id": "{{sessionId}}", "actions": [{"action": "CLICK", "value": null, "position": [0.25, 0.375]}]}
            """);
        Assert.Equal("completed", second.GetProperty("status").GetString());

        // The page's server saw the click carrying the text typed by the earlier task: same browser, same page.
        Assert.Equal(["kept state"], await page.ClicksAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Tasks_name_only_agent_sessions_that_exist()
    {
        var conversation = await Read(await Http.PostAsync("/api/v1/sessions", Json("""{"pool": "chat"}""")));
        foreach (var sessionId in new[] { conversation.GetProperty("session_id").GetString()!, "no-such-session" })
        {
            var refused = await Http.PostAsync("/api/v1/tasks", Json($$"""{"task": "x", "session_id": "{{sessionId}}"}"""));
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
            Assert.Equal("session_id", (await Read(refused)).GetProperty("field").GetString());
        }
        var bad = await Http.PostAsync("/api/v1/sessions", Json("""{"agent": {"mode": "car"}}"""));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("agent.mode", (await Read(bad)).GetProperty("field").GetString());
        var noPool = await Http.PostAsync("/api/v1/sessions", Json("""{"agent": {"pool": "no-such-pool"}}"""));
        Assert.Equal(HttpStatusCode.NotFound, noPool.StatusCode);
        Assert.Equal("agent.pool", (await Read(noPool)).GetProperty("field").GetString());
    }
}
