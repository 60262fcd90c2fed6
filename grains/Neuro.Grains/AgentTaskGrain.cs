using Neuro.Abstractions;
using Neuro.Agents;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Neuro.Core.Sessions;
using Neuro.Core.Tasks;

namespace Neuro.Grains;

public sealed class AgentTaskState
{
    public AgentTaskSpec? Spec { get; set; }
    public AgentTaskStatus Status { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public string? Answer { get; set; }
    public string? Error { get; set; }
    public string? Worker { get; set; }
    public int Attempts { get; set; }
    public List<AgentTaskStep> Steps { get; set; } = [];
    public WebhookDeliveryView? Webhook { get; set; }
}

public sealed class AgentTaskGrain(
    [PersistentState("task", NeuroStorage.Name)] IPersistentState<AgentTaskState> state,
    IArtifactStore artifacts,
    ITaskIndexStore index,
    IOptions<TaskQuotaOptions> quotas,
    Neuro.Webhooks.Webhooks webhooks,
    WebhookDeliveries deliveries,
    AgentModelSettings model,
    AgentOcr ocr,
    NeuroClock clock) : Grain, IAgentTaskGrain, IRemindable
{
    private static readonly TimeSpan ScreenshotTtl = TimeSpan.FromDays(1);
    private const string WebhookReminder = "webhook";
    private static readonly JsonSerializerOptions PayloadJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private AgentTaskState S => state.State;

    private string Id => this.GetPrimaryKeyString();

    public async Task<AgentTaskView> SubmitAsync(AgentTaskSpec spec)
    {
        if (S.Spec is not null)
        {
            return View(); // a retried submit is not queued twice
        }
        if (spec.SessionId is { } sessionId)
        {
            spec = await BindToSessionAsync(spec, sessionId);
        }
        spec = await ValidateAsync(spec);
        var quota = quotas.Value;
        if (!await index.TryReserveActiveAsync(spec.Tenant, Id, quota.LimitFor(spec.Tenant)))
        {
            throw new NeuroRequestException(NeuroErrorKind.ResourceExhausted, "tenant",
                $"tenant '{spec.Tenant}' already has {quota.LimitFor(spec.Tenant)} queued or running tasks (its quota); retry when one finishes")
            { RetryAfterSeconds = quota.RetryAfterSeconds };
        }
        var pool = GrainFactory.GetGrain<IAgentPoolGrain>(spec.Pool);
        // The run happens later, maybe on another silo: it joins the submit's trace through this id.
        spec = spec with { TraceParent = System.Diagnostics.Activity.Current?.Id };
        S.Spec = spec;
        S.Status = AgentTaskStatus.Queued;
        S.CreatedAt = clock.Now;
        await state.WriteStateAsync(); // durable before anyone hears the id
        try
        {
            await pool.EnqueueAsync(new WorkItem(Id, spec.SessionId, spec.Priority, 0, 0));
        }
        catch
        {
            // Not queued (e.g. the pool is not configured: NotFound naming "pool"), so not accepted: leave nothing behind.
            await state.ClearStateAsync();
            state.State = new AgentTaskState();
            await index.ReleaseActiveAsync(spec.Tenant, Id);
            throw;
        }
        await IndexAsync();
        return View();
    }

    public Task<AgentTaskView?> GetAsync() => Task.FromResult(S.Spec is null ? null : View());

    public async Task<AgentTaskView> UpdateAsync(AgentTaskSpec spec)
    {
        RequireExists();
        if (S.Status != AgentTaskStatus.Queued)
        {
            throw new NeuroRequestException(NeuroErrorKind.Conflict, "status", $"task is {Name(S.Status)}; only a queued task can be updated");
        }
        if (spec.Pool != S.Spec!.Pool || spec.Tenant != S.Spec.Tenant)
        {
            throw NeuroRequestException.Invalid("pool", "a queued task cannot move to another pool");
        }
        spec = await ValidateAsync(spec);
        var before = S.Spec;
        spec = spec with { TraceParent = before.TraceParent };
        S.Spec = spec;
        await state.WriteOrUndoAsync(() => S.Spec = before);
        return View();
    }

    public async Task<AgentTaskView> CancelAsync()
    {
        RequireExists();
        switch (S.Status)
        {
            case AgentTaskStatus.Queued:
                await GrainFactory.GetGrain<IAgentPoolGrain>(S.Spec!.Pool).CancelQueuedAsync(Id);
                await MoveAsync(AgentTaskStatus.Cancelled, null, "cancelled while queued");
                break;
            case AgentTaskStatus.Running:
                // The worker stops the loop within the step in progress and reports the cancelled state itself.
                await GrainFactory.GetGrain<IAgentWorkerGrain>(S.Worker!).CancelAsync(Id);
                break;
        }
        return View();
    }

    public Task<IReadOnlyList<AgentTaskStep>> GetStepsAsync()
    {
        RequireExists();
        return Task.FromResult<IReadOnlyList<AgentTaskStep>>(S.Steps.ToArray());
    }

    public async Task<byte[]?> GetScreenshotAsync(int step)
    {
        RequireExists();
        if (S.Steps.FirstOrDefault(s => s.Number == step) is not { HasScreenshot: true })
        {
            return null;
        }
        return await artifacts.GetAsync(ScreenshotKey(step));
    }

    public async Task<AgentTaskSpec?> StartAsync(string worker)
    {
        // The run guard: only a queued task starts, or a running one whose worker was lost (at-least-once delivery).
        var rerun = S.Status == AgentTaskStatus.Running && S.Worker != worker;
        if (S.Spec is null || (S.Status != AgentTaskStatus.Queued && !rerun))
        {
            return null;
        }
        S.Status = AgentTaskStatus.Running;
        S.Worker = worker;
        S.StartedAt = clock.Now;
        S.Attempts++;
        S.Steps.Clear();
        await state.WriteStateAsync();
        await IndexAsync();
        return S.Spec;
    }

    public async Task ReportStepAsync(AgentTaskStep step, byte[]? screenshot)
    {
        if (S.Status != AgentTaskStatus.Running)
        {
            return;
        }
        if (screenshot is not null)
        {
            await artifacts.PutAsync(ScreenshotKey(step.Number), screenshot, ScreenshotTtl);
        }
        S.Steps.Add(step with { HasScreenshot = screenshot is not null });
        await state.WriteStateAsync();
    }

    public async Task FinishAsync(string status, string? answer, string? error)
    {
        if (!Enum.TryParse<AgentTaskStatus>(status, ignoreCase: true, out var to) || !AgentTaskRules.IsTerminal(to))
        {
            throw NeuroRequestException.Invalid("status", $"'{status}' is not a terminal status");
        }
        if (S.Status == AgentTaskStatus.Running)
        {
            await MoveAsync(to, answer, error);
        }
    }

    private async Task MoveAsync(AgentTaskStatus to, string? answer, string? error)
    {
        if (!AgentTaskRules.CanMove(S.Status, to))
        {
            return;
        }
        S.Status = to;
        S.Answer = answer;
        S.Error = error;
        S.FinishedAt = clock.Now;
        if (S.Spec!.CallbackUrl is not null)
        {
            // Pending in the same write as the terminal state: a crash after it still delivers (the reminder resumes).
            S.Webhook = new WebhookDeliveryView("pending", 0, null, null, null);
        }
        await state.WriteStateAsync();
        await IndexAsync();
        if (S.Webhook is { Status: "pending" })
        {
            await this.RegisterOrUpdateReminder(WebhookReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            deliveries.Schedule(Id);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != WebhookReminder)
        {
            return;
        }
        if (S.Webhook is { Status: "pending" })
        {
            deliveries.Schedule(Id); // a no-op while this silo is already delivering it
        }
        else if (await this.GetReminder(WebhookReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    public Task<WebhookJob?> GetWebhookJobAsync()
    {
        if (S.Webhook is not { Status: "pending" } || S.Spec?.CallbackUrl is not { } url)
        {
            return Task.FromResult<WebhookJob?>(null);
        }
        var status = Name(S.Status);
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            Event = $"task.{status}",
            TaskId = Id,
            Status = status,
            S.Answer,
            S.Error,
            Steps = S.Steps.Count,
            S.Attempts,
            S.CreatedAt,
            S.StartedAt,
            S.FinishedAt,
        }, PayloadJson);
        return Task.FromResult<WebhookJob?>(new WebhookJob(url, $"task.{status}", body));
    }

    public async Task RecordWebhookAsync(bool delivered, int attempts, int? statusCode, string? error)
    {
        if (S.Webhook is not { Status: "pending" } pending)
        {
            return;
        }
        S.Webhook = new WebhookDeliveryView(delivered ? "delivered" : "failed", pending.Attempts + attempts, statusCode, error, delivered ? clock.Now : null);
        await state.WriteOrUndoAsync(() => S.Webhook = pending);
        if (await this.GetReminder(WebhookReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    private Task IndexAsync() => index.UpsertAsync(new IndexedTask(Id, Name(S.Status), S.CreatedAt, S.Spec!.Pool, S.Spec.Tenant));

    /// <summary>A task of an agent session runs in the session's environment: its mode, screen and pool are the session's.</summary>
    private async Task<AgentTaskSpec> BindToSessionAsync(AgentTaskSpec spec, string sessionId)
    {
        Errors.ThrowIf(ConversationState.ValidateId(sessionId, new SessionLimits()));
        var session = await GrainFactory.GetGrain<ISessionGrain>(sessionId).GetAsync();
        // Another tenant's session answers like a missing one.
        if (session?.Agent is not { } agent || agent.Tenant != spec.Tenant)
        {
            throw NeuroRequestException.NotFound("session_id", $"no agent session '{sessionId}' (open one with POST /api/v1/sessions and an \"agent\" object)");
        }
        return spec with { Mode = agent.Mode, Width = agent.Width, Height = agent.Height, Pool = agent.Pool, StartUrl = spec.StartUrl ?? agent.StartUrl };
    }

    /// <summary>Checks the spec and returns it as it is stored: with the policy it will run resolved, so readers of the
    /// task see what decides its steps.</summary>
    private async Task<AgentTaskSpec> ValidateAsync(AgentTaskSpec spec)
    {
        Validate(spec);
        // A policy the task names explicitly must be able to run here; refused before anything is stored. (A task that
        // names none and has no actions keeps the older rule: it fails when it runs, saying no model is configured.)
        if (spec.Policy == "ocr" && ocr.Unavailable() is { } missing)
        {
            throw new NeuroRequestException(NeuroErrorKind.Unavailable, "policy", $"the ocr policy is not installed on this cluster: {missing}");
        }
        if (spec.Policy == "model" && model.Options is null)
        {
            throw new NeuroRequestException(NeuroErrorKind.Unavailable, "policy", "the model policy is not configured on this cluster (Neuro:Agents:Model)");
        }
        if (spec.CallbackUrl is { } url && await webhooks.RefusalAsync(url) is { } refusal)
        {
            throw NeuroRequestException.Invalid("callback_url", refusal);
        }
        return spec with { Policy = AgentTaskRules.PolicyOf(spec.Policy, spec.Actions) };
    }

    private static void Validate(AgentTaskSpec spec)
    {
        if (AgentTaskRules.Validate(spec.Task, spec.Mode, spec.MaxSteps, spec.TimeoutSeconds, spec.Width, spec.Height, spec.Actions, spec.StartUrl, spec.Policy) is { } bad)
        {
            throw NeuroRequestException.Invalid(bad.Field, bad.Message);
        }
        if (string.IsNullOrWhiteSpace(spec.Pool))
        {
            throw NeuroRequestException.Invalid("pool", "must not be empty");
        }
    }

    private void RequireExists()
    {
        if (S.Spec is null)
        {
            throw NeuroRequestException.NotFound("task_id", $"task '{Id}' does not exist");
        }
    }

    private string ScreenshotKey(int step) => $"task/{Id}/step/{step}";

    public static string Name(AgentTaskStatus s) => s switch
    {
        AgentTaskStatus.TimedOut => "timed_out",
        _ => s.ToString().ToLowerInvariant(),
    };

    private AgentTaskView View() => new(
        Id, Name(S.Status), S.Spec!, S.CreatedAt, S.StartedAt, S.FinishedAt,
        (S.StartedAt ?? S.CreatedAt) + TimeSpan.FromSeconds(S.Spec!.TimeoutSeconds),
        S.Answer, S.Error, S.Steps.Count, S.Attempts, S.Worker, S.Webhook);
}
