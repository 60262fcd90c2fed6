using System.Diagnostics;

namespace Neuro.Agents;

/// <summary>What the agent sees and acts on: a browser page, a remote desktop over WebRTC (Neko), a phone.</summary>
public interface IAgentEnvironment : IAsyncDisposable
{
    Task<(int Width, int Height)> GetScreenSizeAsync(CancellationToken cancellationToken);

    /// <summary>The screen now, as PNG bytes.</summary>
    Task<byte[]> ScreenshotAsync(CancellationToken cancellationToken);

    Task ExecuteAsync(AgentAction action, CancellationToken cancellationToken);
}

/// <summary>What decides the next action: a vision-language model, or a script. Returns the raw text, which the loop
/// parses with <see cref="ActionParser"/> so scripted and model policies go through the same schema.</summary>
public interface IAgentPolicy
{
    Task<string> NextAsync(AgentContext context, CancellationToken cancellationToken);
}

public sealed record AgentContext(string Task, AgentMode Mode, IReadOnlyList<AgentStep> History, byte[] Screenshot, int Width, int Height);

public sealed record AgentStep(
    int Number, string ModelOutput, AgentAction? Action, string? Error, TimeSpan PolicyTime, TimeSpan ActionTime, byte[]? Screenshot);

public enum AgentOutcome { Completed, Failed, Cancelled, TimedOut }

public sealed record AgentRunResult(AgentOutcome Outcome, string? Answer, string? Error, IReadOnlyList<AgentStep> Steps);

/// <param name="MaxConsecutiveParseErrors">A model that keeps writing unparseable output fails the task instead of burning every step.</param>
public sealed record AgentRun(string Task, AgentMode Mode = AgentMode.Web, int MaxSteps = 20, TimeSpan? Timeout = null, bool SaveScreenshots = false, int MaxConsecutiveParseErrors = 3);

/// <summary>Spans of the agent runtime: one "agent.step" per step (screenshot, policy, action), under whatever span is
/// current when the loop runs (the worker's "agent.task", itself under the submit request's trace).</summary>
public static class AgentTracing
{
    public const string SourceName = "Neuro.Agents";

    public static readonly ActivitySource Source = new(SourceName, "1.0");
}

/// <summary>The step loop: screenshot → policy → parse → act, until ANSWER, max steps, the timeout, or cancellation.
/// Cancellation reaches every await in the loop, so a cancelled task stops within the step in progress.</summary>
public static class AgentLoop
{
    public static async Task<AgentRunResult> RunAsync(
        AgentRun run, IAgentEnvironment environment, IAgentPolicy policy, CancellationToken cancellationToken, Func<AgentStep, Task>? onStep = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(run.MaxSteps, 1);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (run.Timeout is { } timeout)
        {
            deadline.CancelAfter(timeout);
        }
        var ct = deadline.Token;
        var steps = new List<AgentStep>();
        var parseErrors = 0;
        try
        {
            for (var n = 1; n <= run.MaxSteps; n++)
            {
                using var span = AgentTracing.Source.StartActivity("agent.step");
                span?.SetTag("agent.step", n);
                var (width, height) = await environment.GetScreenSizeAsync(ct);
                var screenshot = await environment.ScreenshotAsync(ct);
                var clock = Stopwatch.StartNew();
                var output = await policy.NextAsync(new AgentContext(run.Task, run.Mode, steps, screenshot, width, height), ct);
                var policyTime = clock.Elapsed;
                var parsed = ActionParser.Parse(output, run.Mode);
                var saved = run.SaveScreenshots ? screenshot : null;
                if (!parsed.Ok)
                {
                    await Record(new AgentStep(n, output, null, parsed.Error, policyTime, TimeSpan.Zero, saved));
                    if (++parseErrors >= run.MaxConsecutiveParseErrors)
                    {
                        return new(AgentOutcome.Failed, null, $"{parseErrors} unparseable model outputs in a row; last: {parsed.Error}", steps);
                    }
                    continue;
                }
                parseErrors = 0;
                var action = parsed.Action!;
                if (action.IsFinal)
                {
                    await Record(new AgentStep(n, output, action, null, policyTime, TimeSpan.Zero, saved));
                    return new(AgentOutcome.Completed, action.Value, null, steps);
                }
                clock.Restart();
                await environment.ExecuteAsync(action, ct);
                await Record(new AgentStep(n, output, action, null, policyTime, clock.Elapsed, saved));
            }
            return new(AgentOutcome.Failed, null, $"max_steps ({run.MaxSteps}) reached without an answer", steps);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new(AgentOutcome.Cancelled, null, "cancelled", steps);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return new(AgentOutcome.TimedOut, null, $"timeout ({run.Timeout}) reached", steps);
        }

        async Task Record(AgentStep step)
        {
            Activity.Current?.SetTag("agent.action", step.Action?.Kind ?? "unparsed");
            steps.Add(step);
            if (onStep is not null)
            {
                await onStep(step);
            }
        }
    }
}

/// <summary>Replays a fixed list of actions (a recorded episode, or deterministic automation). After the list it answers,
/// so a script never runs into max_steps by accident.</summary>
public sealed class ScriptedPolicy(IEnumerable<string> actions, string finalAnswer = "script finished") : IAgentPolicy
{
    private readonly Queue<string> _actions = new(actions);

    public Task<string> NextAsync(AgentContext context, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(_actions.TryDequeue(out var next)
            ? next
            : System.Text.Json.JsonSerializer.Serialize(new { action = "ANSWER", value = finalAnswer, position = (object?)null }));
    }
}
