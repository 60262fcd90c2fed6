using Neuro.Agents;
using Xunit.Abstractions;

namespace Neuro.Ocr.Tests;

/// <summary>The agent loop with <see cref="OcrGroundingPolicy"/> reading real screenshots through the real OCR engine.</summary>
[Collection(OcrCollection.Name)]
public sealed class OcrGroundingPolicyTests(OcrModels models, ITestOutputHelper output) : RenderedPageTests
{
    private OcrGroundingPolicy Policy() => new(new OcrScreenReader(models.Engine), new OcrGroundingOptions { Log = output.WriteLine });

    [Fact]
    public async Task The_agent_signs_in_by_reading_the_screen()
    {
        await Browser.NavigateAsync(Pages.Url);
        const string Task = """
            type "alice" into "Username"
            type "s3cret-pw" into "Password"
            click "Sign in"
            read "Signed in as"
            """;
        var result = await AgentLoop.RunAsync(new AgentRun(Task, MaxSteps: 10), Browser, Policy(), CancellationToken.None);
        foreach (var s in result.Steps) output.WriteLine($"step {s.Number}: {s.ModelOutput} {s.Error}");

        Assert.Equal(AgentOutcome.Completed, result.Outcome);
        Assert.Equal("Signed in as alice", result.Answer);
        Assert.Equal([("alice", "s3cret-pw")], Pages.Logins.ToArray());
        Assert.Equal("Signed in as alice", await Browser.EvaluateAsync("document.getElementById('status').textContent"));
    }

    [Fact]
    public async Task Clicks_and_inputs_land_inside_the_elements_the_text_names()
    {
        await Browser.NavigateAsync(Pages.Url);
        var png = await Browser.ScreenshotAsync(CancellationToken.None);
        var policy = Policy();
        var expectations = new (string Step, string Selector)[]
        {
            ("click \"Sign in\"", "button"),
            ("type \"x\" into \"Username\"", "#u"),
            ("type \"x\" into \"Password\"", "#p"),     // the label, not the "password?" of "Forgot password?"
            ("click \"Forgot password?\"", "p.small"),
        };
        foreach (var (step, selector) in expectations)
        {
            var action = await NextActionAsync(policy, step, png);
            var rect = await TestPages.DomRectAsync(Browser, selector);
            var (x, y) = (action.Position!.Value.X * 1280, action.Position.Value.Y * 800);
            output.WriteLine($"{step} → {action.Kind} ({x:F0},{y:F0}) in {selector} {TestPages.Format(rect)}");
            Assert.InRange(x, rect.Left, rect.Right);
            Assert.InRange(y, rect.Top, rect.Bottom);
        }
    }

    [Fact]
    public async Task An_input_below_its_label_is_found()
    {
        await Browser.NavigateAsync(Pages.Url + "/article");
        var png = await Browser.ScreenshotAsync(CancellationToken.None);
        var action = await NextActionAsync(Policy(), "type \"bob@example.org\" into \"Email address\"", png);
        var rect = await TestPages.DomRectAsync(Browser, "#e");
        Assert.Equal("INPUT", action.Kind);
        Assert.InRange(action.Position!.Value.X * 1280, rect.Left, rect.Right);
        Assert.InRange(action.Position.Value.Y * 800, rect.Top, rect.Bottom);

        await Browser.ExecuteAsync(action, CancellationToken.None);
        Assert.Equal("bob@example.org", await Browser.EvaluateAsync("document.getElementById('e').value"));
    }

    [Fact]
    public async Task Text_that_is_not_on_the_screen_fails_the_task_with_the_reason()
    {
        await Browser.NavigateAsync(Pages.Url);
        var result = await AgentLoop.RunAsync(new AgentRun("click \"Create account\"", MaxSteps: 10, MaxConsecutiveParseErrors: 2), Browser, Policy(), CancellationToken.None);
        Assert.Equal(AgentOutcome.Failed, result.Outcome);
        Assert.Equal(2, result.Steps.Count);
        Assert.All(result.Steps, s => Assert.Null(s.Action));
        Assert.Contains("\"Create account\" not on screen", result.Error);
        Assert.Empty(Pages.Logins);
    }

    [Fact]
    public async Task A_text_label_with_no_field_next_to_it_is_a_failed_step()
    {
        await Browser.NavigateAsync(Pages.Url);
        var png = await Browser.ScreenshotAsync(CancellationToken.None);
        var text = await Policy().NextAsync(new AgentContext("type \"x\" into \"Welcome back\"", AgentMode.Web, [], png, 1280, 800), CancellationToken.None);
        Assert.False(ActionParser.Parse(text, AgentMode.Web).Ok);
        Assert.Contains("no input field", text);
    }

    private static async Task<AgentAction> NextActionAsync(OcrGroundingPolicy policy, string task, byte[] png)
    {
        var text = await policy.NextAsync(new AgentContext(task, AgentMode.Web, [], png, 1280, 800), CancellationToken.None);
        var parsed = ActionParser.Parse(text, AgentMode.Web);
        Assert.True(parsed.Ok, text);
        return parsed.Action!;
    }
}
