using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Neuro.Abstractions;
using Neuro.Grains.Inference;
using Neuro.Inference.Generation;
using Neuro.Core.Sessions;
using Neuro.Core.Telemetry;

namespace Neuro.Grains;

/// <summary>One conversation. Persists through <see cref="ISessionStore"/> (an append-only turn log) rather than a whole-state
/// <c>IPersistentState</c>: a turn costs one small append however long the conversation, and the store's sequence check
/// keeps a stale activation from writing after a handoff.</summary>
public sealed partial class SessionGrain(
    ISessionStore store,
    IOptions<SessionLimits> limits,
    NeuroClock clock,
    ILocalSiloDetails silo,
    InferenceHost inference,
    ILogger<SessionGrain> log) : Grain, ISessionGrain, IRemindable
{
    private const string ExpiryReminder = "idle-expiry";
    private const int MaxGeneratedTokens = 4096;
    private readonly SessionLimits _limits = limits.Value;
    private ConversationState _state = new();

    // The conversation's tokens and KV cache on this silo, kept between turns: a follow-up turn prefills only its new
    // tokens. Rebuilt from the turn log after a handoff (the next turn then recomputes the cache once).
    private SequenceState? _sequence;
    private bool _generating;

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
        DropSequence(); // the model did not see this turn: rebuild its tokens from the log next time
        var record = await AppendCoreAsync(turn);
        return new TurnAck(record.Seq, record.CreatedAt);
    }

    public async IAsyncEnumerable<GeneratedChunk> GenerateAsync(GenerateRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Errors.ThrowIf(ConversationState.ValidateId(Id, _limits));
        await RequireOpenAsync();
        if (_state.Model is not { } modelName)
        {
            throw NeuroRequestException.Invalid("model", "this session was opened without a model; open it with \"model\" to generate");
        }
        if (request.MaxTokens is < 1 or > MaxGeneratedTokens)
        {
            throw NeuroRequestException.Invalid("max_tokens", $"must be between 1 and {MaxGeneratedTokens}");
        }
        if (request.Temperature is < 0 or > 5 || float.IsNaN(request.Temperature))
        {
            throw NeuroRequestException.Invalid("temperature", "must be between 0 and 5");
        }
        Errors.ThrowIf(_state.ValidateTurn("user", request.Content, 0, 0, _limits));
        if (_generating)
        {
            // Enumeration steps interleave with other calls, so a second stream could start while one runs.
            throw new NeuroRequestException(NeuroErrorKind.Conflict, "session_id", "this session is already generating an answer");
        }
        _generating = true;
        try
        {
            await foreach (var chunk in GenerateCoreAsync(modelName, request, cancellationToken))
            {
                yield return chunk;
            }
        }
        finally
        {
            _generating = false;
        }
    }

    private async IAsyncEnumerable<GeneratedChunk> GenerateCoreAsync(string modelName, GenerateRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var served = await inference.GetAsync(modelName, cancellationToken);
        var sequence = _sequence ??= new SequenceState(PromptTokens(served, _state.Turns));
        var prompt = served.Tokenizer.Encode(UserPiece(request.Content));
        var user = await AppendCoreAsync(new TurnInput("user", request.Content, prompt.Count), prompt);
        var turnId = $"{Id}/{user.Seq}";
        // What the generator will prefill: the new prompt and whatever of the conversation its cache does not hold.
        var toPrefill = sequence.Tokens.Count - sequence.CachedLength + prompt.Count;

        var options = new GenerationOptions
        {
            MaxNewTokens = request.MaxTokens, Temperature = request.Temperature, Seed = request.Seed, StopSequences = request.Stop ?? [],
        };
        var answer = new System.Text.StringBuilder();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan? firstToken = null;
        var produced = 0;
        var ids = new List<int>();
        TurnRecord? stored = null;
        ReportToPool(modelName, pool => pool.TurnArrivedAsync(turnId, silo.Name, toPrefill));
        try
        {
            await foreach (var token in served.Generator.GenerateAsync(sequence, prompt, options, cancellationToken))
            {
                if (firstToken is null)
                {
                    firstToken = clock.Elapsed;
                    ReportToPool(modelName, pool => pool.FirstTokenAsync(turnId, silo.Name, sequence.LastPrefillTokens, firstToken.Value));
                }
                answer.Append(token.Text);
                ids.Add(token.TokenId);
                produced++;
                yield return new GeneratedChunk(token.Index, token.Text, token.TokenId);
            }
        }
        finally
        {
            GenAiMeters.Record(modelName, firstToken, clock.Elapsed, sequence.LastPrefillTokens, produced);
            ReportToPool(modelName, pool => pool.TurnFinishedAsync(turnId, silo.Name, produced, clock.Elapsed));
            // Cancelled or not, what was generated is the answer the model's cache now holds: keep the log in step.
            if (produced > 0)
            {
                stored = await AppendCoreAsync(new TurnInput("assistant", answer.ToString(), 0, produced), ids);
            }
            if (!sequence.Tokens.SequenceEqual(PromptTokens(served, _state.Turns)))
            {
                DropSequence(); // e.g. an end-of-sequence token the text does not show: recompute from the log next turn
            }
        }
        yield return new GeneratedChunk(produced, "", -1, (sequence.LastFinishReason ?? FinishReason.Length).ToString().ToLowerInvariant(),
            stored?.Seq, sequence.LastPrefillTokens);
    }

    /// <summary>Tells the model's pool about this turn without waiting (one-way): a pool that cannot be reached costs the
    /// autoscaler a signal, never the user their turn.</summary>
    private void ReportToPool(string model, Func<IModelPoolGrain, Task> signal)
    {
        try
        {
            var sent = signal(GrainFactory.GetGrain<IModelPoolGrain>(model));
            if (!sent.IsCompletedSuccessfully)
            {
                sent.ContinueWith(t => LogPoolSignalFailed(model, t.Exception!), CancellationToken.None,
                    TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).Ignore();
            }
        }
        catch (Exception e)
        {
            LogPoolSignalFailed(model, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "session turn signal to model pool {model} failed; the turn goes on")]
    private partial void LogPoolSignalFailed(string model, Exception e);

    private static string UserPiece(string content) => $"<|user|>\n{content}\n<|assistant|>\n";

    /// <summary>The tokens the model has seen for these turns: the ids recorded with a turn, else its text encoded (user
    /// turns in the prompt template).</summary>
    private static IEnumerable<int> PromptTokens(InferenceHost.Served served, IEnumerable<TurnRecord> turns) =>
        turns.SelectMany(t => t.TokenIds ?? served.Tokenizer.Encode(t.Role == "user" ? UserPiece(t.Content) : t.Content));

    private void DropSequence()
    {
        _sequence?.Dispose();
        _sequence = null;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        DropSequence(); // native KV memory
        return Task.CompletedTask;
    }

    private async Task<TurnRecord> AppendCoreAsync(TurnInput turn, IReadOnlyList<int>? tokenIds = null)
    {
        var mark = _state.Mark();
        var record = _state.Append(turn.Role, turn.Content, turn.PromptTokens, turn.CompletionTokens, clock.Now, tokenIds);
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
        return record;
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
