namespace Neuro.Agents.Tests;

public sealed class ActionParserTests
{
    [Fact]
    public void Json_dict()
    {
        var a = ActionParser.Parse("""{"action": "CLICK", "value": null, "position": [0.25, 0.5]}""", AgentMode.Web).Action!;
        Assert.Equal("CLICK", a.Kind);
        Assert.Equal(new ScreenPoint(0.25, 0.5), a.Position);
        Assert.Equal("left", a.Button);
    }

    [Fact]
    public void Python_literal_with_several_dicts_takes_the_first()
    {
        var text = "{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]}, {'action': 'INPUT', 'value': 'weather for New York city', 'position': [0.49, 0.42]}";
        var a = ActionParser.Parse(text, AgentMode.Web).Action!;
        Assert.Equal("CLICK", a.Kind);
        Assert.Null(a.Value);
        Assert.Equal(0.42, a.Position!.Value.Y);
    }

    [Fact]
    public void Python_strings_keep_their_contents()
    {
        var a = ActionParser.Parse("""{'action': 'input', 'value': 'it\'s "None" or True', 'position': (0.1, 0.2)}""".Replace("(0.1, 0.2)", "[0.1, 0.2]"), AgentMode.Web).Action!;
        Assert.Equal("INPUT", a.Kind);
        Assert.Equal("it's \"None\" or True", a.Value);
    }

    [Fact]
    public void Tuple_of_dicts_and_start_end_pairs()
    {
        var a = ActionParser.Parse("({'action': 'SWIPE', 'value': None, 'position': [[0.5, 0.8], [0.5, 0.2]]},)", AgentMode.Phone).Action!;
        Assert.Equal("SWIPE", a.Kind);
        Assert.Equal(new ScreenPoint(0.5, 0.8), a.Position);
        Assert.Equal(new ScreenPoint(0.5, 0.2), a.End);
    }

    [Theory]
    [InlineData("""{"action": "SWIPE", "value": null, "position": [[0,0],[1,1]]}""", "web action space")]
    [InlineData("""{"action": "HOVER", "value": null, "position": [0.5, 0.5]}""", "phone action space")]
    public void Actions_outside_the_mode_are_errors(string text, string expected)
    {
        var mode = expected.StartsWith("web", StringComparison.Ordinal) ? AgentMode.Web : AgentMode.Phone;
        var parsed = ActionParser.Parse(text, mode);
        Assert.False(parsed.Ok);
        Assert.Contains(expected, parsed.Error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("I would click the search box")]
    [InlineData("""{"action": "CLICK", "position": [0.5, 0.5]}""")]
    [InlineData("""{"action": "CLICK", "value": null, "position": [1.5, 0.5]}""")]
    [InlineData("""{"action": "CLICK", "value": null, "position": null}""")]
    [InlineData("""{"action": "INPUT", "value": null, "position": [0.5, 0.5]}""")]
    [InlineData("""{"action": "SELECT_TEXT", "value": null, "position": [0.5, 0.5]}""")]
    [InlineData("""{"action": 7, "value": null, "position": null}""")]
    [InlineData("""[1, 2, 3]""")]
    public void Malformed_outputs_are_errors_not_crashes(string text)
    {
        var parsed = ActionParser.Parse(text, AgentMode.Web);
        Assert.False(parsed.Ok);
        Assert.False(string.IsNullOrEmpty(parsed.Error));
    }

    [Fact]
    public void Answer_and_done_end_the_task_in_any_mode()
    {
        Assert.True(ActionParser.Parse("{'action': 'ANSWER', 'value': 'task complete', 'position': None}", AgentMode.Phone).Action!.IsFinal);
        Assert.True(ActionParser.Parse("{'action': 'DONE', 'value': None, 'position': None}", AgentMode.Web).Action!.IsFinal);
    }

    [Fact]
    public void Extras_button_and_amount()
    {
        var click = ActionParser.Parse("""{"action": "CLICK", "value": "right", "position": [0.1, 0.1]}""", AgentMode.Web).Action!;
        Assert.Equal("right", click.Button);
        var scroll = ActionParser.Parse("""{"action": "SCROLL", "value": "down", "position": null, "amount": 3}""", AgentMode.Web).Action!;
        Assert.Equal(3, scroll.Amount);
        Assert.Equal("left", ActionParser.Parse("""{"action": "INPUT", "value": "right", "position": [0.1, 0.1]}""", AgentMode.Web).Action!.Button);
    }

    [Fact]
    public void Pixels_are_clamped_inside_the_screen()
    {
        Assert.Equal((799, 599), new ScreenPoint(1, 1).ToPixels(800, 600));
        Assert.Equal((400, 150), new ScreenPoint(0.5, 0.25).ToPixels(800, 600));
    }
}
