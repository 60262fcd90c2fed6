using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Neuro.Cluster.Tests.Infrastructure;

namespace Neuro.Cluster.Tests;

/// <summary>The seed-004 task API over REST, through the real host on embedded defaults (dev cluster, default pool with
/// agent workers in local headless Chromium), against a local test page whose server records what the browser did.</summary>
public sealed class TaskApiTests(NeuroHostFixture host) : IClassFixture<NeuroHostFixture>, IAsyncLifetime
{
    private ClickPage _page = null!;

    private HttpClient Http => host.Http;

    public async Task InitializeAsync() => _page = await ClickPage.StartAsync();

    public async Task DisposeAsync() => await _page.DisposeAsync();

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> Read(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    private async Task<JsonElement> WaitAsync(string id, Func<string, bool> until, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var task = await Read(await Http.GetAsync($"/api/v1/tasks/{id}"));
            if (until(task.GetProperty("status").GetString()!) || clock.Elapsed > timeout)
            {
                return task;
            }
            await Task.Delay(25);
        }
    }

    [Fact]
    public async Task Post_a_scripted_task_watch_it_complete_and_read_its_steps_and_screenshots()
    {
        var body = $$"""
            {"task": "search for orleans", "mode": "web", "max_steps": 10, "timeout": 120, "start_url": "{{_page.Url}}",
             "options": {"screen_resolution": "800x600", "save_screenshots": true},
             "actions": [{"action": "INPUT", "value": "virtual actors", "position": [0.375, 0.2]},
                         {"action": "CLICK", "value": null, "position": [0.25, 0.375]},
                         {"action": "ANSWER", "value": "searched", "position": null}]}
            """;
        var created = await Http.PostAsync("/api/v1/tasks", Json(body));
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var task = await Read(created);
        var id = task.GetProperty("task_id").GetString()!;
        Assert.Contains(task.GetProperty("status").GetString(), new[] { "queued", "running" });
        Assert.True(task.TryGetProperty("estimated_completion", out _));

        var done = await WaitAsync(id, s => s is not ("queued" or "running"), TimeSpan.FromSeconds(60));
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal("searched", done.GetProperty("answer").GetString());

        var steps = (await Read(await Http.GetAsync($"/api/v1/tasks/{id}/steps"))).GetProperty("steps").EnumerateArray().ToArray();
        Assert.Equal(["INPUT", "CLICK", "ANSWER"], steps.Select(s => s.GetProperty("action").GetString()));
        var shot = await Http.GetAsync($"/api/v1/tasks/{id}/steps/2/screenshot");
        Assert.Equal(HttpStatusCode.OK, shot.StatusCode);
        Assert.Equal("image/png", shot.Content.Headers.ContentType?.MediaType);
        Assert.Equal((byte)0x89, (await shot.Content.ReadAsByteArrayAsync())[0]);
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetAsync($"/api/v1/tasks/{id}/steps/99/screenshot")).StatusCode);

        Assert.Equal(["virtual actors"], await _page.ClicksAsync(TimeSpan.FromSeconds(5))); // the page's server saw the click with the typed text

        var metrics = await Http.GetStringAsync("/api/v1/metrics");
        Assert.Matches(@"(?m)^neko_task_duration_seconds_count\{.*task_type=""web"".*\} [1-9]", metrics);
        Assert.Matches(@"(?m)^neuro_agents_task_duration_seconds_count\{.*outcome=""completed"".*\} [1-9]", metrics);
        Assert.Matches(@"(?m)^neko_active_agents_total \d", metrics);
        Assert.Matches(@"(?m)^neko_task_queue_size\{pool=""default""\} \d", metrics);

        var listed = await Read(await Http.GetAsync("/api/v1/tasks?status=completed"));
        Assert.Contains(listed.GetProperty("tasks").EnumerateArray(), t => t.GetProperty("task_id").GetString() == id);
    }

    [Fact]
    public async Task Delete_stops_a_running_task_within_a_second_and_put_is_refused_once_it_runs()
    {
        var hover = string.Join(",", Enumerable.Repeat("""{"action": "HOVER", "value": null, "position": [0.5, 0.5]}""", 400));
        var created = await Read(await Http.PostAsync("/api/v1/tasks", Json($$"""{"task": "hover", "max_steps": 400, "options": {"screen_resolution": "800x600"}, "actions": [{{hover}}]}""")));
        var id = created.GetProperty("task_id").GetString()!;
        await WaitAsync(id, s => s == "running", TimeSpan.FromSeconds(60));
        await Task.Delay(300);

        var put = await Http.PutAsync($"/api/v1/tasks/{id}", Json("""{"task": "changed", "max_steps": 3}"""));
        Assert.Equal(HttpStatusCode.Conflict, put.StatusCode);
        Assert.Equal("status", (await Read(put)).GetProperty("field").GetString());

        var clock = Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.OK, (await Http.DeleteAsync($"/api/v1/tasks/{id}")).StatusCode);
        var stopped = await WaitAsync(id, s => s != "running", TimeSpan.FromSeconds(5));
        Assert.Equal("cancelled", stopped.GetProperty("status").GetString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
    }

    [Theory]
    [InlineData("""{"task": "x", "max_steps": 5""", "body")]
    [InlineData("""{"task": "x", "max_steps": "ten"}""", "body")]
    [InlineData("""{"task": "x", "mode": "car"}""", "mode")]
    [InlineData("""{"task": "", "mode": "web"}""", "task")]
    [InlineData("""{"task": "x", "max_steps": -1}""", "max_steps")]
    [InlineData("""{"task": "x", "timeout": 0}""", "timeout")]
    [InlineData("""{"task": "x", "options": {"screen_resolution": "huge"}}""", "options.screen_resolution")]
    [InlineData("""{"task": "x", "options": {"screen_resolution": "10x10"}}""", "options.screen_resolution")]
    [InlineData("""{"task": "x", "callback_url": "http://169.254.169.254/latest"}""", "callback_url")]
    [InlineData("""{"task": "x", "actions": [{"action": "FLY", "value": null, "position": null}]}""", "actions[0]")]
    [InlineData("""{"task": "x", "start_url": "file:///etc/passwd"}""", "start_url")]
    [InlineData("""{"task": "x", "pool": "no-such-pool"}""", "pool")]
    [InlineData("""{"task_id": "../../etc", "task": "x"}""", "task_id")]
    public async Task Bad_input_is_4xx_naming_the_field_and_stores_nothing(string body, string field)
    {
        var id = $"bad-{Guid.NewGuid():N}";
        var withId = body.Contains("task_id", StringComparison.Ordinal) ? body : body.Insert(1, $"\"task_id\": \"{id}\", ");
        var response = await Http.PostAsync("/api/v1/tasks", Json(withId));

        Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"got {response.StatusCode}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(field, (await Read(response)).GetProperty("field").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetAsync($"/api/v1/tasks/{id}")).StatusCode);
    }

    [Fact]
    public async Task Oversized_task_text_is_refused()
    {
        var response = await Http.PostAsync("/api/v1/tasks", Json(JsonSerializer.Serialize(new { task = new string('t', 5000) })));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("task", (await Read(response)).GetProperty("field").GetString());
    }

    [Fact]
    public async Task Listing_pages_with_a_continuation_token()
    {
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var t = await Read(await Http.PostAsync("/api/v1/tasks", Json("""{"task": "answer", "options": {"screen_resolution": "640x480"}, "actions": [{"action": "ANSWER", "value": "ok", "position": null}]}""")));
            ids.Add(t.GetProperty("task_id").GetString()!);
        }
        var seen = new List<string>();
        string? token = null;
        do
        {
            var page = await Read(await Http.GetAsync($"/api/v1/tasks?page_size=2{(token is null ? "" : $"&page_token={Uri.EscapeDataString(token)}")}"));
            var tasks = page.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("task_id").GetString()!).ToArray();
            Assert.True(tasks.Length <= 2);
            seen.AddRange(tasks);
            token = page.GetProperty("next_page_token").GetString() is { Length: > 0 } next ? next : null;
        }
        while (token is not null);
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Subset(seen.ToHashSet(), ids.ToHashSet());
        Assert.Equal(HttpStatusCode.BadRequest, (await Http.GetAsync("/api/v1/tasks?page_token=garbage")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Http.GetAsync("/api/v1/tasks?status=sleeping")).StatusCode);
    }
}
