using System.Diagnostics;
using System.Text.Json;

namespace Neuro.Agents.Tests;

/// <summary>The agent loop driving a real headless Chromium (Debian's) on a local page, with the scripted policy.</summary>
public sealed class ChromiumAgentTests : IAsyncLifetime
{
    // 800x600 viewport; elements placed absolutely so their centres are known fractions of the screen.
    private const string Page = """
        <html><body style="margin:0;height:3000px">
        <input id="q" style="position:absolute;left:100px;top:100px;width:400px;height:40px">
        <button id="go" style="position:absolute;left:100px;top:200px;width:200px;height:50px"
                onclick="document.body.dataset.clicked = (Number(document.body.dataset.clicked || 0) + 1)">Go</button>
        <form onsubmit="document.body.dataset.submitted = document.getElementById('q').value; return false;"
              style="position:absolute;left:100px;top:300px"><input id="f" style="width:300px;height:40px"></form>
        </body></html>
        """;

    private static readonly string Url = "data:text/html;charset=utf-8," + Uri.EscapeDataString(Page);

    private ChromiumEnvironment _browser = null!;

    public async Task InitializeAsync()
    {
        _browser = await ChromiumEnvironment.LaunchAsync(new ChromiumOptions { Width = 800, Height = 600 });
        await _browser.NavigateAsync(Url);
    }

    public async Task DisposeAsync() => await _browser.DisposeAsync();

    private static string Act(string kind, string? value = null, double[]? at = null, int amount = 1) =>
        JsonSerializer.Serialize(new { action = kind, value, position = at, amount });

    [Fact]
    public async Task Scripted_actions_change_the_page()
    {
        var script = new[]
        {
            Act("CLICK", at: [0.375, 0.2]),
            Act("INPUT", "neuro orleans ünïcode", [0.375, 0.2]),
            Act("CLICK", at: [0.25, 0.375]),
            Act("CLICK", at: [0.25, 0.375]),
            Act("INPUT", "submit me", [0.3, 0.53]),
            Act("ENTER"),
            Act("SCROLL", "down", amount: 2),
        };
        var result = await AgentLoop.RunAsync(new AgentRun("fill the form", SaveScreenshots: true), _browser, new ScriptedPolicy(script, "all done"), CancellationToken.None);

        Assert.Equal(AgentOutcome.Completed, result.Outcome);
        Assert.Equal("all done", result.Answer);
        Assert.Equal(script.Length + 1, result.Steps.Count);
        Assert.Equal("neuro orleans ünïcode", await _browser.EvaluateAsync("document.getElementById('q').value"));
        Assert.Equal("2", await _browser.EvaluateAsync("document.body.dataset.clicked"));
        Assert.Equal("neuro orleans ünïcode", await _browser.EvaluateAsync("document.body.dataset.submitted"));
        Assert.True(double.Parse(await _browser.EvaluateAsync("window.scrollY") ?? "0", System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.All(result.Steps, s => Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, s.Screenshot![..4]));
    }

    [Fact]
    public async Task Cancelling_stops_a_running_task_within_a_second()
    {
        var endless = Enumerable.Repeat(Act("HOVER", at: [0.5, 0.5]), 100_000);
        using var cancel = new CancellationTokenSource();
        var run = AgentLoop.RunAsync(new AgentRun("hover forever", MaxSteps: 100_000), _browser, new ScriptedPolicy(endless), cancel.Token);
        await Task.Delay(500);
        var clock = Stopwatch.StartNew();
        cancel.Cancel();
        var result = await run;
        Assert.Equal(AgentOutcome.Cancelled, result.Outcome);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
        Assert.NotEmpty(result.Steps);
    }

    [Fact]
    public async Task Timeout_and_max_steps_end_the_task()
    {
        var endless = Enumerable.Repeat(Act("HOVER", at: [0.5, 0.5]), 100_000).ToArray();
        var timedOut = await AgentLoop.RunAsync(new AgentRun("t", MaxSteps: 100_000, Timeout: TimeSpan.FromMilliseconds(400)), _browser, new ScriptedPolicy(endless), CancellationToken.None);
        Assert.Equal(AgentOutcome.TimedOut, timedOut.Outcome);

        var capped = await AgentLoop.RunAsync(new AgentRun("t", MaxSteps: 3), _browser, new ScriptedPolicy(endless), CancellationToken.None);
        Assert.Equal(AgentOutcome.Failed, capped.Outcome);
        Assert.Equal(3, capped.Steps.Count);
        Assert.Contains("max_steps", capped.Error);
    }

    [Fact]
    public async Task Unparseable_outputs_are_recorded_as_steps_then_fail_the_task()
    {
        var result = await AgentLoop.RunAsync(new AgentRun("t"), _browser, new ScriptedPolicy(["click it", Act("HOVER", at: [0.1, 0.1]), "??", "{", "nope"]), CancellationToken.None);
        Assert.Equal(AgentOutcome.Failed, result.Outcome);
        Assert.Equal(5, result.Steps.Count);
        Assert.NotNull(result.Steps[0].Error);
        Assert.Null(result.Steps[1].Error); // a good step in between resets the count
        Assert.Contains("3 unparseable", result.Error);
    }

    [Fact]
    public async Task Navigation_refuses_other_schemes()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _browser.NavigateAsync("file:///etc/passwd"));
        await Assert.ThrowsAsync<ArgumentException>(() => _browser.NavigateAsync("javascript:alert(1)"));
    }
}
