namespace Neuro.Agents;

public enum AgentMode { Web, Phone }

/// <summary>A point on the screen as fractions of its width and height (0..1), the way GUI models answer.</summary>
public readonly record struct ScreenPoint(double X, double Y)
{
    /// <summary>Pixel coordinates on a screen of the given size, clamped inside it.</summary>
    public (int X, int Y) ToPixels(int width, int height) =>
        (Math.Clamp((int)(X * width), 0, width - 1), Math.Clamp((int)(Y * height), 0, height - 1));
}

/// <summary>One action of the ShowUI-style schema: <c>{action, value, position}</c>, with <c>position</c> either a point
/// or a start/end pair (drags and swipes).</summary>
public sealed record AgentAction(string Kind, string? Value, ScreenPoint? Position, ScreenPoint? End = null, int Amount = 1)
{
    public static readonly IReadOnlySet<string> WebKinds = new HashSet<string>(StringComparer.Ordinal)
        { "CLICK", "INPUT", "SELECT", "HOVER", "ANSWER", "ENTER", "SCROLL", "SELECT_TEXT", "COPY" };

    public static readonly IReadOnlySet<string> PhoneKinds = new HashSet<string>(StringComparer.Ordinal)
        { "INPUT", "SWIPE", "TAP", "ANSWER", "ENTER" };

    public static IReadOnlySet<string> KindsFor(AgentMode mode) => mode == AgentMode.Web ? WebKinds : PhoneKinds;

    /// <summary>ANSWER (and DONE, which models also emit) ends the task.</summary>
    public bool IsFinal => Kind is "ANSWER" or "DONE";

    /// <summary>Mouse button for CLICK/TAP/SELECT: a value of left|middle|right picks it, anything else means left.</summary>
    public string Button => Kind is "CLICK" or "TAP" or "SELECT" && Value is "middle" or "right" ? Value : "left";
}
