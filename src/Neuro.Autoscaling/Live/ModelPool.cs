using Neuro.Autoscaling.Scalers;

namespace Neuro.Autoscaling.Live;

/// <summary>
/// How a model pool sizes itself, bound from <c>Neuro:Autoscaling:Models</c> (every model) with per-model overrides under
/// <c>Neuro:Autoscaling:Models:PerModel:&lt;model&gt;</c>. A replica is one silo serving the model (one GPU node), so the
/// capacity figures are per silo. Defaults fit the dev tiny model on a CPU silo, not a production GPU.
/// </summary>
public sealed class ModelPoolOptions
{
    public const string Section = "Neuro:Autoscaling:Models";

    /// <summary>Control interval of the pool's scaler timer.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Trailing window the live signals (arrivals, TTFT, output) are averaged over; also how long a silo that
    /// served a turn still counts as serving.</summary>
    public double WindowSeconds { get; set; } = 60;

    public int MinReplicas { get; set; } = 1;

    public int MaxReplicas { get; set; } = 8;

    /// <summary>Prompt tokens one replica prefills per second.</summary>
    public double PrefillTokensPerSecond { get; set; } = 2000;

    /// <summary>Sequences one replica decodes at once (its batch).</summary>
    public int MaxSequences { get; set; } = 16;

    /// <summary>Tokens of KV cache one replica holds.</summary>
    public long KvCacheTokens { get; set; } = 32_768;

    /// <summary>Decode time of one output token of one sequence, seconds.</summary>
    public double SecondsPerOutputToken { get; set; } = 0.01;

    /// <summary>The time-to-first-token SLO.</summary>
    public double TtftSloSeconds { get; set; } = 1;

    /// <summary>Share of the TTFT SLO a turn may spend waiting before its prefill starts; the rest is its own prefill,
    /// which more replicas do not shorten.</summary>
    public double QueueBudgetFraction { get; set; } = 0.5;

    /// <summary>Modelled probability of a wait beyond the queueing budget the pool is sized for (Erlang C).</summary>
    public double SloMissTarget { get; set; } = 0.005;

    public double ColdStartSeconds { get; set; } = 60;

    public double WarmStartSeconds { get; set; } = 8;

    public double ScaleDownWindowSeconds { get; set; } = 120;

    /// <summary>Warm stand-by silos as a percentage of desired. 0 by default: a stand-by of a GPU pool is a GPU node.</summary>
    public double PrewarmPercent { get; set; }

    /// <summary>A started turn with no finish signal for this long is taken as lost (its silo went away).</summary>
    public double LostTurnSeconds { get; set; } = 600;

    public Dictionary<string, ModelPoolOverride> PerModel { get; set; } = new(StringComparer.Ordinal);

    public double QueueDelayBudgetSeconds => TtftSloSeconds * QueueBudgetFraction;

    /// <summary>The options for one model: these, with that model's overrides on top.</summary>
    public ModelPoolOptions For(string model)
    {
        var o = (ModelPoolOptions)MemberwiseClone();
        o.PerModel = new(StringComparer.Ordinal);
        if (!PerModel.TryGetValue(model, out var p))
        {
            return o;
        }
        o.MinReplicas = p.MinReplicas ?? o.MinReplicas;
        o.MaxReplicas = p.MaxReplicas ?? o.MaxReplicas;
        o.PrefillTokensPerSecond = p.PrefillTokensPerSecond ?? o.PrefillTokensPerSecond;
        o.MaxSequences = p.MaxSequences ?? o.MaxSequences;
        o.KvCacheTokens = p.KvCacheTokens ?? o.KvCacheTokens;
        o.SecondsPerOutputToken = p.SecondsPerOutputToken ?? o.SecondsPerOutputToken;
        o.TtftSloSeconds = p.TtftSloSeconds ?? o.TtftSloSeconds;
        o.ColdStartSeconds = p.ColdStartSeconds ?? o.ColdStartSeconds;
        o.WarmStartSeconds = p.WarmStartSeconds ?? o.WarmStartSeconds;
        return o;
    }

    /// <summary>The first setting that cannot work, as (configuration key, message); null when all can. Checked at start
    /// and per model, so a typo fails loudly instead of sizing a pool by nonsense.</summary>
    public (string Field, string Message)? Validate()
    {
        if (Interval <= TimeSpan.Zero) return ("Interval", "must be positive");
        if (!(WindowSeconds > 0)) return ("WindowSeconds", "must be positive");
        if (MinReplicas < 0) return ("MinReplicas", "must be 0 or more");
        if (MaxReplicas < Math.Max(1, MinReplicas)) return ("MaxReplicas", "must be at least 1 and at least MinReplicas");
        if (!(PrefillTokensPerSecond > 0)) return ("PrefillTokensPerSecond", "must be positive");
        if (MaxSequences < 1) return ("MaxSequences", "must be 1 or more");
        if (KvCacheTokens < 1) return ("KvCacheTokens", "must be 1 or more");
        if (!(SecondsPerOutputToken > 0)) return ("SecondsPerOutputToken", "must be positive");
        if (!(TtftSloSeconds > 0)) return ("TtftSloSeconds", "must be positive");
        if (!(QueueBudgetFraction is > 0 and <= 1)) return ("QueueBudgetFraction", "must be in (0, 1]");
        if (!(SloMissTarget is > 0 and < 1)) return ("SloMissTarget", "must be in (0, 1): the queueing view is what sizes a model pool");
        if (ColdStartSeconds < 0) return ("ColdStartSeconds", "must be 0 or more");
        if (WarmStartSeconds < 0) return ("WarmStartSeconds", "must be 0 or more");
        if (ScaleDownWindowSeconds < 0) return ("ScaleDownWindowSeconds", "must be 0 or more");
        if (PrewarmPercent < 0) return ("PrewarmPercent", "must be 0 or more");
        if (!(LostTurnSeconds > 0)) return ("LostTurnSeconds", "must be positive");
        return null;
    }

    /// <summary>Our scaler with the queueing view of the TTFT SLO on: unlike an agent pool, a model pool has a real
    /// prefill phase measured in real tokens.</summary>
    public TokenAwareScaler CreateScaler() => new(new TokenAwareOptions
    {
        Capacity = new ReplicaCapacity(PrefillTokensPerSecond, MaxSequences, KvCacheTokens, SecondsPerOutputToken),
        Bounds = new ReplicaBounds(MinReplicas, MaxReplicas),
        QueueDelayBudgetSeconds = QueueDelayBudgetSeconds,
        SloMissTarget = SloMissTarget,
        ColdStartSeconds = ColdStartSeconds,
        WarmStartSeconds = WarmStartSeconds,
        DemandWindowSeconds = WindowSeconds,
        ScaleDownWindowSeconds = ScaleDownWindowSeconds,
        PrewarmPercent = PrewarmPercent,
        // The busy share PoolSignals reports is batch occupancy, not prefill compute time: the token estimate alone
        // is the offered prefill load.
        UseMeasuredPrefillLoad = false,
    });
}

/// <summary>Per-model capacity and bounds; unset values come from the defaults.</summary>
public sealed class ModelPoolOverride
{
    public int? MinReplicas { get; set; }
    public int? MaxReplicas { get; set; }
    public double? PrefillTokensPerSecond { get; set; }
    public int? MaxSequences { get; set; }
    public long? KvCacheTokens { get; set; }
    public double? SecondsPerOutputToken { get; set; }
    public double? TtftSloSeconds { get; set; }
    public double? ColdStartSeconds { get; set; }
    public double? WarmStartSeconds { get; set; }
}

/// <summary>
/// A model pool's live view, fed by the session grains' turn signals: turns waiting for their first token (their prompt
/// tokens are the tokens in queue), turns decoding, the silos serving the model, and the trailing-window signals of
/// <see cref="PoolSignals"/> with real tokens (prefilled prompt tokens at the first token, TTFT as the wait, output
/// tokens and decode time at the finish). Times are seconds on one monotonic clock. Not thread-safe (one per pool grain).
/// </summary>
public sealed class ModelPoolSignals(double windowSeconds, double lostTurnSeconds, double ttftSloSeconds = 0)
{
    private readonly PoolSignals _window = new(windowSeconds);
    // first tokens since the last snapshot and how many came later than the TTFT SLO: the scaler calibrates its
    // queueing view against them (0 = SLO unknown)
    private int _scored, _misses;
    private readonly Dictionary<string, (double At, long PromptTokens, string Silo)> _waiting = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (double At, string Silo)> _decoding = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _silos = new(StringComparer.Ordinal);

    public long Turns { get; private set; }
    public long PrefilledTokens { get; private set; }
    public long OutputTokens { get; private set; }

    /// <summary>A turn reached its silo's generator with <paramref name="promptTokens"/> new prompt tokens.</summary>
    public void Arrived(double now, string turn, string silo, long promptTokens)
    {
        Serving(now, silo);
        if (!_decoding.ContainsKey(turn))
        {
            _waiting[turn] = (now, Math.Max(0, promptTokens), silo);
        }
    }

    /// <summary>The turn's first token came <paramref name="ttftSeconds"/> after it arrived, having prefilled
    /// <paramref name="prefilledTokens"/> (more than its prompt when the session's cache had to be rebuilt).</summary>
    public void FirstToken(double now, string turn, string silo, long prefilledTokens, double ttftSeconds)
    {
        Serving(now, silo);
        _waiting.Remove(turn);
        _decoding[turn] = (now, silo);
        Turns++;
        PrefilledTokens += Math.Max(0, prefilledTokens);
        _window.Arrived(now, prefilledTokens);
        _window.Started(now, ttftSeconds);
        if (ttftSloSeconds > 0)
        {
            _scored++;
            if (ttftSeconds > ttftSloSeconds) _misses++;
        }
    }

    /// <summary>The turn finished with <paramref name="outputTokens"/> after <paramref name="seconds"/> of generation
    /// (or failed: then with what it produced, possibly nothing).</summary>
    public void Finished(double now, string turn, string silo, long outputTokens, double seconds)
    {
        Serving(now, silo);
        _waiting.Remove(turn);
        _decoding.Remove(turn);
        OutputTokens += Math.Max(0, outputTokens);
        if (outputTokens > 0)
        {
            _window.Finished(now, outputTokens, seconds);
        }
    }

    private void Serving(double now, string silo) => _silos[silo] = now;

    /// <summary>Silos that served a turn of this model within the window or have one running, plus
    /// <paramref name="loadedOn"/> (silos known to hold a loaded copy), sorted.</summary>
    public IReadOnlyList<string> ServingSilos(double now, IEnumerable<string> loadedOn)
    {
        Trim(now);
        return _silos.Keys.Concat(_waiting.Values.Select(w => w.Silo)).Concat(_decoding.Values.Select(d => d.Silo))
            .Union(loadedOn, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
    }

    public int Waiting => _waiting.Count;

    public int Decoding => _decoding.Count;

    /// <summary>The scaler's view. Ready = the serving silos; starting = replicas the pool asked for that do not serve
    /// yet (an orchestrator is bringing them up), so a decision is not repeated or undone while they start.</summary>
    public ScalingSnapshot Snapshot(double now, int ready, int? lastDesired, int maxSequences)
    {
        Trim(now);
        var starting = lastDesired is { } d ? Math.Max(0, d - ready) : 0;
        var oldest = _waiting.Count == 0 ? 0 : now - _waiting.Values.Min(w => w.At);
        var snapshot = _window.Snapshot(now, ready, starting, 0, _waiting.Count, Math.Max(0, oldest),
            _waiting.Values.Sum(w => w.PromptTokens), _waiting.Count + _decoding.Count, maxSequences) with
        {
            TtftSloScored = _scored, TtftSloMisses = _misses,
        };
        _scored = 0; _misses = 0;
        return snapshot;
    }

    private void Trim(double now)
    {
        foreach (var silo in _silos.Where(s => s.Value < now - windowSeconds).Select(s => s.Key).ToArray())
        {
            _silos.Remove(silo);
        }
        // A finish that never came (the silo died mid-turn) must not hold work in the pool forever.
        foreach (var turn in _waiting.Where(t => t.Value.At < now - lostTurnSeconds).Select(t => t.Key).ToArray())
        {
            _waiting.Remove(turn);
        }
        foreach (var turn in _decoding.Where(t => t.Value.At < now - lostTurnSeconds).Select(t => t.Key).ToArray())
        {
            _decoding.Remove(turn);
        }
    }
}
