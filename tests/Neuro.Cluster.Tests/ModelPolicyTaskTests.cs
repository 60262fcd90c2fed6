using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Testing;

namespace Neuro.Cluster.Tests;

/// <summary>A task with no scripted actions is driven by the configured model. The model here is a local stand-in of
/// the OpenAI chat-completions API (named as such): it answers INPUT, then ANSWER, and records what it was sent.</summary>
public sealed class ModelPolicyTaskTests : IAsyncLifetime
{
    private LocalSite _model = null!;
    private WebApplication _host = null!;
    private readonly ConcurrentQueue<JsonElement> _requests = new();

    public async Task InitializeAsync()
    {
        _model = await LocalSite.StartAsync(app => app.MapPost("/v1/chat/completions", async (HttpRequest request) =>
        {
            var body = JsonDocument.Parse(await new StreamReader(request.Body).ReadToEndAsync()).RootElement.Clone();
            _requests.Enqueue(body);
            var content = _requests.Count == 1
                ? "{'action': 'INPUT', 'value': 'from the model', 'position': [0.5, 0.5]}"
                : "{'action': 'ANSWER', 'value': 'model says done', 'position': None}";
            return Results.Json(new { id = "x", choices = new[] { new { index = 0, message = new { role = "assistant", content } } } });
        }));

        _host = NeuroHostFixture.Build(new Dictionary<string, string?>
        {
            ["Neuro:SiloPort"] = FreePort.Next().ToString(),
            ["Neuro:GatewayPort"] = FreePort.Next().ToString(),
            ["Neuro:ClusterId"] = $"model-{Guid.NewGuid():N}",
            ["Neuro:Agents:Model:BaseUrl"] = _model.Url,
            ["Neuro:Agents:Model:Model"] = "stand-in-vlm",
        });
        await _host.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _model.DisposeAsync();
    }

    [Fact]
    public async Task A_task_without_actions_is_driven_by_the_model()
    {
        using var http = new HttpClient { BaseAddress = NeuroHostFixture.RestAddress(_host) };
        var page = "data:text/html,<input id=q style='position:absolute;left:0;top:0;width:640px;height:480px'>";
        var created = await http.PostAsync("/api/v1/tasks", new StringContent(JsonSerializer.Serialize(new
        {
            task = "type something", start_url = page, options = new { screen_resolution = "640x480" },
        }), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("task_id").GetString();

        JsonElement task;
        var clock = Stopwatch.StartNew();
        do
        {
            await Task.Delay(50);
            task = JsonDocument.Parse(await http.GetStringAsync($"/api/v1/tasks/{id}")).RootElement;
        }
        while (task.GetProperty("status").GetString() is "queued" or "running" && clock.Elapsed < TimeSpan.FromSeconds(60));

        Assert.Equal("completed", task.GetProperty("status").GetString());
        Assert.Equal("model says done", task.GetProperty("answer").GetString());
        Assert.Equal(2, _requests.Count);
        var first = _requests.First();
        Assert.Equal("stand-in-vlm", first.GetProperty("model").GetString());
        Assert.Contains("type something", first.ToString());
        Assert.Contains("data:image/png;base64,", first.ToString());
    }
}
