using Microsoft.Extensions.Options;
using Neuro.Abstractions;
using Neuro.Core.Sessions;
using Neuro.Core.Telemetry;

namespace Neuro.Grains;

public sealed class SessionGrain(
    [PersistentState("session", NeuroStorage.Name)] IPersistentState<ConversationState> state,
    IOptions<SessionLimits> limits,
    NeuroClock clock,
    ILocalSiloDetails silo) : Grain, ISessionGrain, IRemindable
{
    private const string ExpiryReminder = "idle-expiry";
    private readonly SessionLimits _limits = limits.Value;

    private ConversationState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        NeuroMeters.SessionActivations.Add(1);
        return Task.CompletedTask;
    }

    public async Task<SessionSnapshot> OpenAsync(SessionOpenRequest request)
    {
        Errors.ThrowIf(ConversationState.ValidateId(this.GetPrimaryKeyString(), _limits));
        Errors.ThrowIf(ConversationState.ValidateOpen(request.IdleTtl, _limits));
        await ExpireIfIdleAsync();
        if (!S.Opened)
        {
            var mark = S.Mark();
            S.Open(request.Pool, request.Model, request.IdleTtl, _limits, clock.Now);
            await WriteOrUndoAsync(mark);
            NeuroMeters.SessionsOpened.Add(1);
            // The reminder outlives this activation, so an idle session is cleared even if nobody calls it again.
            var period = S.IdleTtl < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : S.IdleTtl;
            await this.RegisterOrUpdateReminder(ExpiryReminder, period, period);
        }
        return Snapshot();
    }

    public async Task<Turn> AppendTurnAsync(TurnInput turn)
    {
        await RequireOpenAsync();
        Errors.ThrowIf(S.ValidateTurn(turn.Role, turn.Content, turn.PromptTokens, turn.CompletionTokens, _limits));
        var mark = S.Mark();
        var record = S.Append(turn.Role, turn.Content, turn.PromptTokens, turn.CompletionTokens, clock.Now);
        await WriteOrUndoAsync(mark);
        NeuroMeters.SessionTurns.Add(1);
        if (turn.PromptTokens > 0)
        {
            NeuroMeters.SessionTokens.Add(turn.PromptTokens, new KeyValuePair<string, object?>("kind", "prompt"));
        }
        if (turn.CompletionTokens > 0)
        {
            NeuroMeters.SessionTokens.Add(turn.CompletionTokens, new KeyValuePair<string, object?>("kind", "completion"));
        }
        return ToContract(record);
    }

    public async Task<SessionSnapshot?> GetAsync()
    {
        await ExpireIfIdleAsync();
        return S.Opened ? Snapshot() : null;
    }

    public async Task SetScratchAsync(string key, string value, TimeSpan? ttl)
    {
        await RequireOpenAsync();
        var now = clock.Now;
        S.PruneScratch(now);
        Errors.ThrowIf(S.ValidateScratch(key, value, ttl, _limits));
        var mark = S.Mark();
        S.SetScratch(key, value, ttl, now);
        await WriteOrUndoAsync(mark);
    }

    public async Task<string?> GetScratchAsync(string key)
    {
        await RequireOpenAsync();
        return S.GetScratch(key, clock.Now);
    }

    public async Task CloseAsync()
    {
        await ClearAsync();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ExpiryReminder)
        {
            await ExpireIfIdleAsync();
        }
    }

    private async Task RequireOpenAsync()
    {
        await ExpireIfIdleAsync();
        if (!S.Opened)
        {
            throw NeuroRequestException.NotFound("session_id", $"session '{this.GetPrimaryKeyString()}' does not exist (never opened, closed, or idled out)");
        }
    }

    private async Task ExpireIfIdleAsync()
    {
        if (S.IsExpiredAt(clock.Now))
        {
            await ClearAsync();
            NeuroMeters.SessionsExpired.Add(1);
        }
    }

    private async Task ClearAsync()
    {
        if (state.RecordExists)
        {
            await state.ClearStateAsync();
        }
        state.State = new ConversationState();
        if (await this.GetReminder(ExpiryReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
        DeactivateOnIdle();
    }

    private Task WriteOrUndoAsync(ConversationState.Checkpoint mark) => state.WriteOrUndoAsync(() => mark.Restore(S));

    private SessionSnapshot Snapshot() => new(
        this.GetPrimaryKeyString(), S.Pool, S.Model, S.CreatedAt, S.LastActivityAt, S.ExpiresAt,
        S.Turns.Select(ToContract).ToArray(), S.PromptTokens, S.CompletionTokens, silo.Name);

    private static Turn ToContract(TurnRecord t) => new(t.Seq, t.Role, t.Content, t.PromptTokens, t.CompletionTokens, t.CreatedAt);
}
