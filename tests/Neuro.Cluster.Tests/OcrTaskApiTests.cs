using System.Net;
using System.Text;
using System.Text.Json;
using Neuro.Agents;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Ocr.Tests;
using Xunit.Abstractions;

namespace Neuro.Cluster.Tests;

/// <summary>Tasks that ask for the OCR grounding policy through the task API: the real host, its agent pool's fresh
/// headless Chromium per task, the real PP-OCRv4 models (scripts/fetch-ocr-models.sh), and a login page whose server
/// records who signed in. The DOM, read by a second Chromium, says where the steps had to land.</summary>
public sealed class OcrTaskApiTests(NeuroHostFixture host, ITestOutputHelper output) : IClassFixture<NeuroHostFixture>
{
    private HttpClient Http => host.Http;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> Read(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;

    [Fact]
    public async Task An_ocr_task_signs_in_by_reading_the_screen_and_its_steps_land_on_the_dom_boxes()
    {
        await using var pages = await TestPages.StartAsync();
        var body = JsonSerializer.Serialize(new
        {
            task = "type \"alice\" into \"Username\"\ntype \"s3cret-pw\" into \"Password\"\nclick \"Sign in\"\nread \"Signed in as\"",
            policy = "ocr",
            start_url = pages.Url,
            max_steps = 12,
            timeout = 240,
            options = new { screen_resolution = "1280x800" },
        });
        var task = await TaskCalls.SubmitAndWaitAsync(Http, body, TimeSpan.FromSeconds(240));
        var id = task.GetProperty("task_id").GetString();
        var steps = (await Read(await Http.GetAsync($"/api/v1/tasks/{id}/steps"))).GetProperty("steps").EnumerateArray().ToArray();
        foreach (var s in steps)
        {
            output.WriteLine($"step {s.GetProperty("step")}: {s.GetProperty("model_output").GetString()} {s.GetProperty("error").GetString()}");
        }

        Assert.Equal("completed", task.GetProperty("status").GetString());
        Assert.Equal("ocr", task.GetProperty("policy").GetString());
        Assert.Equal("Signed in as alice", task.GetProperty("answer").GetString());
        Assert.Equal([("alice", "s3cret-pw")], pages.Logins.ToArray()); // what the browser really submitted

        // Steps whose text was not on screen yet (a page still loading) are retried; the actions are these, in order.
        var acted = steps.Where(s => s.GetProperty("action").GetString() is { Length: > 0 }).ToArray();
        Assert.Equal(["INPUT", "INPUT", "CLICK", "ANSWER"], acted.Select(s => s.GetProperty("action").GetString()));
        await using var browser = await ChromiumEnvironment.LaunchAsync(new ChromiumOptions { Width = 1280, Height = 800 });
        await browser.NavigateAsync(pages.Url);
        foreach (var (step, selector) in acted.Take(3).Zip(["#u", "#p", "button"]))
        {
            var rect = await TestPages.DomRectAsync(browser, selector);
            var position = step.GetProperty("position").EnumerateArray().Select(p => p.GetDouble()).ToArray();
            var (x, y) = (position[0] * 1280, position[1] * 800);
            output.WriteLine($"{step.GetProperty("action")} ({x:F0},{y:F0}) in {selector} [{rect.Left},{rect.Top} → {rect.Right},{rect.Bottom}]");
            Assert.InRange(x, rect.Left, rect.Right);
            Assert.InRange(y, rect.Top, rect.Bottom);
        }
    }

    [Theory]
    [InlineData("""{"task": "click \"Go\"", "policy": "vision"}""", HttpStatusCode.BadRequest, "policy")]
    [InlineData("""{"task": "click \"Go\"", "policy": "OCR"}""", HttpStatusCode.BadRequest, "policy")]
    [InlineData("""{"task": "scroll down", "policy": "ocr"}""", HttpStatusCode.BadRequest, "task")]
    [InlineData("""{"task": "x", "policy": "ocr", "actions": [{"action": "ENTER", "value": null, "position": null}]}""", HttpStatusCode.BadRequest, "actions")]
    [InlineData("""{"task": "x", "policy": "scripted"}""", HttpStatusCode.BadRequest, "actions")]
    [InlineData("""{"task": "x", "policy": "model"}""", HttpStatusCode.ServiceUnavailable, "policy")] // no model configured on this host
    public async Task A_policy_that_cannot_run_is_refused_naming_the_field_and_nothing_is_stored(string body, HttpStatusCode status, string field)
    {
        var id = $"policy-{Guid.NewGuid():N}";
        var response = await Http.PostAsync("/api/v1/tasks", Json(body.Insert(1, $"\"task_id\": \"{id}\", ")));

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(field, (await Read(response)).GetProperty("field").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetAsync($"/api/v1/tasks/{id}")).StatusCode);
    }

    [Fact]
    public async Task Without_the_ocr_models_an_ocr_task_is_refused_with_503_and_nothing_is_stored()
    {
        var empty = Directory.CreateTempSubdirectory("neuro-no-ocr-").FullName;
        var app = NeuroHostFixture.BuildCluster(new Dictionary<string, string?> { ["Neuro:Agents:Ocr:ModelDirectory"] = empty });
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = NeuroHostFixture.RestAddress(app) };
            var id = $"no-ocr-{Guid.NewGuid():N}";
            var response = await http.PostAsync("/api/v1/tasks", Json($$"""{"task_id": "{{id}}", "task": "click \"Sign in\"", "policy": "ocr"}"""));

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            var problem = await Read(response);
            Assert.Equal("policy", problem.GetProperty("field").GetString());
            Assert.Contains("fetch-ocr-models.sh", problem.GetProperty("detail").GetString());
            Assert.Contains(empty, problem.GetProperty("detail").GetString());
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/v1/tasks/{id}")).StatusCode);
            // A scripted task on the same host still runs: only the policy that cannot run is refused.
            var scripted = await TaskCalls.SubmitAndWaitAsync(http, """{"task": "x", "actions": [{"action": "ANSWER", "value": "ok", "position": null}]}""");
            Assert.Equal(("completed", "scripted"), (scripted.GetProperty("status").GetString(), scripted.GetProperty("policy").GetString()));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
