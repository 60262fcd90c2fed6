using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Neuro.Abstractions;
using Neuro.Cluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Neuro.Cluster.Tests;

/// <summary>A pool with our scaler on the dev cluster: it starts with no agents, the first task brings one up at once
/// (scale-from-zero), and the decision shows in the pool's status and the external metrics.</summary>
public sealed class PoolAutoscalingTests(NeuroHostFixture host, ITestOutputHelper output) : IClassFixture<NeuroHostFixture>
{
    [Fact]
    public async Task The_first_task_at_zero_replicas_scales_the_pool_up_and_runs()
    {
        var pool = $"elastic-{Guid.NewGuid():N}"[..16];
        var grains = host.App.Services.GetRequiredService<IGrainFactory>();
        var configured = await grains.GetGrain<IAgentPoolGrain>(pool).ConfigureAsync(
            new AgentPoolSpec("web", MinReplicas: 0, MaxReplicas: 3, PrewarmPercent: 50, TokensPerSecondBudget: 0, PushToWorkers: true, Scaler: "ours"));
        Assert.Equal(0, configured.ReadyReplicas);
        await using var page = await ClickPage.StartAsync();

        var clock = Stopwatch.StartNew();
        var created = await host.Http.PostAsync("/api/v1/tasks", new StringContent($$"""
            {"task": "from zero", "pool": "{{pool}}", "start_url": "{{page.Url}}", "options": {"screen_resolution": "640x480"},
             "actions": [{"action": "HOVER", "value": null, "position": [0.5, 0.5]}, {"action": "ANSWER", "value": "ok", "position": null}]}
            """, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("task_id").GetString()!;

        TimeSpan? firstStep = null;
        string status;
        do
        {
            await Task.Delay(20);
            var task = JsonDocument.Parse(await host.Http.GetStringAsync($"/api/v1/tasks/{id}")).RootElement;
            status = task.GetProperty("status").GetString()!;
            if (firstStep is null && task.GetProperty("steps").GetInt32() > 0)
            {
                firstStep = clock.Elapsed;
            }
        }
        while (status is "queued" or "running" && clock.Elapsed < TimeSpan.FromSeconds(60));
        Assert.Equal("completed", status);
        output.WriteLine($"scale-from-zero: submit → first agent step {firstStep?.TotalMilliseconds:F0} ms, → completed {clock.Elapsed.TotalMilliseconds:F0} ms");

        var after = (await grains.GetGrain<IAgentPoolGrain>(pool).GetStatusAsync())!;
        Assert.InRange(after.ReadyReplicas, 1, 3);
        Assert.True(after.WarmingReplicas >= 1); // 50 % prewarm keeps a warm stand-by
        var metrics = await host.Http.GetStringAsync("/api/v1/metrics");
        Assert.Matches($@"(?m)^neuro_desired_replicas\{{(?=[^}}]*kind=""agent"")(?=[^}}]*pool=""{pool}"")[^}}]*\}} [1-3]", metrics);
        Assert.Matches($@"(?m)^neuro_tokens_in_queue\{{(?=[^}}]*kind=""agent"")(?=[^}}]*pool=""{pool}"")[^}}]*\}} \d", metrics);
    }

    [Fact]
    public async Task An_unknown_scaler_is_refused()
    {
        var e = await Assert.ThrowsAsync<NeuroRequestException>(() => host.App.Services.GetRequiredService<IGrainFactory>()
            .GetGrain<IAgentPoolGrain>("bad-scaler").ConfigureAsync(new AgentPoolSpec("web", 0, 2, 0, 0, Scaler: "magic")));
        Assert.Equal("scaler", e.Field);
        Assert.Null(await host.App.Services.GetRequiredService<IGrainFactory>().GetGrain<IAgentPoolGrain>("bad-scaler").GetStatusAsync());
    }
}
