namespace Neuro.Inference.Models;

public enum ModelCacheEventKind { Loaded, Evicted, LoadFailed }

public readonly record struct ModelCacheEvent(ModelCacheEventKind Kind, string Key, long SizeBytes, long UsedBytes, long BudgetBytes);

public readonly record struct ModelCacheEntryInfo(string Key, long SizeBytes, int Leases, DateTimeOffset LastUsed, DateTimeOffset? PinnedUntil);

/// <summary>Nothing can be evicted to make room (everything left is pinned or in use), or the model is larger than the budget.</summary>
public sealed class ModelCacheFullException(string message) : InvalidOperationException(message);

/// <summary>
/// Loaded models under a memory budget. Entries in use (an undisposed lease) are never evicted; pinned entries stay until
/// their pin expires; the rest are evicted least-recently-used first when a new model needs room.
/// Concurrent requests for the same key share one load.
/// </summary>
public sealed class ModelMemoryCache<T>(long budgetBytes, TimeProvider? time = null) : IDisposable where T : class, IDisposable
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = [];
    private long _used;

    public long BudgetBytes { get; } = budgetBytes;
    public long UsedBytes { get { lock (_lock) return _used; } }
    public event Action<ModelCacheEvent>? Changed;

    internal sealed class Entry(string key, long size)
    {
        public string Key { get; } = key;
        public long Size { get; } = size;
        public readonly TaskCompletionSource<T> Tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task<T> Load => Tcs.Task;
        public int Leases;
        public DateTimeOffset LastUsed;
        public DateTimeOffset? PinnedUntil;
    }

    /// <summary>A use of a loaded model; dispose it when done so the model can be evicted again.</summary>
    public sealed class Lease : IDisposable
    {
        private ModelMemoryCache<T>? _owner;
        private readonly Entry _entry;
        internal Lease(ModelMemoryCache<T> owner, Entry entry, T value) { _owner = owner; _entry = entry; Value = value; }
        public T Value { get; }
        public string Key => _entry.Key;
        public void Dispose()
        {
            var owner = Interlocked.Exchange(ref _owner, null);
            if (owner is null) return;
            lock (owner._lock) { _entry.Leases--; _entry.LastUsed = owner._time.GetUtcNow(); }
        }
    }

    public IReadOnlyList<ModelCacheEntryInfo> Entries
    {
        get { lock (_lock) return _entries.Values.Select(e => new ModelCacheEntryInfo(e.Key, e.Size, e.Leases, e.LastUsed, e.PinnedUntil)).ToList(); }
    }

    public bool Contains(string key) { lock (_lock) return _entries.ContainsKey(key); }

    /// <summary>Returns a lease on the model, loading it (after evicting others if needed) when it is not resident.</summary>
    public async Task<Lease> AcquireAsync(string key, long sizeBytes, Func<CancellationToken, Task<T>> load, CancellationToken ct = default)
    {
        Entry entry;
        bool loader = false;
        List<Entry> evicted = [];
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out entry!))
            {
                if (sizeBytes > BudgetBytes) throw new ModelCacheFullException($"model '{key}' needs {sizeBytes} bytes, more than the whole budget ({BudgetBytes})");
                var now = _time.GetUtcNow();
                while (_used + sizeBytes > BudgetBytes)
                {
                    var victim = _entries.Values
                        .Where(e => e.Leases == 0 && e.Load.IsCompleted && !(e.PinnedUntil > now))
                        .OrderBy(e => e.LastUsed).FirstOrDefault()
                        ?? throw new ModelCacheFullException(
                            $"no room for model '{key}' ({sizeBytes} bytes): {_used} of {BudgetBytes} bytes used by pinned or in-use models " +
                            $"[{string.Join(", ", _entries.Values.Select(e => $"{e.Key}: {e.Size} B, {e.Leases} leases{(e.PinnedUntil > now ? ", pinned" : "")}"))}]");
                    _entries.Remove(victim.Key);
                    _used -= victim.Size;
                    evicted.Add(victim);
                }
                entry = new Entry(key, sizeBytes) { LastUsed = now };
                _entries[key] = entry;
                _used += sizeBytes; // reserved while loading
                loader = true;
            }
            entry.Leases++;
        }
        foreach (var e in evicted)
        {
            if (e.Load.IsCompletedSuccessfully) e.Load.Result.Dispose();
            Changed?.Invoke(new ModelCacheEvent(ModelCacheEventKind.Evicted, e.Key, e.Size, UsedBytes, BudgetBytes));
        }
        if (loader) await LoadAsync(entry, load, ct).ConfigureAwait(false);
        try
        {
            var value = await entry.Load.ConfigureAwait(false);
            lock (_lock) entry.LastUsed = _time.GetUtcNow();
            return new Lease(this, entry, value);
        }
        catch
        {
            lock (_lock) entry.Leases--;
            throw;
        }
    }

    private async Task LoadAsync(Entry entry, Func<CancellationToken, Task<T>> load, CancellationToken ct)
    {
        try
        {
            var value = await load(ct).ConfigureAwait(false);
            entry.Tcs.SetResult(value);
            Changed?.Invoke(new ModelCacheEvent(ModelCacheEventKind.Loaded, entry.Key, entry.Size, UsedBytes, BudgetBytes));
        }
        catch (Exception ex)
        {
            lock (_lock) { if (_entries.TryGetValue(entry.Key, out var e) && e == entry) { _entries.Remove(entry.Key); _used -= entry.Size; } }
            entry.Tcs.SetException(ex);
            Changed?.Invoke(new ModelCacheEvent(ModelCacheEventKind.LoadFailed, entry.Key, entry.Size, UsedBytes, BudgetBytes));
        }
    }

    /// <summary>Keeps a resident model from eviction for <paramref name="duration"/> (from now). Returns false if it is not resident.</summary>
    public bool Pin(string key, TimeSpan duration)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out var e)) return false;
            e.PinnedUntil = _time.GetUtcNow() + duration;
            return true;
        }
    }

    public void Unpin(string key) { lock (_lock) if (_entries.TryGetValue(key, out var e)) e.PinnedUntil = null; }

    /// <summary>Evicts a model now if it is not in use. Returns whether it was evicted.</summary>
    public bool TryEvict(string key)
    {
        Entry? e;
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out e) || e.Leases > 0 || !e.Load.IsCompleted) return false;
            _entries.Remove(key);
            _used -= e.Size;
        }
        if (e.Load.IsCompletedSuccessfully) e.Load.Result.Dispose();
        Changed?.Invoke(new ModelCacheEvent(ModelCacheEventKind.Evicted, key, e.Size, UsedBytes, BudgetBytes));
        return true;
    }

    public void Dispose()
    {
        List<Entry> all;
        lock (_lock) { all = [.. _entries.Values]; _entries.Clear(); _used = 0; }
        foreach (var e in all) if (e.Load.IsCompletedSuccessfully) e.Load.Result.Dispose();
    }
}
