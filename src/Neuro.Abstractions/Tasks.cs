namespace Neuro.Abstractions;

/// <summary>One agent task (seed 004 task API), keyed by task id. Persisted before its id is returned; runs at least once
/// on an agent worker of its pool, with a run guard so a task that already finished never runs again.</summary>
[Alias("neuro.agent-task")]
public interface IAgentTaskGrain : IGrainWithStringKey
{
    /// <summary>Stores the task and queues it on its pool. Submitting the same id again returns the existing task.</summary>
    [Alias("submit")]
    Task<AgentTaskView> SubmitAsync(AgentTaskSpec spec);

    [Alias("get")]
    Task<AgentTaskView?> GetAsync();

    /// <summary>Replaces the parameters of a task that is still queued; a running or finished task is a conflict.</summary>
    [Alias("update")]
    Task<AgentTaskView> UpdateAsync(AgentTaskSpec spec);

    /// <summary>Cancels: a queued task leaves the queue, a running one is stopped by its worker within a step.</summary>
    [Alias("cancel")]
    Task<AgentTaskView> CancelAsync();

    [Alias("steps")]
    Task<IReadOnlyList<AgentTaskStep>> GetStepsAsync();

    [Alias("screenshot")]
    Task<byte[]?> GetScreenshotAsync(int step);

    /// <summary>Worker side: claims the task for a run. Null when it must not run (cancelled or already finished).</summary>
    [Alias("start")]
    Task<AgentTaskSpec?> StartAsync(string worker);

    [Alias("step")]
    Task ReportStepAsync(AgentTaskStep step, byte[]? screenshot);

    [Alias("finish")]
    Task FinishAsync(string status, string? answer, string? error);

    /// <summary>Delivery side: the webhook to post, or null when none is pending.</summary>
    [Alias("webhook-job")]
    Task<WebhookJob?> GetWebhookJobAsync();

    /// <summary>Delivery side: how the attempt series ended.</summary>
    [Alias("webhook-result")]
    Task RecordWebhookAsync(bool delivered, int attempts, int? statusCode, string? error);
}

/// <summary>Runs tasks, one at a time: key "{pool}/{slot}" for a pool's agent slot (a fresh environment per task), or
/// "session/{session id}" for an agent session (one environment kept between the session's tasks).</summary>
[Alias("neuro.agent-worker")]
public interface IAgentWorkerGrain : IGrainWithStringKey
{
    /// <summary>Starts the task in the background and returns at once.</summary>
    [Alias("run")]
    Task RunAsync(string taskId, string pool);

    [Alias("cancel")]
    Task CancelAsync(string taskId);
}

[GenerateSerializer, Immutable, Alias("neuro.agent-task-spec")]
public sealed record AgentTaskSpec(
    [property: Id(0)] string Task,
    [property: Id(1)] string Mode = "web",
    [property: Id(2)] int MaxSteps = 20,
    [property: Id(3)] int TimeoutSeconds = 300,
    [property: Id(4)] int Width = 1280,
    [property: Id(5)] int Height = 800,
    [property: Id(6)] bool SaveScreenshots = false,
    [property: Id(7)] IReadOnlyList<string>? Actions = null,
    [property: Id(8)] string? StartUrl = null,
    [property: Id(9)] string Pool = "default",
    [property: Id(10)] int Priority = 0,
    [property: Id(11)] string Tenant = "default",
    [property: Id(12)] string? CallbackUrl = null,
    [property: Id(13)] string? TraceParent = null,
    [property: Id(14)] string? SessionId = null,
    [property: Id(15)] string? Policy = null);

[GenerateSerializer, Immutable, Alias("neuro.agent-task-view")]
public sealed record AgentTaskView(
    [property: Id(0)] string TaskId,
    [property: Id(1)] string Status,
    [property: Id(2)] AgentTaskSpec Spec,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] DateTimeOffset? StartedAt,
    [property: Id(5)] DateTimeOffset? FinishedAt,
    [property: Id(6)] DateTimeOffset EstimatedCompletion,
    [property: Id(7)] string? Answer,
    [property: Id(8)] string? Error,
    [property: Id(9)] int Steps,
    [property: Id(10)] int Attempts,
    [property: Id(11)] string? Worker,
    [property: Id(12)] WebhookDeliveryView? Webhook = null);

/// <summary>Delivery of a task's result to its callback_url: pending until a terminal state has been posted (2xx) or
/// the retries ran out.</summary>
[GenerateSerializer, Immutable, Alias("neuro.webhook-delivery-view")]
public sealed record WebhookDeliveryView(
    [property: Id(0)] string Status,
    [property: Id(1)] int Attempts,
    [property: Id(2)] int? LastStatusCode,
    [property: Id(3)] string? LastError,
    [property: Id(4)] DateTimeOffset? DeliveredAt);

/// <summary>A webhook the silo's delivery loop should post now.</summary>
[GenerateSerializer, Immutable, Alias("neuro.webhook-job")]
public sealed record WebhookJob(
    [property: Id(0)] string Url,
    [property: Id(1)] string Event,
    [property: Id(2)] byte[] Body);

[GenerateSerializer, Immutable, Alias("neuro.agent-task-step")]
public sealed record AgentTaskStep(
    [property: Id(0)] int Number,
    [property: Id(1)] string? Action,
    [property: Id(2)] string? Value,
    [property: Id(3)] double[]? Position,
    [property: Id(4)] string ModelOutput,
    [property: Id(5)] string? Error,
    [property: Id(6)] double PolicyMs,
    [property: Id(7)] double ActionMs,
    [property: Id(8)] bool HasScreenshot);

/// <summary>Reads the task list for filtering and paging. A stateless worker over the silo's task index store, so the
/// front door can list tasks while running as a plain Orleans client.</summary>
[Alias("neuro.task-index")]
public interface ITaskIndexGrain : IGrainWithStringKey
{
    [Alias("query")]
    Task<TaskPage> QueryAsync(TaskQuery query);
}

[GenerateSerializer, Immutable, Alias("neuro.task-index-entry")]
public sealed record TaskIndexEntry(
    [property: Id(0)] string TaskId,
    [property: Id(1)] string Status,
    [property: Id(2)] DateTimeOffset CreatedAt,
    [property: Id(3)] string Pool,
    [property: Id(4)] string Tenant = "default");

[GenerateSerializer, Immutable, Alias("neuro.task-query")]
public sealed record TaskQuery(
    [property: Id(0)] string? Status = null,
    [property: Id(1)] string? Pool = null,
    [property: Id(2)] DateTimeOffset? CreatedAfter = null,
    [property: Id(3)] DateTimeOffset? CreatedBefore = null,
    [property: Id(4)] int PageSize = 50,
    [property: Id(5)] string? PageToken = null,
    [property: Id(6)] string? Tenant = null);

[GenerateSerializer, Immutable, Alias("neuro.task-page")]
public sealed record TaskPage(
    [property: Id(0)] IReadOnlyList<TaskIndexEntry> Entries,
    [property: Id(1)] string? NextPageToken);
