using Microsoft.Extensions.Options;
using Neuro.Abstractions;
using Neuro.Core.Sessions;
using Neuro.Core.Telemetry;

namespace Neuro.Grains;

/// <summary>One conversation. Persists through <see cref="ISessionStore"/> (an append-only turn log) rather than a whole-state
/// <c>IPersistentState</c>: a turn costs one small append however long the conversation, and the store's sequence check
/// keeps a stale activation from writing after a handoff.</summary>
public sealed class SessionGrain(
    ISessionStore store,
    IOptions<SessionLimits> limits,
    NeuroClock clock,
    ILocalSiloDetails silo) : Grain, ISessionGrain, IRemindable
{
    private const string ExpiryReminder = "idle-expiry";
    private readonly SessionLimits _limits = limits.Value;
    private ConversationState _state = new();

    private string Id => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        NeuroMeters.SessionActivations.Add(1);
        if (await store.LoadAsync(Id, cancellationToken) is { } stored)
        {
            _state = ConversationState.FromStore(stored);
        }
    }

    public async Task<SessionSnapshot> OpenAsync(SessionOpenRequest request)
    {
        Errors.ThrowIf(ConversationState.ValidateId(Id, _limits));
        Errors.ThrowIf(ConversationState.ValidateOpen(request.IdleTtl, _limits));
        if (request.Agent is { } agent)
        {
            if (Neuro.Agents.AgentTaskRules.ValidateEnvironment(agent.Mode, agent.Width, agent.Height, agent.StartUrl) is { } bad)
            {
                throw NeuroRequestException.Invalid($"agent.{bad.Field}", bad.Message);
            }
            if (await GrainFactory.GetGrain<IAgentPoolGrain>(agent.Pool).GetStatusAsync() is null)
            {
                throw NeuroRequestException.NotFound("agent.pool", $"agent pool '{agent.Pool}' is not configured");
            }
        }
        await ExpireIfIdleAsync();
        if (!_state.Opened)
        {
            var opened = new ConversationState();
            opened.Open(request.Pool, request.Model, request.IdleTtl, _limits, clock.Now,
                request.Agent is { } a ? new AgentBinding(a.Mode, a.Width, a.Height, a.StartUrl, a.Pool, a.Tenant) : null);
            await store.SaveMetaAsync(Id, opened.ToMeta());
            _state = opened;
            NeuroMeters.SessionsOpened.Add(1);
            // The reminder outlives this activation, so an idle session is cleared even if nobody calls it again
            // (the Redis store also expires idle keys by itself; the in-memory one relies on this).
            var period = _state.IdleTtl < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : _state.IdleTtl;
            await this.RegisterOrUpdateReminder(ExpiryReminder, period, period);
        }
        return Snapshot();
    }

    public async Task<TurnAck> AppendTurnAsync(TurnInput turn)
    {
        await RequireOpenAsync();
        Errors.ThrowIf(_state.ValidateTurn(turn.Role, turn.Content, turn.PromptTokens, turn.CompletionTokens, _limits));
        var mark = _state.Mark();
        var record = _state.Append(turn.Role, turn.Content, turn.PromptTokens, turn.CompletionTokens, clock.Now);
        await PersistAsync(mark, () => store.AppendAsync(Id, record, _state.IdleTtl));
        NeuroMeters.SessionTurns.Add(1);
        if (turn.PromptTokens > 0)
        {
            NeuroMeters.SessionTokens.Add(turn.PromptTokens, new KeyValuePair<string, object?>("kind", "prompt"));
        }
        if (turn.CompletionTokens > 0)
        {
            NeuroMeters.SessionTokens.Add(turn.CompletionTokens, new KeyValuePair<string, object?>("kind", "completion"));
        }
        return new TurnAck(record.Seq, record.CreatedAt);
    }

    public async Task<SessionSnapshot?> GetAsync()
    {
        await ExpireIfIdleAsync();
        return _state.Opened ? Snapshot() : null;
    }

    public async Task SetScratchAsync(string key, string value, TimeSpan? ttl)
    {
        await RequireOpenAsync();
        var now = clock.Now;
        _state.PruneScratch(now);
        Errors.ThrowIf(_state.ValidateScratch(key, value, ttl, _limits));
        var mark = _state.Mark();
        _state.SetScratch(key, value, ttl, now);
        await PersistAsync(mark, () => store.SaveMetaAsync(Id, _state.ToMeta()));
    }

    public async Task<string?> GetScratchAsync(string key)
    {
        await RequireOpenAsync();
        return _state.GetScratch(key, clock.Now);
    }

    public Task CloseAsync() => ClearAsync();

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ExpiryReminder)
        {
            await ExpireIfIdleAsync();
            if (!_state.Opened)
            {
                await ClearAsync(); // nothing left to watch: drop the reminder too
            }
        }
    }

    private async Task RequireOpenAsync()
    {
        await ExpireIfIdleAsync();
        if (!_state.Opened)
        {
            throw NeuroRequestException.NotFound("session_id", $"session '{Id}' does not exist (never opened, closed, or idled out)");
        }
    }

    private async Task ExpireIfIdleAsync()
    {
        if (_state.IsExpiredAt(clock.Now))
        {
            await ClearAsync();
            NeuroMeters.SessionsExpired.Add(1);
        }
    }

    private async Task ClearAsync()
    {
        await store.DeleteAsync(Id);
        _state = new ConversationState();
        if (await this.GetReminder(ExpiryReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
        DeactivateOnIdle();
    }

    /// <summary>Write-before-ack: the caller hears success only once the store has the change. If the store refuses, memory
    /// goes back to what the store holds; if another writer got there first, this activation is stale and steps aside.</summary>
    private async Task PersistAsync(ConversationState.Checkpoint mark, Func<Task> write)
    {
        try
        {
            await write();
        }
        catch (SessionConflictException e)
        {
            mark.Restore(_state);
            DeactivateOnIdle();
            throw new NeuroRequestException(NeuroErrorKind.Unavailable, "session_id", $"session '{Id}' moved while this call ran; retry ({e.Message})");
        }
        catch
        {
            mark.Restore(_state);
            throw;
        }
    }

    private SessionSnapshot Snapshot() => new(
        Id, _state.Pool, _state.Model, _state.CreatedAt, _state.LastActivityAt, _state.ExpiresAt,
        _state.Turns.Select(ToContract).ToArray(), _state.PromptTokens, _state.CompletionTokens, silo.Name,
        _state.Agent is { } a ? new AgentSessionSpec(a.Mode, a.Width, a.Height, a.StartUrl, a.Pool, a.Tenant) : null);

    private static Turn ToContract(TurnRecord t) => new(t.Seq, t.Role, t.Content, t.PromptTokens, t.CompletionTokens, t.CreatedAt);
}
