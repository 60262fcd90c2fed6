using System.Diagnostics;
using System.Text.Json;
using Neuro.Abstractions;
using Neuro.Cluster.Tests.Infrastructure;

namespace Neuro.Cluster.Tests;

/// <summary>Agent tasks end to end on the cluster: task grain → pool queue → agent worker → the step loop in a real headless
/// Chromium, against a local test page whose server records what the browser did.</summary>
[Collection(MemoryClusterCollection.Name)]
public sealed class AgentTaskTests(MemoryClusterFixture fixture) : IAsyncLifetime
{
    private ClickPage _page = null!;
    private string _pool = "";

    public async Task InitializeAsync()
    {
        // An empty content root: the silo's appsettings.json sits in this output folder, and its Kestrel endpoints must not apply here.
        _page = await ClickPage.StartAsync();

        _pool = $"agents-{Guid.NewGuid():N}"[..16];
        var pool = fixture.Grains.GetGrain<IAgentPoolGrain>(_pool);
        await pool.ConfigureAsync(new AgentPoolSpec("chromium-local", 1, 2, 0, 0, 1, PushToWorkers: true));
        await pool.SetReplicasAsync(2, 0);
    }

    public async Task DisposeAsync() => await _page.DisposeAsync();

    private static string Act(string kind, string? value = null, double[]? at = null) => JsonSerializer.Serialize(new { action = kind, value, position = at });

    private async Task<AgentTaskView> WaitAsync(IAgentTaskGrain task, Func<AgentTaskView, bool> until, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var view = (await task.GetAsync())!;
            if (until(view) || clock.Elapsed > timeout)
            {
                return view;
            }
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_scripted_task_runs_in_chromium_to_completion()
    {
        var task = fixture.Grains.GetGrain<IAgentTaskGrain>($"t-{Guid.NewGuid():N}");
        var spec = new AgentTaskSpec("search for orleans", Width: 800, Height: 600, SaveScreenshots: true, Pool: _pool,
            StartUrl: _page.Url, Actions: [Act("INPUT", "orleans grains", [0.375, 0.2]), Act("CLICK", null, [0.25, 0.375]), Act("ANSWER", "done")]);

        var submitted = await task.SubmitAsync(spec);
        Assert.Contains(submitted.Status, new[] { "queued", "running" });
        var done = await WaitAsync(task, v => v.Status is not ("queued" or "running"), TimeSpan.FromSeconds(60));

        Assert.Equal("completed", done.Status);
        Assert.Equal("done", done.Answer);
        Assert.Equal(1, done.Attempts);
        var steps = await task.GetStepsAsync();
        Assert.Equal(["INPUT", "CLICK", "ANSWER"], steps.Select(s => s.Action));
        var shot = await task.GetScreenshotAsync(1);
        Assert.NotNull(shot);
        Assert.Equal((byte)0x89, shot[0]);
        // What the browser did, as the page's server saw it.
        Assert.Equal(["orleans grains"], await _page.ClicksAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Cancelling_a_running_task_stops_it_within_a_second()
    {
        var task = fixture.Grains.GetGrain<IAgentTaskGrain>($"t-{Guid.NewGuid():N}");
        await task.SubmitAsync(new AgentTaskSpec("hover forever", MaxSteps: 500, TimeoutSeconds: 600, Width: 800, Height: 600, Pool: _pool,
            Actions: Enumerable.Repeat(Act("HOVER", null, [0.5, 0.5]), 500).ToArray()));
        var running = await WaitAsync(task, v => v is { Status: "running", Steps: > 2 }, TimeSpan.FromSeconds(60));
        Assert.Equal("running", running.Status);

        var clock = Stopwatch.StartNew();
        await task.CancelAsync();
        var cancelled = await WaitAsync(task, v => v.Status != "running", TimeSpan.FromSeconds(5));
        Assert.Equal("cancelled", cancelled.Status);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
        Assert.Null(await task.StartAsync("some-other-worker")); // the run guard: a cancelled task never runs again
    }

    [Fact]
    public async Task A_queued_task_can_be_updated_or_cancelled_and_a_running_one_cannot_be_updated()
    {
        // One slot busy with a long task, so the next one waits in the queue.
        var pool = fixture.Grains.GetGrain<IAgentPoolGrain>(_pool);
        await pool.SetReplicasAsync(1, 0);
        var blocker = fixture.Grains.GetGrain<IAgentTaskGrain>($"t-{Guid.NewGuid():N}");
        await blocker.SubmitAsync(new AgentTaskSpec("block", MaxSteps: 500, Width: 800, Height: 600, Pool: _pool, Actions: Enumerable.Repeat(Act("HOVER", null, [0.5, 0.5]), 500).ToArray()));
        await WaitAsync(blocker, v => v.Status == "running", TimeSpan.FromSeconds(60));

        var queued = fixture.Grains.GetGrain<IAgentTaskGrain>($"t-{Guid.NewGuid():N}");
        var spec = new AgentTaskSpec("later", Width: 800, Height: 600, Pool: _pool, Actions: [Act("ANSWER", "x")]);
        Assert.Equal("queued", (await queued.SubmitAsync(spec)).Status);
        Assert.Equal(7, (await queued.UpdateAsync(spec with { MaxSteps = 7 })).Spec.MaxSteps);
        var bad = await Assert.ThrowsAsync<NeuroRequestException>(() => queued.UpdateAsync(spec with { MaxSteps = -1 }));
        Assert.Equal("max_steps", bad.Field);
        Assert.Equal("cancelled", (await queued.CancelAsync()).Status);
        Assert.Equal(0, (await pool.GetStatusAsync())!.QueueDepth);

        var conflict = await Assert.ThrowsAsync<NeuroRequestException>(() => blocker.UpdateAsync(spec with { Task = "block", MaxSteps = 3 }));
        Assert.Equal(NeuroErrorKind.Conflict, conflict.Kind);
        await blocker.CancelAsync();
        await WaitAsync(blocker, v => v.Status != "running", TimeSpan.FromSeconds(5));
    }

    [Theory]
    [InlineData("", 20, 300, "task")]
    [InlineData("x", 0, 300, "max_steps")]
    [InlineData("x", -3, 300, "max_steps")]
    [InlineData("x", 20, 0, "timeout")]
    public async Task Bad_submissions_are_refused_and_store_nothing(string text, int maxSteps, int timeout, string field)
    {
        var task = fixture.Grains.GetGrain<IAgentTaskGrain>($"t-{Guid.NewGuid():N}");
        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => task.SubmitAsync(new AgentTaskSpec(text, MaxSteps: maxSteps, TimeoutSeconds: timeout, Pool: _pool)));
        Assert.Equal(field, error.Field);
        Assert.Null(await task.GetAsync());
    }

    [Fact]
    public async Task A_bad_scripted_action_names_its_index()
    {
        var task = fixture.Grains.GetGrain<IAgentTaskGrain>($"t-{Guid.NewGuid():N}");
        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => task.SubmitAsync(new AgentTaskSpec("x", Pool: _pool, Actions: [Act("ANSWER", "ok"), "click somewhere"])));
        Assert.Equal("actions[1]", error.Field);
        Assert.Null(await task.GetAsync());
    }
}
