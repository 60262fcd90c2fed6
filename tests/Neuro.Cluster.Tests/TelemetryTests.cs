using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Testing;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Neuro.Cluster.Tests;

/// <summary>Traces that follow a task from the REST request through grain calls to each agent step, and the structured
/// JSON log record the seed asks for (§6.2), read from a real silo process's stdout.</summary>
public sealed class TelemetryTests
{
    private static string TaskBody(string pageUrl) => $$"""
        {"task": "traced", "start_url": "{{pageUrl}}", "options": {"screen_resolution": "640x480"},
         "actions": [{"action": "HOVER", "value": null, "position": [0.5, 0.5]},
                     {"action": "HOVER", "value": null, "position": [0.2, 0.2]},
                     {"action": "ANSWER", "value": "ok", "position": null}]}
        """;

    private static async Task<string> RunTaskAsync(HttpClient http, string pageUrl)
    {
        var task = await TaskCalls.SubmitAndWaitAsync(http, TaskBody(pageUrl));
        Assert.Equal("completed", task.GetProperty("status").GetString());
        return task.GetProperty("task_id").GetString()!;
    }

    [Fact]
    public async Task One_trace_spans_the_rest_request_the_grain_calls_and_every_agent_step()
    {
        var spans = new List<Activity>();
        await using var page = await ClickPage.StartAsync();
        var app = NeuroHostFixture.BuildCluster(new Dictionary<string, string?>
        {
            ["Neuro:Telemetry:Tracing"] = "true",
        }, builder => builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(spans)));
        await app.StartAsync();
        await using var _ = app;
        using var http = new HttpClient { BaseAddress = NeuroHostFixture.RestAddress(app) };

        var id = await RunTaskAsync(http, page.Url);

        // The run's span ends just after the task reports its terminal state: wait for it.
        Activity[] snapshot = [];
        for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(10); await Task.Delay(50))
        {
            app.Services.GetRequiredService<TracerProvider>().ForceFlush();
            lock (spans)
            {
                snapshot = [.. spans];
            }
            if (snapshot.Any(s => s.OperationName == "agent.task" && (string?)s.GetTagItem("task_id") == id))
            {
                break;
            }
        }
        var run = Assert.Single(snapshot, s => s.OperationName == "agent.task" && (string?)s.GetTagItem("task_id") == id);
        var trace = run.TraceId;
        var inTrace = snapshot.Where(s => s.TraceId == trace).ToArray();
        // The root is the front door's server span for the POST.
        var request = Assert.Single(inTrace, s => s.Kind == ActivityKind.Server && s.Source.Name == "Microsoft.AspNetCore");
        Assert.Equal(default, request.ParentSpanId);
        Assert.Equal("POST", request.GetTagItem("http.request.method"));
        // Grain calls in between (Orleans' own spans), the task grain's submit among them.
        Assert.Contains(inTrace, s => s.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal) && s.DisplayName.Contains("IAgentTaskGrain", StringComparison.Ordinal));
        // One span per step (2 hovers + the answer), children of the run, which carries the agent and the outcome.
        var steps = inTrace.Where(s => s.OperationName == "agent.step").OrderBy(s => s.StartTimeUtc).ToArray();
        Assert.Equal(3, steps.Length);
        Assert.All(steps, s => Assert.Equal(run.SpanId, s.ParentSpanId));
        Assert.Equal(["HOVER", "HOVER", "ANSWER"], steps.Select(s => (string?)s.GetTagItem("agent.action")));
        Assert.Equal("completed", run.GetTagItem("outcome"));
        Assert.StartsWith("default/", (string?)run.GetTagItem("agent_id"));
    }

    [Fact]
    public async Task A_finished_task_is_logged_as_one_json_record_with_the_seed_fields()
    {
        await using var page = await ClickPage.StartAsync();
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Neuro"] = "Information",
            ["Neuro:Dashboard"] = "false",
        });
        using var http = new HttpClient { BaseAddress = silo.Rest };
        var id = await RunTaskAsync(http, page.Url);

        JsonElement? record = null;
        for (var clock = Stopwatch.StartNew(); record is null && clock.Elapsed < TimeSpan.FromSeconds(10); await Task.Delay(50))
        {
            // Chromium's launcher script may complain on stderr (merged here); everything the host logs is one JSON object per line.
            foreach (var line in silo.Output.Where(l => l.StartsWith('{')).ToArray())
            {
                var json = JsonDocument.Parse(line).RootElement;
                if (json.TryGetProperty("State", out var fields) && fields.TryGetProperty("task_id", out var task) && task.GetString() == id
                    && fields.TryGetProperty("event", out var e) && e.GetString() == "task_finished")
                {
                    record = json;
                }
            }
        }
        Assert.NotNull(record);
        var state = record.Value.GetProperty("State");
        Assert.StartsWith("default/", state.GetProperty("agent_id").GetString());
        Assert.Equal("task_finished", state.GetProperty("event").GetString());
        Assert.Equal(3, state.GetProperty("actions_executed").GetInt32()); // typed JSON values, not strings
        Assert.True(state.GetProperty("success").GetBoolean());
        Assert.True(state.GetProperty("duration").GetDouble() > 0);
        Assert.Equal("Information", record.Value.GetProperty("LogLevel").GetString());
    }
}
