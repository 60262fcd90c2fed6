namespace Neuro.Core.Sessions;

/// <summary>One conversation as its grain holds it in memory. All rules live here so the grain stays a thin shell;
/// <see cref="ToMeta"/> and <see cref="FromStore"/> convert to and from what an <see cref="ISessionStore"/> keeps.</summary>
public sealed class ConversationState
{
    public static readonly IReadOnlySet<string> Roles = new HashSet<string>(StringComparer.Ordinal) { "system", "user", "assistant", "tool" };

    public bool Opened { get; set; }
    public string? Pool { get; set; }
    public string? Model { get; set; }
    public AgentBinding? Agent { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastActivityAt { get; set; }
    public TimeSpan IdleTtl { get; set; }
    public long NextSeq { get; set; } = 1;
    public long PromptTokens { get; set; }
    public long CompletionTokens { get; set; }
    public List<TurnRecord> Turns { get; set; } = [];
    public Dictionary<string, ScratchEntry> Scratch { get; set; } = new(StringComparer.Ordinal);

    public DateTimeOffset ExpiresAt => LastActivityAt + IdleTtl;

    public SessionMeta ToMeta() => new()
    {
        Pool = Pool,
        Model = Model,
        CreatedAt = CreatedAt,
        LastActivityAt = LastActivityAt,
        IdleTtl = IdleTtl,
        Agent = Agent,
        Scratch = Scratch,
    };

    /// <summary>Rebuilds the state from the store. Turns carry their own times, so the last activity is the later of the
    /// metadata's and the last turn's: appends never need to rewrite the metadata.</summary>
    public static ConversationState FromStore(StoredSession stored)
    {
        var meta = stored.Meta;
        var last = stored.Turns.Count == 0 ? meta.LastActivityAt : stored.Turns[^1].CreatedAt;
        return new ConversationState
        {
            Opened = true,
            Pool = meta.Pool,
            Model = meta.Model,
            Agent = meta.Agent,
            CreatedAt = meta.CreatedAt,
            LastActivityAt = last > meta.LastActivityAt ? last : meta.LastActivityAt,
            IdleTtl = meta.IdleTtl,
            NextSeq = stored.Turns.Count == 0 ? 1 : stored.Turns[^1].Seq + 1,
            PromptTokens = stored.Turns.Sum(t => (long)t.PromptTokens),
            CompletionTokens = stored.Turns.Sum(t => (long)t.CompletionTokens),
            Turns = [.. stored.Turns],
            Scratch = new Dictionary<string, ScratchEntry>(meta.Scratch, StringComparer.Ordinal),
        };
    }

    /// <summary>True once the idle TTL has run out; the owner must then clear the stored state.</summary>
    public bool IsExpiredAt(DateTimeOffset now) => Opened && now >= ExpiresAt;

    public static RequestError? ValidateId(string id, SessionLimits limits)
    {
        if (string.IsNullOrEmpty(id))
        {
            return new("session_id", "must not be empty");
        }
        if (id.Length > limits.MaxIdChars)
        {
            return new("session_id", $"must be at most {limits.MaxIdChars} characters");
        }
        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
            {
                return new("session_id", "may contain only ASCII letters, digits, '-', '_', '.' and ':'");
            }
        }
        return null;
    }

    public static RequestError? ValidateOpen(TimeSpan? idleTtl, SessionLimits limits)
    {
        if (idleTtl is { } ttl && (ttl < TimeSpan.FromSeconds(1) || ttl > limits.MaxIdleTtl))
        {
            return new("idle_ttl_seconds", $"must be between 1 and {(long)limits.MaxIdleTtl.TotalSeconds} seconds");
        }
        return null;
    }

    public void Open(string? pool, string? model, TimeSpan? idleTtl, SessionLimits limits, DateTimeOffset now, AgentBinding? agent = null)
    {
        Opened = true;
        Pool = pool;
        Model = model;
        Agent = agent;
        IdleTtl = idleTtl ?? limits.IdleTtl;
        CreatedAt = now;
        LastActivityAt = now;
    }

    public RequestError? ValidateTurn(string? role, string? content, int promptTokens, int completionTokens, SessionLimits limits)
    {
        if (string.IsNullOrEmpty(role) || !Roles.Contains(role))
        {
            return new("role", "must be one of system, user, assistant, tool");
        }
        if (string.IsNullOrWhiteSpace(content))
        {
            return new("content", "must not be empty");
        }
        if (content.Length > limits.MaxContentChars)
        {
            return new("content", $"must be at most {limits.MaxContentChars} characters (got {content.Length})");
        }
        if (promptTokens < 0 || promptTokens > limits.MaxTokensPerTurn)
        {
            return new("prompt_tokens", $"must be between 0 and {limits.MaxTokensPerTurn}");
        }
        if (completionTokens < 0 || completionTokens > limits.MaxTokensPerTurn)
        {
            return new("completion_tokens", $"must be between 0 and {limits.MaxTokensPerTurn}");
        }
        if (Turns.Count >= limits.MaxTurns)
        {
            return new("turns", $"the session already holds the maximum of {limits.MaxTurns} turns", Conflict: true);
        }
        return null;
    }

    /// <summary>Appends a validated turn. Take a <see cref="Checkpoint"/> first so a failed write can be undone.</summary>
    public TurnRecord Append(string role, string content, int promptTokens, int completionTokens, DateTimeOffset now, IReadOnlyList<int>? tokenIds = null)
    {
        var turn = new TurnRecord(NextSeq++, role, content, promptTokens, completionTokens, now, tokenIds);
        Turns.Add(turn);
        PromptTokens += promptTokens;
        CompletionTokens += completionTokens;
        LastActivityAt = now;
        return turn;
    }

    public RequestError? ValidateScratch(string? key, string? value, TimeSpan? ttl, SessionLimits limits)
    {
        if (string.IsNullOrEmpty(key) || key.Length > limits.MaxIdChars)
        {
            return new("key", $"must be 1 to {limits.MaxIdChars} characters");
        }
        if (value is null || value.Length > limits.MaxScratchValueChars)
        {
            return new("value", $"must be present and at most {limits.MaxScratchValueChars} characters");
        }
        if (ttl is { } t && t <= TimeSpan.Zero)
        {
            return new("ttl", "must be positive");
        }
        if (!Scratch.ContainsKey(key) && Scratch.Count >= limits.MaxScratchEntries)
        {
            return new("key", $"the scratchpad already holds the maximum of {limits.MaxScratchEntries} entries", Conflict: true);
        }
        return null;
    }

    public void SetScratch(string key, string value, TimeSpan? ttl, DateTimeOffset now)
    {
        // Copy-on-write: a checkpoint keeps the old dictionary, so undoing a failed write needs no copy on the hot path.
        Scratch = new Dictionary<string, ScratchEntry>(Scratch, StringComparer.Ordinal) { [key] = new ScratchEntry(value, ttl is { } t ? now + t : null) };
        LastActivityAt = now;
    }

    public string? GetScratch(string key, DateTimeOffset now) =>
        Scratch.TryGetValue(key, out var e) && (e.ExpiresAt is null || now < e.ExpiresAt) ? e.Value : null;

    /// <summary>Drops expired scratch entries; returns how many went.</summary>
    public int PruneScratch(DateTimeOffset now)
    {
        var before = Scratch.Count;
        if (Scratch.Values.Any(e => e.ExpiresAt is { } at && now >= at))
        {
            Scratch = Scratch.Where(e => e.Value.ExpiresAt is not { } at || now < at).ToDictionary(StringComparer.Ordinal);
        }
        return before - Scratch.Count;
    }

    public Checkpoint Mark() => new(Turns.Count, NextSeq, PromptTokens, CompletionTokens, LastActivityAt, Opened, Scratch);

    /// <summary>The state as it was before a mutation, so a failed storage write leaves memory exactly as storage is.</summary>
    public readonly record struct Checkpoint(
        int TurnCount, long NextSeq, long PromptTokens, long CompletionTokens, DateTimeOffset LastActivityAt, bool Opened,
        Dictionary<string, ScratchEntry> Scratch)
    {
        public void Restore(ConversationState s)
        {
            s.Turns.RemoveRange(TurnCount, s.Turns.Count - TurnCount);
            s.NextSeq = NextSeq;
            s.PromptTokens = PromptTokens;
            s.CompletionTokens = CompletionTokens;
            s.LastActivityAt = LastActivityAt;
            s.Opened = Opened;
            s.Scratch = Scratch;
        }
    }
}

/// <param name="TokenIds">For turns a model took part in: the exact token ids it saw or produced, so a session that moves
/// to another silo rebuilds the same context whatever the tokenizer's text round trip would give.</param>
public sealed record TurnRecord(long Seq, string Role, string Content, int PromptTokens, int CompletionTokens, DateTimeOffset CreatedAt,
    IReadOnlyList<int>? TokenIds = null);

public sealed record ScratchEntry(string Value, DateTimeOffset? ExpiresAt);
