namespace Neuro.Core.Sessions;

/// <summary>Where conversations live: an append-only turn log plus a small metadata record per session.
/// Appending a turn costs the same whatever the conversation's length (no rewrite of the history), and every
/// append names the sequence number it expects, so two activations of one session can never interleave turns.</summary>
public interface ISessionStore
{
    Task<StoredSession?> LoadAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary>Writes the metadata (open, scratchpad changes). Refreshes the idle expiry of the whole session.</summary>
    Task SaveMetaAsync(string sessionId, SessionMeta meta, CancellationToken cancellationToken = default);

    /// <summary>Appends one turn iff the log holds exactly <c>turn.Seq - 1</c> turns; otherwise throws
    /// <see cref="SessionConflictException"/> and stores nothing. Refreshes the idle expiry of the whole session.</summary>
    Task AppendAsync(string sessionId, TurnRecord turn, TimeSpan idleTtl, CancellationToken cancellationToken = default);

    Task DeleteAsync(string sessionId, CancellationToken cancellationToken = default);
}

public sealed class SessionMeta
{
    public string? Pool { get; set; }
    public string? Model { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastActivityAt { get; set; }
    public TimeSpan IdleTtl { get; set; }
    public AgentBinding? Agent { get; set; }
    public Dictionary<string, ScratchEntry> Scratch { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>An agent session's environment: tasks submitted with this session id run one after another in one
/// environment (same browser, same cookies and page) kept between them.</summary>
public sealed record AgentBinding(string Mode, int Width, int Height, string? StartUrl, string Pool, string Tenant);

public sealed record StoredSession(SessionMeta Meta, IReadOnlyList<TurnRecord> Turns);

/// <summary>The log did not hold what the writer expected: another activation wrote first, or the session was deleted.</summary>
public sealed class SessionConflictException(string message) : Exception(message);

/// <summary>Sessions in this process's memory: the dev cluster's store (gone when the silo stops, like Orleans' memory storage).</summary>
public sealed class InMemorySessionStore : ISessionStore
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Entry> _sessions = new(StringComparer.Ordinal);

    public Task<StoredSession?> LoadAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        if (!_sessions.TryGetValue(sessionId, out var entry))
        {
            return Task.FromResult<StoredSession?>(null);
        }
        lock (entry)
        {
            return Task.FromResult<StoredSession?>(new StoredSession(Copy(entry.Meta), entry.Turns.ToArray()));
        }
    }

    public Task SaveMetaAsync(string sessionId, SessionMeta meta, CancellationToken cancellationToken = default)
    {
        var entry = _sessions.GetOrAdd(sessionId, _ => new Entry());
        lock (entry)
        {
            entry.Meta = Copy(meta);
        }
        return Task.CompletedTask;
    }

    public Task AppendAsync(string sessionId, TurnRecord turn, TimeSpan idleTtl, CancellationToken cancellationToken = default)
    {
        if (!_sessions.TryGetValue(sessionId, out var entry))
        {
            throw new SessionConflictException($"session '{sessionId}' has no stored record");
        }
        lock (entry)
        {
            if (entry.Turns.Count != turn.Seq - 1)
            {
                throw new SessionConflictException($"session '{sessionId}' holds {entry.Turns.Count} turns, writer expected {turn.Seq - 1}");
            }
            entry.Turns.Add(turn);
        }
        return Task.CompletedTask;
    }

    public Task DeleteAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        _sessions.TryRemove(sessionId, out _);
        return Task.CompletedTask;
    }

    private static SessionMeta Copy(SessionMeta m) => new()
    {
        Pool = m.Pool,
        Model = m.Model,
        CreatedAt = m.CreatedAt,
        LastActivityAt = m.LastActivityAt,
        IdleTtl = m.IdleTtl,
        Scratch = new Dictionary<string, ScratchEntry>(m.Scratch, StringComparer.Ordinal),
    };

    private sealed class Entry
    {
        public SessionMeta Meta { get; set; } = new();
        public List<TurnRecord> Turns { get; } = [];
    }
}

/// <summary>Large blobs that do not belong in grain state (step screenshots): written once, read rarely, expiring.</summary>
public interface IArtifactStore
{
    Task PutAsync(string key, byte[] data, TimeSpan ttl, CancellationToken cancellationToken = default);

    Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default);
}

public sealed class InMemoryArtifactStore(TimeProvider time) : IArtifactStore
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (byte[] Data, DateTimeOffset Expires)> _items = new(StringComparer.Ordinal);

    public InMemoryArtifactStore() : this(TimeProvider.System)
    {
    }

    public Task PutAsync(string key, byte[] data, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        foreach (var (k, v) in _items)
        {
            if (v.Expires <= now)
            {
                _items.TryRemove(k, out _);
            }
        }
        _items[key] = (data, now + ttl);
        return Task.CompletedTask;
    }

    public Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) =>
        Task.FromResult(_items.TryGetValue(key, out var v) && v.Expires > time.GetUtcNow() ? v.Data : null);
}
