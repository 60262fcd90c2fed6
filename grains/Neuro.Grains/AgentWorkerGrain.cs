using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Neuro.Abstractions;
using Neuro.Agents;

namespace Neuro.Grains;

/// <summary>Makes the environment a task runs in (a fresh headless Chromium by default).</summary>
public interface IAgentEnvironmentFactory
{
    Task<IAgentEnvironment> CreateAsync(AgentTaskSpec spec, CancellationToken cancellationToken);

    /// <summary>True when an environment is a connection worth keeping (a remote Neko browser): each agent slot then
    /// keeps its environment between tasks and closes it when the slot's grain deactivates.</summary>
    bool KeepsEnvironments => false;
}

public sealed class ChromiumEnvironmentFactory(ChromiumOptions options) : IAgentEnvironmentFactory
{
    public async Task<IAgentEnvironment> CreateAsync(AgentTaskSpec spec, CancellationToken cancellationToken)
    {
        var browser = await ChromiumEnvironment.LaunchAsync(
            new ChromiumOptions { Executable = options.Executable, Width = spec.Width, Height = spec.Height, StartTimeout = options.StartTimeout },
            spec.Mode == "phone" ? AgentMode.Phone : AgentMode.Web, cancellationToken);
        try
        {
            if (spec.StartUrl is { Length: > 0 } url)
            {
                await browser.NavigateAsync(url, cancellationToken);
            }
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }
}

/// <summary>The model policy for tasks that carry no scripted actions: an OpenAI-compatible chat-completions endpoint
/// (vLLM serving ShowUI, UI-TARS, Qwen-VL...), configured under <c>Neuro:Agents:Model</c>. Absent = scripted tasks only.</summary>
public sealed record AgentModelSettings(OpenAiPolicyOptions? Options);

/// <summary>One agent slot of a pool. Runs its task's step loop in the background (so the grain keeps answering, e.g. a
/// cancel), reports each step to the task grain, and tells the pool when the slot is free again.</summary>
public sealed partial class AgentWorkerGrain(IAgentEnvironmentFactory environments, AgentModelSettings model, AgentOcr ocr, ILogger<AgentWorkerGrain> log) : Grain, IAgentWorkerGrain
{
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new(StringComparer.Ordinal);

    // An agent session's environment, kept between its tasks (null for pool slots, which start fresh every task).
    private IAgentEnvironment? _kept;

    private bool KeepsEnvironment => environments.KeepsEnvironments || this.GetPrimaryKeyString().StartsWith("session/", StringComparison.Ordinal);

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_kept is not null)
        {
            await _kept.DisposeAsync();
            _kept = null;
        }
    }

    public Task RunAsync(string taskId, string pool)
    {
        var cancel = new CancellationTokenSource();
        if (!_running.TryAdd(taskId, cancel))
        {
            cancel.Dispose();
            return Task.CompletedTask;
        }
        // A running task keeps its worker activation (and so its cancel handle) alive.
        DelayDeactivation(AgentTaskRules.MaxTimeout + TimeSpan.FromMinutes(5));
        var worker = this.GetPrimaryKeyString();
        var grains = GrainFactory;
        _ = Task.Run(async () =>
        {
            try
            {
                await ExecuteAsync(grains, worker, pool, taskId, cancel.Token);
            }
            finally
            {
                _running.TryRemove(taskId, out _);
                cancel.Dispose();
            }
        });
        return Task.CompletedTask;
    }

    public Task CancelAsync(string taskId)
    {
        if (_running.TryGetValue(taskId, out var cancel))
        {
            cancel.Cancel();
        }
        return Task.CompletedTask;
    }

    private async Task ExecuteAsync(IGrainFactory grains, string worker, string poolName, string taskId, CancellationToken cancellationToken)
    {
        var task = grains.GetGrain<IAgentTaskGrain>(taskId);
        var pool = grains.GetGrain<IAgentPoolGrain>(poolName);
        try
        {
            var spec = await task.StartAsync(worker);
            if (spec is null)
            {
                return; // cancelled while queued, or already finished: the run guard says no
            }
            var policyName = AgentTaskRules.PolicyOf(spec.Policy, spec.Actions);
            if (policyName == "model" && model.Options is null)
            {
                await task.FinishAsync("failed", null, "no policy: give the task an actions list, or \"policy\": \"ocr\" with plain steps (no model is configured under Neuro:Agents:Model)");
                return;
            }
            var run = new AgentRun(spec.Task, spec.Mode == "phone" ? AgentMode.Phone : AgentMode.Web, spec.MaxSteps,
                TimeSpan.FromSeconds(spec.TimeoutSeconds), spec.SaveScreenshots);
            using var span = AgentTracing.Source.StartActivity("agent.task", System.Diagnostics.ActivityKind.Internal, spec.TraceParent);
            span?.SetTag("task_id", taskId);
            span?.SetTag("agent_id", worker);
            var started = System.Diagnostics.Stopwatch.StartNew();
            var outcome = "failed";
            var actions = 0;
            Neuro.Core.Telemetry.AgentMeters.AgentStarted();
            try
            {
                using var modelPolicy = policyName == "model" ? new OpenAiPolicy(model.Options!) : null;
                IAgentPolicy policy = policyName switch
                {
                    "model" => modelPolicy!,
                    "ocr" => ocr.Policy(), // models missing on this silo: FileNotFoundException naming them, the task fails with it
                    _ => new ScriptedPolicy(spec.Actions!),
                };
                var kept = KeepsEnvironment;
                var environment = kept ? _kept ??= await environments.CreateAsync(spec, cancellationToken) : await environments.CreateAsync(spec, cancellationToken);
                AgentRunResult result;
                try
                {
                    result = await AgentLoop.RunAsync(run, environment, policy, cancellationToken,
                        step => task.ReportStepAsync(ToContract(step), step.Screenshot));
                }
                catch when (kept)
                {
                    // A broken environment is not kept: the session's next task starts a fresh one.
                    _kept = null;
                    await environment.DisposeAsync();
                    throw;
                }
                finally
                {
                    if (!kept)
                    {
                        await environment.DisposeAsync();
                    }
                }
                actions = result.Steps.Count(s => s.Action is not null);
                outcome = AgentTaskGrain.Name(AgentTaskRules.From(result.Outcome));
                await task.FinishAsync(outcome, result.Answer, result.Error);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                outcome = "cancelled";
                throw;
            }
            finally
            {
                Neuro.Core.Telemetry.AgentMeters.AgentStopped(spec.Mode, outcome, started.Elapsed);
                span?.SetTag("outcome", outcome);
                LogTaskFinished(taskId, worker, "task_finished", started.Elapsed.TotalSeconds, actions, outcome == "completed", outcome);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await task.FinishAsync("cancelled", null, "cancelled");
        }
        catch (Exception e)
        {
            log.LogWarning(e, "task {TaskId} on {Worker} failed", taskId, worker);
            await task.FinishAsync("failed", null, e.Message);
        }
        finally
        {
            await pool.CompleteAsync(taskId, 0);
        }
    }

    // The seed's structured log record (§6.2): one per finished task, with these field names in the JSON log.
    [LoggerMessage(Level = LogLevel.Information, EventName = "task_finished",
        Message = "task {task_id} on {agent_id}: {event} {outcome} in {duration} s, {actions_executed} actions, success={success}")]
    private partial void LogTaskFinished(string task_id, string agent_id, string @event, double duration, int actions_executed, bool success, string outcome);

    private static AgentTaskStep ToContract(AgentStep s) => new(
        s.Number, s.Action?.Kind, s.Action?.Value, s.Action?.Position is { } p ? [p.X, p.Y] : null, s.ModelOutput, s.Error,
        s.PolicyTime.TotalMilliseconds, s.ActionTime.TotalMilliseconds, s.Screenshot is not null);
}
