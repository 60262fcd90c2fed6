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

    /// <summary>Polls a pool's status until cancelled, yielding each change.</summary>
    IAsyncEnumerable<AgentPoolStatus> WatchPoolAsync(string pool, TimeSpan interval, CancellationToken cancellationToken = default);
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

    private ISessionGrain Session(string id) => cluster.GetGrain<ISessionGrain>(id);

    private IAgentPoolGrain Pool(string name) => cluster.GetGrain<IAgentPoolGrain>(name);

    // The deadline is Orleans' own response timeout (set from CallTimeout), so the hot path allocates no timer per call.
    private static Task<T> Call<T>(Task<T> call, CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled ? call.WaitAsync(cancellationToken) : call;
}
