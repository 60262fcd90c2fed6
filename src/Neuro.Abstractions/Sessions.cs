namespace Neuro.Abstractions;

/// <summary>One conversation, keyed by its conversation id. Lives on one silo at a time (sticky affinity);
/// after that silo dies or drains, the next call reactivates it elsewhere from storage with every acknowledged turn.</summary>
[Alias("neuro.session")]
public interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>Opens the session, or returns the existing one unchanged (idempotent: safe to retry).</summary>
    [Alias("open")]
    Task<SessionSnapshot> OpenAsync(SessionOpenRequest request);

    /// <summary>Appends a turn. Returns only after the turn is durably stored (write-before-ack). The ack carries what the
    /// session assigned (sequence number, time), not the caller's own content back.</summary>
    [Alias("append")]
    Task<TurnAck> AppendTurnAsync(TurnInput turn);

    /// <summary>Appends a user turn (durably, before anything is generated) and streams the model's answer token by
    /// token, then appends the answer as an assistant turn. The session's KV cache stays on its silo between turns, so a
    /// follow-up only prefills its new tokens. Cancelling the enumeration stops generation within one decode step; the
    /// tokens produced so far are kept as the answer.</summary>
    [Alias("generate")]
    IAsyncEnumerable<GeneratedChunk> GenerateAsync(GenerateRequest request, CancellationToken cancellationToken = default);

    /// <summary>The session with its history, or null when it was never opened, was closed, or idled out.</summary>
    [Alias("get")]
    Task<SessionSnapshot?> GetAsync();

    /// <summary>Short-lived scratchpad / tool state; an entry disappears after its TTL or with the session.</summary>
    [Alias("scratch-set")]
    Task SetScratchAsync(string key, string value, TimeSpan? ttl);

    [Alias("scratch-get")]
    Task<string?> GetScratchAsync(string key);

    /// <summary>Ends the session and clears its stored state.</summary>
    [Alias("close")]
    Task CloseAsync();
}

[GenerateSerializer, Immutable, Alias("neuro.session-open")]
public sealed record SessionOpenRequest(
    [property: Id(0)] string? Pool = null,
    [property: Id(1)] string? Model = null,
    [property: Id(2)] TimeSpan? IdleTtl = null,
    [property: Id(3)] AgentSessionSpec? Agent = null);

/// <summary>An agent session: tasks submitted with its id run in order in one environment that is kept between them.</summary>
[GenerateSerializer, Immutable, Alias("neuro.agent-session-spec")]
public sealed record AgentSessionSpec(
    [property: Id(0)] string Mode,
    [property: Id(1)] int Width,
    [property: Id(2)] int Height,
    [property: Id(3)] string? StartUrl,
    [property: Id(4)] string Pool,
    [property: Id(5)] string Tenant);

[GenerateSerializer, Immutable, Alias("neuro.generate-request")]
public sealed record GenerateRequest(
    [property: Id(0)] string Content,
    [property: Id(1)] int MaxTokens = 64,
    [property: Id(2)] float Temperature = 0,
    [property: Id(3)] int Seed = 0,
    [property: Id(4)] IReadOnlyList<string>? Stop = null);

/// <summary>One streamed piece of an answer. The last chunk has <see cref="FinishReason"/> set and carries the stored
/// assistant turn's sequence number and how many tokens had to be prefilled (the affinity payoff: small on turn 2).</summary>
[GenerateSerializer, Immutable, Alias("neuro.generated-chunk")]
public sealed record GeneratedChunk(
    [property: Id(0)] int Index,
    [property: Id(1)] string Text,
    [property: Id(2)] int TokenId,
    [property: Id(3)] string? FinishReason = null,
    [property: Id(4)] long? Seq = null,
    [property: Id(5)] int? PrefillTokens = null);

[GenerateSerializer, Immutable, Alias("neuro.turn-input")]
public sealed record TurnInput(
    [property: Id(0)] string Role,
    [property: Id(1)] string Content,
    [property: Id(2)] int PromptTokens = 0,
    [property: Id(3)] int CompletionTokens = 0)
{
    /// <summary>The stored turn this input became.</summary>
    public Turn Stored(TurnAck ack) => new(ack.Seq, Role, Content, PromptTokens, CompletionTokens, ack.CreatedAt);
}

[GenerateSerializer, Immutable, Alias("neuro.turn-ack")]
public sealed record TurnAck(
    [property: Id(0)] long Seq,
    [property: Id(1)] DateTimeOffset CreatedAt);

[GenerateSerializer, Immutable, Alias("neuro.turn")]
public sealed record Turn(
    [property: Id(0)] long Seq,
    [property: Id(1)] string Role,
    [property: Id(2)] string Content,
    [property: Id(3)] int PromptTokens,
    [property: Id(4)] int CompletionTokens,
    [property: Id(5)] DateTimeOffset CreatedAt);

[GenerateSerializer, Immutable, Alias("neuro.session-snapshot")]
public sealed record SessionSnapshot(
    [property: Id(0)] string SessionId,
    [property: Id(1)] string? Pool,
    [property: Id(2)] string? Model,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] DateTimeOffset LastActivityAt,
    [property: Id(5)] DateTimeOffset ExpiresAt,
    [property: Id(6)] IReadOnlyList<Turn> Turns,
    [property: Id(7)] long PromptTokens,
    [property: Id(8)] long CompletionTokens,
    [property: Id(9)] string Silo,
    [property: Id(10)] AgentSessionSpec? Agent = null);
