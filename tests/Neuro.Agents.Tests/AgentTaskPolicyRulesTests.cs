namespace Neuro.Agents.Tests;

/// <summary>The task rules for choosing a policy: which one a task runs, and which submissions are refused, on which field.</summary>
public sealed class AgentTaskPolicyRulesTests
{
    private static readonly string[] Script = ["""{"action": "ANSWER", "value": "ok", "position": null}"""];

    private static (string Field, string Message)? Validate(string task, IReadOnlyList<string>? script, string? policy) =>
        AgentTaskRules.Validate(task, "web", 10, 60, 1280, 800, script, null, policy);

    [Theory]
    [InlineData(null, true, "scripted")]
    [InlineData(null, false, "model")]
    [InlineData("", false, "model")]
    [InlineData("ocr", false, "ocr")]
    [InlineData("model", false, "model")]
    [InlineData("scripted", true, "scripted")]
    public void A_task_runs_the_policy_it_names_else_the_one_its_actions_imply(string? policy, bool hasScript, string runs) =>
        Assert.Equal(runs, AgentTaskRules.PolicyOf(policy, hasScript ? Script : null));

    [Fact]
    public void Valid_policy_submissions_pass()
    {
        Assert.Null(Validate("x", Script, null));
        Assert.Null(Validate("x", Script, "scripted"));
        Assert.Null(Validate("search the docs", null, "model"));
        Assert.Null(Validate("type \"alice\" into \"Username\"; click \"Sign in\"\npress enter\nread \"Signed in as\"", null, "ocr"));
    }

    [Theory]
    [InlineData("x", false, "vision", "policy")]
    [InlineData("x", false, "Ocr", "policy")]   // names are exact, as the docs list them
    [InlineData("x", false, "scripted", "actions")]
    [InlineData("x", true, "model", "actions")]
    [InlineData("click \"Go\"", true, "ocr", "actions")]
    [InlineData("click \"Go\"; scroll down", false, "ocr", "task")]
    public void Invalid_policy_submissions_name_the_field(string task, bool hasScript, string policy, string field)
    {
        var refused = Validate(task, hasScript ? Script : null, policy);
        Assert.NotNull(refused);
        Assert.Equal(field, refused.Value.Field);
    }

    [Fact]
    public void An_unknown_ocr_step_is_named_in_the_message()
    {
        var refused = Validate("click \"Go\"; scroll down", null, "ocr");
        Assert.Contains("scroll down", refused!.Value.Message);
        Assert.DoesNotContain("Parameter", refused.Value.Message);
    }
}
