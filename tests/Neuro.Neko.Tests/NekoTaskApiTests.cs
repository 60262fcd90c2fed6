using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Neuro.Silo;
using Neuro.Testing;

namespace Neuro.Neko.Tests;

/// <summary>End to end: an agent task submitted to the task API of a real dev-cluster host whose agent slots drive the
/// Neko stand-in (aiortc: WebRTC video decoded by our stack, input over the data channel) instead of a local browser.</summary>
public sealed class NekoTaskApiTests
{
    [Fact]
    public async Task A_scripted_task_through_the_task_api_drives_the_neko_stand_in()
    {
        await using var standIn = await NekoStandIn.StartAsync();
        var app = NeuroHost.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Kestrel:Endpoints:Rest:Url"] = $"http://127.0.0.1:{FreePort.Next()}",
                ["Kestrel:Endpoints:Grpc:Url"] = $"http://127.0.0.1:{FreePort.Next()}",
                ["Neuro:SiloPort"] = FreePort.Next().ToString(),
                ["Neuro:GatewayPort"] = FreePort.Next().ToString(),
                ["Neuro:ClusterId"] = $"neko-e2e-{Guid.NewGuid():N}",
                ["Neuro:Auth:Mode"] = "off",
                ["Neuro:Dashboard"] = "false",
                ["Neuro:Agents:DefaultPoolWorkers"] = "1",
                ["Neuro:Agents:Neko:Url"] = standIn.BaseUrl.ToString(),
                ["Neuro:Agents:Neko:Password"] = "neko",
                ["Neuro:Agents:Neko:LoopbackOnly"] = "true", // the stand-in's aiortc offers only 127.0.0.1
                ["Logging:LogLevel:Default"] = "Warning",
            });
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
        });
        await app.StartAsync();
        await using var _ = app;
        using var http = new HttpClient { BaseAddress = new Uri(app.Configuration["Kestrel:Endpoints:Rest:Url"]!) };

        var created = await http.PostAsync("/api/v1/tasks", new StringContent("""
            {"task": "click, type and submit on the remote browser", "save_screenshots": true,
             "actions": [{"action": "CLICK", "value": null, "position": [0.25, 0.5]},
                         {"action": "INPUT", "value": "ok", "position": [0.1, 0.1]},
                         {"action": "ENTER", "value": null, "position": null},
                         {"action": "ANSWER", "value": "done", "position": null}]}
            """, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("task_id").GetString()!;
        JsonElement task;
        var clock = Stopwatch.StartNew();
        do
        {
            await Task.Delay(100);
            task = JsonDocument.Parse(await http.GetStringAsync($"/api/v1/tasks/{id}")).RootElement;
        }
        while (task.GetProperty("status").GetString() is "queued" or "running" && clock.Elapsed < TimeSpan.FromSeconds(60));
        Assert.Equal("completed", task.GetProperty("status").GetString());
        Assert.Equal("done", task.GetProperty("answer").GetString());

        // The stand-in received exactly the input the actions stand for, on its 1280x720 screen, over the data channel.
        string[] expected =
        [
            "dc move 320 360", "dc buttondown 1", "dc buttonup 1",
            "dc move 128 72", "dc buttondown 1", "dc buttonup 1", "dc keydown 0x6f", "dc keyup 0x6f", "dc keydown 0x6b", "dc keyup 0x6b",
            "dc keydown 0xff0d", "dc keyup 0xff0d",
        ];
        var inputs = await standIn.WaitForInputsAsync(all => Inputs.Input(all).Count >= expected.Length, TimeSpan.FromSeconds(20));
        Assert.Equal(expected, Inputs.Input(inputs));
    }
}
