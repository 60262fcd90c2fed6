namespace Neuro.Agents;

/// <summary>Where a task is in its life. Terminal states never change again.</summary>
public enum AgentTaskStatus { Queued, Running, Completed, Failed, Cancelled, TimedOut }

/// <summary>The rules of an agent task that every face of the API shares: what a valid submission is, and which status
/// changes are allowed.</summary>
public static class AgentTaskRules
{
    public const int MaxTaskChars = 4096;
    public const int MaxStepsLimit = 500;
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(2);
    public const int MaxScriptActions = 1000;

    public static bool IsTerminal(AgentTaskStatus s) => s is AgentTaskStatus.Completed or AgentTaskStatus.Failed or AgentTaskStatus.Cancelled or AgentTaskStatus.TimedOut;

    public static bool CanMove(AgentTaskStatus from, AgentTaskStatus to) => (from, to) switch
    {
        (AgentTaskStatus.Queued, AgentTaskStatus.Running or AgentTaskStatus.Cancelled) => true,
        (AgentTaskStatus.Running, AgentTaskStatus.Queued) => true, // its worker was lost: run it again (at-least-once)
        (AgentTaskStatus.Running, _) when IsTerminal(to) => true,
        _ => false,
    };

    public static AgentTaskStatus From(AgentOutcome outcome) => outcome switch
    {
        AgentOutcome.Completed => AgentTaskStatus.Completed,
        AgentOutcome.Cancelled => AgentTaskStatus.Cancelled,
        AgentOutcome.TimedOut => AgentTaskStatus.TimedOut,
        _ => AgentTaskStatus.Failed,
    };

    /// <summary>The policies a task may ask for: its own actions replayed (<see cref="ScriptedPolicy"/>), the configured
    /// vision-language model (<see cref="OpenAiPolicy"/>), or plain-text steps grounded by OCR (<see cref="OcrGroundingPolicy"/>).</summary>
    public static readonly IReadOnlyList<string> Policies = ["scripted", "model", "ocr"];

    /// <summary>The policy a task runs: the one it names, else the rule from before tasks could name one (actions given:
    /// scripted; none: the model).</summary>
    public static string PolicyOf(string? policy, IReadOnlyList<string>? script) =>
        policy is { Length: > 0 } ? policy : script is null ? "model" : "scripted";

    /// <summary>Checks a submission; returns the offending field and why, or null.</summary>
    public static (string Field, string Message)? Validate(
        string? task, string? mode, int maxSteps, int timeoutSeconds, int width, int height, IReadOnlyList<string>? script, string? startUrl,
        string? policy = null)
    {
        if (string.IsNullOrWhiteSpace(task))
        {
            return ("task", "must not be empty");
        }
        if (task.Length > MaxTaskChars)
        {
            return ("task", $"must be at most {MaxTaskChars} characters (got {task.Length})");
        }
        if (maxSteps is < 1 or > MaxStepsLimit)
        {
            return ("max_steps", $"must be between 1 and {MaxStepsLimit}");
        }
        if (timeoutSeconds < 1 || timeoutSeconds > MaxTimeout.TotalSeconds)
        {
            return ("timeout", $"must be between 1 and {(int)MaxTimeout.TotalSeconds} seconds");
        }
        if (ValidateEnvironment(mode, width, height, null) is { } environment)
        {
            return environment;
        }
        if (script is { Count: > MaxScriptActions })
        {
            return ("actions", $"at most {MaxScriptActions} scripted actions");
        }
        if (script is not null)
        {
            var taskMode = mode == "phone" ? AgentMode.Phone : AgentMode.Web;
            for (var i = 0; i < script.Count; i++)
            {
                if (ActionParser.Parse(script[i], taskMode) is { Ok: false } bad)
                {
                    return ($"actions[{i}]", bad.Error!);
                }
            }
        }
        return ValidatePolicy(policy, task, script) ?? ValidateEnvironment(mode, width, height, startUrl);
    }

    private static (string Field, string Message)? ValidatePolicy(string? policy, string task, IReadOnlyList<string>? script)
    {
        if (policy is { Length: > 0 } && !Policies.Contains(policy))
        {
            return ("policy", $"must be one of {string.Join(", ", Policies)} (or empty: scripted when actions are given, else model)");
        }
        switch (PolicyOf(policy, script))
        {
            case "scripted" when script is null:
                return ("actions", "a scripted task needs its actions");
            case var chosen and ("model" or "ocr") when script is not null:
                return ("actions", $"a {chosen} task decides its own actions: leave actions out");
            case "ocr":
                try
                {
                    OcrGroundingPolicy.ParseTask(task); // every step must be one the policy knows, before anything is stored
                }
                catch (ArgumentException e)
                {
                    return ("task", e.Message.Replace(" (Parameter 'task')", "", StringComparison.Ordinal));
                }
                break;
        }
        return null;
    }

    /// <summary>Checks what an environment is made from (a task's, or an agent session's kept across tasks).</summary>
    public static (string Field, string Message)? ValidateEnvironment(string? mode, int width, int height, string? startUrl)
    {
        if (mode is not (null or "" or "web" or "phone"))
        {
            return ("mode", "must be web or phone");
        }
        if (width is < 64 or > 8192 || height is < 64 or > 8192)
        {
            return ("options.screen_resolution", "width and height must be between 64 and 8192");
        }
        if (startUrl is { Length: > 0 } && (!Uri.TryCreate(startUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "data" or "about")))
        {
            return ("start_url", "must be an absolute http(s), data: or about: URL");
        }
        return null;
    }
}
