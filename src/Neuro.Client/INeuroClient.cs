using System.Runtime.CompilerServices;
using Neuro.Abstractions;

namespace Neuro.Client;

/// <summary>The typed façade host apps use. Every call has the configured deadline; refusals arrive as
/// <see cref="NeuroRequestException"/> with the field at fault.</summary>
public interface INeuroClient
{
    /// <summary>Opens a session, or continues the existing one when <paramref name="sessionId"/> names one.</summary>
    Task<SessionSnapshot> OpenSessionAsync(string? sessionId = null, SessionOpenRequest? options = null, CancellationToken cancellationToken = default);

    /// <summary>Appends a turn; returns once it is durably stored.</summary>
    Task<Turn> AppendTurnAsync(string sessionId, TurnInput turn, CancellationToken cancellationToken = default);

    Task<SessionSnapshot?> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default);

    Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken = default);

    Task<AgentPoolStatus> ConfigurePoolAsync(string pool, AgentPoolSpec spec, CancellationToken cancellationToken = default);

    /// <summary>Submits work to a pool; returns its queue position (1 = next).</summary>
    Task<int> SubmitAsync(string pool, WorkItem item, CancellationToken cancellationToken = default);

    Task<AgentPoolStatus?> GetPoolStatusAsync(string pool, CancellationToken cancellationToken = default);

    /// <summary>A model's serving pool: desired replicas, the last decision's reason and the live token signals.
    /// Refused (not found, field <c>model</c>) for a model that is neither configured, loaded nor used.</summary>
    Task<ModelPoolStatus> GetModelPoolStatusAsync(string model, CancellationToken cancellationToken = default);

    /// <summary>Polls a pool's status until cancelled, yielding each change.</summary>
    IAsyncEnumerable<AgentPoolStatus> WatchPoolAsync(string pool, TimeSpan interval, CancellationToken cancellationToken = default);

    /// <summary>Submits an agent task (stored before this returns); pass an id to make retries idempotent.</summary>
    Task<AgentTaskView> SubmitTaskAsync(AgentTaskSpec spec, string? taskId = null, CancellationToken cancellationToken = default);

    Task<AgentTaskView?> GetTaskAsync(string taskId, CancellationToken cancellationToken = default);

    Task<AgentTaskView> CancelTaskAsync(string taskId, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<AgentTaskStep>> GetTaskStepsAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>Yields the task each time its status or step count changes, until it reaches a terminal state.</summary>
    IAsyncEnumerable<AgentTaskView> WatchTaskAsync(string taskId, TimeSpan interval, CancellationToken cancellationToken = default);
}

internal sealed class NeuroClient(IClusterClient cluster) : INeuroClient
{
    public Task<SessionSnapshot> OpenSessionAsync(string? sessionId, SessionOpenRequest? open, CancellationToken cancellationToken) =>
        Call(Session(sessionId ?? Guid.NewGuid().ToString("N")).OpenAsync(open ?? new SessionOpenRequest()), cancellationToken);

    public async Task<Turn> AppendTurnAsync(string sessionId, TurnInput turn, CancellationToken cancellationToken) =>
        turn.Stored(await Call(Session(sessionId).AppendTurnAsync(turn), cancellationToken));

    public Task<SessionSnapshot?> GetSessionAsync(string sessionId, CancellationToken cancellationToken) =>
        Call(Session(sessionId).GetAsync(), cancellationToken);

    public Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken) =>
        Session(sessionId).CloseAsync().WaitAsync(cancellationToken);

    public Task<AgentPoolStatus> ConfigurePoolAsync(string pool, AgentPoolSpec spec, CancellationToken cancellationToken) =>
        Call(Pool(pool).ConfigureAsync(spec), cancellationToken);

    public Task<int> SubmitAsync(string pool, WorkItem item, CancellationToken cancellationToken) =>
        Call(Pool(pool).EnqueueAsync(item), cancellationToken);

    public Task<AgentPoolStatus?> GetPoolStatusAsync(string pool, CancellationToken cancellationToken) =>
        Call(Pool(pool).GetStatusAsync(), cancellationToken);

    public Task<ModelPoolStatus> GetModelPoolStatusAsync(string model, CancellationToken cancellationToken) =>
        string.IsNullOrWhiteSpace(model)
            ? Task.FromException<ModelPoolStatus>(NeuroRequestException.Invalid("model", "must not be empty"))
            : Call(cluster.GetGrain<IModelPoolGrain>(model).GetStatusAsync(), cancellationToken);

    public async IAsyncEnumerable<AgentPoolStatus> WatchPoolAsync(string pool, TimeSpan interval, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        AgentPoolStatus? last = null;
        using var timer = new PeriodicTimer(interval);
        do
        {
            var status = await GetPoolStatusAsync(pool, cancellationToken);
            if (status is not null && !Equals(status, last))
            {
                last = status;
                yield return status;
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken));
    }

    public Task<AgentTaskView> SubmitTaskAsync(AgentTaskSpec spec, string? taskId, CancellationToken cancellationToken) =>
        Call(cluster.GetGrain<IAgentTaskGrain>(taskId ?? $"task_{Guid.NewGuid():N}").SubmitAsync(spec), cancellationToken);

    public Task<AgentTaskView?> GetTaskAsync(string taskId, CancellationToken cancellationToken) =>
        Call(cluster.GetGrain<IAgentTaskGrain>(taskId).GetAsync(), cancellationToken);

    public Task<AgentTaskView> CancelTaskAsync(string taskId, CancellationToken cancellationToken) =>
        Call(cluster.GetGrain<IAgentTaskGrain>(taskId).CancelAsync(), cancellationToken);

    public Task<IReadOnlyList<AgentTaskStep>> GetTaskStepsAsync(string taskId, CancellationToken cancellationToken) =>
        Call(cluster.GetGrain<IAgentTaskGrain>(taskId).GetStepsAsync(), cancellationToken);

    public async IAsyncEnumerable<AgentTaskView> WatchTaskAsync(string taskId, TimeSpan interval, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        (string Status, int Steps)? last = null;
        using var timer = new PeriodicTimer(interval);
        do
        {
            var view = await GetTaskAsync(taskId, cancellationToken) ?? throw NeuroRequestException.NotFound("task_id", $"task '{taskId}' does not exist");
            if (last != (view.Status, view.Steps))
            {
                last = (view.Status, view.Steps);
                yield return view;
            }
            if (view.Status is not ("queued" or "running"))
            {
                yield break;
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken));
    }

    private ISessionGrain Session(string id) => cluster.GetGrain<ISessionGrain>(id);

    private IAgentPoolGrain Pool(string name) => cluster.GetGrain<IAgentPoolGrain>(name);

    // The deadline is Orleans' own response timeout (set from CallTimeout), so the hot path allocates no timer per call.
    private static Task<T> Call<T>(Task<T> call, CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled ? call.WaitAsync(cancellationToken) : call;
}
