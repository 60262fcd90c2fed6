namespace Neuro.Autoscaling.Simulation;

public sealed record SimulationOptions
{
    public double ControlIntervalSeconds { get; init; } = 15;
    public int InitialReplicas { get; init; } = 1;
    public int InitialWarmReplicas { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Replicas become ready the moment they are requested (used by the hindsight oracle).</summary>
    public bool InstantStart { get; init; }
    /// <summary>Forecast horizon passed in snapshots (seconds); 0 = no forecast.</summary>
    public double ForecastHorizonSeconds { get; init; }
    /// <summary>Returns the forecast arrival rate at t + horizon from the per-interval rate history (online; past only).</summary>
    public Func<IReadOnlyList<double>, double, double>? Forecaster { get; init; }
    /// <summary>Keep the per-request results (TTFT, E2E) in the result.</summary>
    public bool KeepRequests { get; init; } = true;
    /// <summary>Warm-up: requests arriving before this time are not scored and GPU/stand-by hours before it are not
    /// counted, so no scaler benefits from how the pool was sized at time 0.</summary>
    public double WarmupSeconds { get; init; }
    /// <summary>Optional: record each decision (time, decision).</summary>
    public bool KeepDecisions { get; init; }
    /// <summary>Order in which the front door admits waiting requests (the same for every scaler in a comparison).</summary>
    public FrontDoorOrder FrontDoor { get; init; } = FrontDoorOrder.Fifo;
}

/// <summary>How the front door orders its waiting requests.</summary>
public enum FrontDoorOrder
{
    /// <summary>Arrival order (vLLM's default first-come-first-served; a Kubernetes Service has no queue at all).</summary>
    Fifo,
    /// <summary>Latest start first-served: the request whose prefill must start soonest to meet its TTFT SLO
    /// (arrival + SLO − unloaded prefill) goes first, so a short prompt is not held behind a long one whose SLO allows
    /// it to wait. A request already past that point misses whatever happens, so it goes behind those that can still
    /// make it (in arrival order; served, not dropped). Head-of-line blocking on KV room is kept, as in FIFO.</summary>
    DeadlineFirst,
}

public sealed record RequestOutcome(int Index, double Arrival, double Ttft, double E2E, double QueueWait, double SloSeconds)
{
    public bool MetSlo => Ttft <= SloSeconds + 1e-9;
}

public sealed record SimulationResult
{
    public required string Scaler { get; init; }
    public int Requests { get; init; }
    public double SloAttainment { get; init; }
    public double TtftP50 { get; init; }
    public double TtftP95 { get; init; }
    public double TtftP99 { get; init; }
    public double E2EP50 { get; init; }
    public double E2EP95 { get; init; }
    public double ReplicaHours { get; init; }
    public double GpuHours { get; init; }
    public double WarmReplicaHours { get; init; }
    public double Cost { get; init; }
    public int ScaleEvents { get; init; }
    public int MaxReplicas { get; init; }
    public double EndSeconds { get; init; }
    public IReadOnlyList<RequestOutcome> Outcomes { get; init; } = [];
    public IReadOnlyList<(double T, int Provisioned, int Ready)> ReplicaSeries { get; init; } = [];
    public IReadOnlyList<(double T, ScalingDecision D)> Decisions { get; init; } = [];
}

/// <summary>
/// Deterministic discrete-event simulator: replays a trace against a replica pool driven by an <see cref="IScaler"/>.
/// One global queue (the front door; FIFO or deadline-first, <see cref="SimulationOptions.FrontDoor"/>); a waiting request is admitted to a ready replica whose prefill engine is
/// idle and which has a free sequence slot and enough KV memory (least-loaded first). Events at equal times are
/// ordered by insertion, and the only randomness (start-time jitter) comes from <see cref="SimulationOptions.Seed"/>.
/// </summary>
public sealed class Simulator
{
    private enum Kind { Arrival, ReplicaReady, WarmReady, PrefillDone, DecodeDone, Tick }
    private readonly record struct Ev(Kind Kind, int A, int B);
    private enum RState { Starting, Ready, Draining, Gone }

    private sealed class Replica
    {
        public int Id; public RState State; public double HoldSince; public double ReadyAt;
        public int Prefilling = -1; public int Seqs; public long Kv;
        public double LevelSince; public double LevelArea; public double DutyArea; public double ReadyTimeInInterval;
    }

    private readonly ServiceModel _m;
    private readonly SimulationOptions _o;
    private readonly IReadOnlyList<TraceRequest> _trace;
    private readonly PriorityQueue<Ev, (double, long)> _events = new();
    private long _seq;
    private double _now;
    private readonly List<Replica> _replicas = new();
    // waiting requests in admission order (key: arrival, or latest start for the deadline-first front door)
    private readonly SortedSet<(double Key, int Index)> _queue = new();
    private long _tokensInQueue;
    private int _warm, _warmStaging, _warmTarget;
    private double _gpuArea, _replicaArea, _warmArea, _lastAreaT;
    private readonly Random _rng;
    private int _scaleEvents, _maxProvisioned;

    // per-request state
    private readonly double[] _prefillStart, _firstToken, _done;
    // interval metrics
    private int _arrivals; private long _arrivedTokens; private readonly List<double> _ttftInterval = new(); private readonly List<double> _waitInterval = new();
    private long _outputTokensInterval; private double _meanOut; private int _finished; private double _lastMeanCtx;
    private double _prefillBusyArea;
    // first tokens of this interval later than their SLO (the miss count a live pool reports)
    private int _sloMissesInterval;
    // arrival gaps and prefill work of this interval's arrivals (for their coefficients of variation)
    private double _lastArrivalAt = double.NaN; private int _gaps; private double _gapSum, _gapSq, _workSum, _workSq;
    private readonly List<double> _rateHistory = new();

    public Simulator(ServiceModel model, IReadOnlyList<TraceRequest> trace, SimulationOptions? options = null)
    {
        _m = model; _trace = trace; _o = options ?? new SimulationOptions();
        _rng = new Random(_o.Seed);
        _prefillStart = new double[trace.Count]; _firstToken = new double[trace.Count]; _done = new double[trace.Count];
        Array.Fill(_prefillStart, double.NaN); Array.Fill(_firstToken, double.NaN); Array.Fill(_done, double.NaN);
    }

    private void Push(double t, Kind k, int a = 0, int b = 0) => _events.Enqueue(new Ev(k, a, b), (t, _seq++));

    public SimulationResult Run(IScaler scaler)
    {
        for (var i = 0; i < _o.InitialReplicas; i++) AddReady(0);
        _warm = _o.InitialWarmReplicas; _warmTarget = _warm;
        for (var i = 0; i < _trace.Count; i++) Push(_trace[i].ArrivalSeconds, Kind.Arrival, i);
        var lastArrival = _trace.Count > 0 ? _trace[^1].ArrivalSeconds : 0;
        Push(_o.ControlIntervalSeconds, Kind.Tick);
        var series = new List<(double, int, int)>();
        var decisions = new List<(double, ScalingDecision)>();
        var completed = 0;

        while (_events.TryDequeue(out var ev, out var pri))
        {
            Advance(pri.Item1);
            switch (ev.Kind)
            {
                case Kind.Arrival:
                    var r = _trace[ev.A];
                    _queue.Add((AdmissionKey(ev.A), ev.A)); _tokensInQueue += r.ContextTokens;
                    _arrivals++; _arrivedTokens += r.ContextTokens;
                    var work = _m.PrefillSeconds(r.ContextTokens); _workSum += work; _workSq += work * work;
                    if (!double.IsNaN(_lastArrivalAt)) { var g = _now - _lastArrivalAt; _gaps++; _gapSum += g; _gapSq += g * g; }
                    _lastArrivalAt = _now;
                    if (scaler.ActivatesOnArrival && Provisioned() == 0)
                    {
                        var d = scaler.Decide(Snapshot(0));
                        if (_o.KeepDecisions) decisions.Add((_now, d));
                        Apply(d);
                    }
                    Dispatch();
                    break;
                case Kind.ReplicaReady:
                    var rep = _replicas[ev.A];
                    if (rep.State == RState.Starting) { rep.State = RState.Ready; rep.ReadyAt = _now; rep.LevelSince = _now; }
                    Dispatch();
                    break;
                case Kind.WarmReady:
                    _warmStaging--; _warm++;
                    if (_warm > _warmTarget) _warm = _warmTarget;
                    break;
                case Kind.PrefillDone:
                    {
                        var p = _replicas[ev.A]; var i = ev.B;
                        Level(p); p.Prefilling = -1; _firstToken[i] = _now; _ttftInterval.Add(_now - _trace[i].ArrivalSeconds);
                        if (_now - _trace[i].ArrivalSeconds > _m.SloFor(_trace[i].ContextTokens) + 1e-9) _sloMissesInterval++;
                        var decode = Math.Max(0, _trace[i].OutputTokens - 1) * _m.DecodeSecondsPerToken;
                        Push(_now + decode, Kind.DecodeDone, p.Id, i);
                        Dispatch();
                        break;
                    }
                case Kind.DecodeDone:
                    {
                        var p = _replicas[ev.A]; var i = ev.B; var t = _trace[i];
                        Level(p); p.Seqs--; p.Kv -= Reserve(t);
                        _done[i] = _now; completed++; _outputTokensInterval += t.OutputTokens;
                        _finished++; _meanOut = _finished == 1 ? t.OutputTokens : _meanOut + (t.OutputTokens - _meanOut) / Math.Min(_finished, 500);
                        if (p.State == RState.Draining && p.Seqs == 0) Release(p);
                        Dispatch();
                        break;
                    }
                case Kind.Tick:
                    {
                        var interval = _o.ControlIntervalSeconds;
                        var snap = Snapshot(interval);
                        var d = scaler.Decide(snap);
                        if (_o.KeepDecisions) decisions.Add((_now, d));
                        Apply(d);
                        series.Add((_now, Provisioned(), _replicas.Count(x => x.State == RState.Ready)));
                        ResetInterval();
                        Dispatch();
                        if (completed < _trace.Count || _now < lastArrival) Push(_now + interval, Kind.Tick);
                        break;
                    }
            }
            if (completed == _trace.Count && _now >= lastArrival) break;
        }
        Advance(_now);
        return Summarise(scaler.Name, series, decisions);
    }

    private const double LateKeyBase = 1e12;

    private double AdmissionKey(int i)
    {
        var t = _trace[i];
        return _o.FrontDoor == FrontDoorOrder.DeadlineFirst
            ? t.ArrivalSeconds + _m.SloFor(t.ContextTokens) - _m.PrefillSeconds(t.ContextTokens)
            : t.ArrivalSeconds;
    }

    private static long Reserve(TraceRequest t) => (long)t.ContextTokens + t.OutputTokens;

    private int Provisioned() => _replicas.Count(r => r.State is RState.Ready or RState.Starting);

    private void Advance(double t)
    {
        if (t > _lastAreaT)
        {
            var dt = t - _lastAreaT;
            foreach (var r in _replicas) if (r.State == RState.Ready && r.Prefilling >= 0) _prefillBusyArea += dt;
            var billed = t - Math.Max(_lastAreaT, _o.WarmupSeconds);
            if (billed > 0)
            {
                var held = _replicas.Count(r => r.State is RState.Starting or RState.Ready or RState.Draining);
                _replicaArea += held * billed; _gpuArea += held * _m.GpusPerReplica * billed; _warmArea += (_warm + _warmStaging) * billed;
            }
            _lastAreaT = t;
        }
        _now = t;
    }

    private double LevelOf(Replica r) =>
        Math.Max(r.Prefilling >= 0 ? 1.0 : 0.0, Math.Max((double)r.Seqs / _m.MaxSequences, (double)r.Kv / _m.KvCacheTokens));

    private void Level(Replica r)
    {
        if (r.State is RState.Ready or RState.Draining)
        {
            var since = Math.Max(r.LevelSince, _intervalStart);
            if (_now > since)
            {
                r.LevelArea += LevelOf(r) * (_now - since); r.ReadyTimeInInterval += _now - since;
                if (r.Seqs > 0) r.DutyArea += _now - since;
            }
        }
        r.LevelSince = _now;
    }

    private double _intervalStart;

    private ScalingSnapshot Snapshot(double interval)
    {
        double utilNum = 0, utilDen = 0, duty = 0;
        foreach (var r in _replicas)
        {
            if (r.State is not (RState.Ready or RState.Draining)) continue;
            Level(r);
            utilNum += r.LevelArea; utilDen += r.ReadyTimeInInterval; duty += r.DutyArea;
        }
        var ready = _replicas.Count(r => r.State == RState.Ready);
        var span = Math.Max(1e-9, _now - _intervalStart);
        var rate = _arrivals / span;
        if (interval > 0) _rateHistory.Add(rate);
        double? fc = null;
        if (_o.Forecaster is { } f && _o.ForecastHorizonSeconds > 0 && _rateHistory.Count > 0) fc = Math.Max(0, f(_rateHistory, _o.ForecastHorizonSeconds));
        if (_arrivals > 0) _lastMeanCtx = (double)_arrivedTokens / _arrivals;
        // FIFO keys are arrivals; deadline-first order is not, so the oldest waiter is looked up once per snapshot
        var oldest = _queue.Count == 0 ? 0
            : _now - (_o.FrontDoor == FrontDoorOrder.Fifo ? _queue.Min.Key : _queue.Min(q => _trace[q.Index].ArrivalSeconds));
        return new ScalingSnapshot
        {
            NowSeconds = _now,
            ReadyReplicas = ready,
            StartingReplicas = _replicas.Count(r => r.State == RState.Starting),
            WarmReplicas = _warm,
            QueueDepth = _queue.Count,
            OldestQueuedAgeSeconds = oldest,
            TokensInQueue = _tokensInQueue,
            InFlightRequests = _replicas.Where(r => r.State is RState.Ready or RState.Draining).Sum(r => r.Seqs),
            TtftP95Seconds = _ttftInterval.Count > 0 ? Stats.Percentile(_ttftInterval, 0.95) : null,
            QueueWaitP95Seconds = _waitInterval.Count > 0 ? Stats.Percentile(_waitInterval, 0.95) : null,
            ArrivalRatePerSecond = rate,
            PrefillTokensPerSecond = _arrivedTokens / span,
            MeanContextTokens = _lastMeanCtx,
            MeanOutputTokens = _meanOut,
            OutputTokensPerSecondPerReplica = ready > 0 ? _outputTokensInterval / span / ready : 0,
            Utilization = utilDen > 0 ? utilNum / utilDen : 0,
            GpuDutyCycle = utilDen > 0 ? duty / utilDen : 0,
            PrefillBusyFraction = ready > 0 ? _prefillBusyArea / (span * ready) : 0,
            ForecastRatePerSecond = fc,
            ForecastHorizonSeconds = _o.ForecastHorizonSeconds,
            TtftSloScored = _ttftInterval.Count,
            TtftSloMisses = _sloMissesInterval,
            ArrivalGapCv2 = _gaps >= 2 ? Cv2(_gaps, _gapSum, _gapSq) : null,
            PrefillWorkCv2 = _arrivals >= 2 ? Cv2(_arrivals, _workSum, _workSq) : null,
        };
    }

    /// <summary>Squared coefficient of variation from a count, sum and sum of squares (population variance).</summary>
    public static double Cv2(int n, double sum, double sumSq)
    {
        var mean = sum / n;
        return mean > 0 ? Math.Max(0, sumSq / n - mean * mean) / (mean * mean) : 0;
    }

    private void ResetInterval()
    {
        _intervalStart = _now; _arrivals = 0; _arrivedTokens = 0; _gaps = 0; _gapSum = 0; _gapSq = 0; _workSum = 0; _workSq = 0; _sloMissesInterval = 0; _ttftInterval.Clear(); _waitInterval.Clear();
        _outputTokensInterval = 0; _prefillBusyArea = 0;
        foreach (var r in _replicas) { r.LevelArea = 0; r.DutyArea = 0; r.ReadyTimeInInterval = 0; r.LevelSince = _now; }
    }

    private double Jitter(double s) => _m.StartJitter > 0 ? s * (1 + _m.StartJitter * (2 * _rng.NextDouble() - 1)) : s;

    private void AddReady(double t)
    {
        var r = new Replica { Id = _replicas.Count, State = RState.Ready, HoldSince = t, ReadyAt = t, LevelSince = t };
        _replicas.Add(r);
    }

    private void Apply(ScalingDecision d)
    {
        var desired = Math.Max(0, d.DesiredReplicas);
        var provisioned = Provisioned();
        if (desired != provisioned) _scaleEvents++;
        if (desired > provisioned)
        {
            var add = desired - provisioned;
            foreach (var r in _replicas.Where(r => r.State == RState.Draining).OrderByDescending(r => r.Seqs).ToList())
            {
                if (add == 0) break;
                Level(r); r.State = RState.Ready; add--;
            }
            while (add-- > 0)
            {
                var r = new Replica { Id = _replicas.Count, State = RState.Starting, HoldSince = _now };
                _replicas.Add(r);
                double delay;
                if (_o.InstantStart) delay = 0;
                else if (_warm > 0) { _warm--; delay = Jitter(_m.WarmStartSeconds); }
                else delay = Jitter(_m.ColdStartSeconds);
                if (delay <= 0) { r.State = RState.Ready; r.ReadyAt = _now; r.LevelSince = _now; }
                else Push(_now + delay, Kind.ReplicaReady, r.Id);
            }
        }
        else if (desired < provisioned)
        {
            var remove = provisioned - desired;
            foreach (var r in _replicas.Where(r => r.State == RState.Starting).OrderByDescending(r => r.HoldSince).ToList())
            {
                if (remove == 0) break;
                Release(r); remove--;
            }
            foreach (var r in _replicas.Where(r => r.State == RState.Ready).OrderBy(r => r.Seqs + (r.Prefilling >= 0 ? 1 : 0)).ThenBy(r => r.Kv).ToList())
            {
                if (remove == 0) break;
                Level(r);
                if (r.Seqs == 0) Release(r); else r.State = RState.Draining;
                remove--;
            }
        }
        _maxProvisioned = Math.Max(_maxProvisioned, Provisioned());
        // Warm pool: retired replicas' weights stay staged; new stand-bys take a cold start to stage (no GPU held).
        _warmTarget = Math.Max(0, d.WarmPoolReplicas);
        if (_warm > _warmTarget) _warm = _warmTarget;
        var missing = _warmTarget - _warm - _warmStaging;
        for (var i = 0; i < missing; i++) { _warmStaging++; Push(_now + (_o.InstantStart ? 0 : Jitter(_m.ColdStartSeconds)), Kind.WarmReady); }
    }

    private void Release(Replica r)
    {
        var wasStarting = r.State == RState.Starting;
        r.State = RState.Gone;
        if (!wasStarting && _warm + _warmStaging < _warmTarget) _warm++;
    }

    private void Dispatch()
    {
        while (_queue.Count > 0)
        {
            var head = _queue.Min;
            if (_o.FrontDoor == FrontDoorOrder.DeadlineFirst && head.Key < _now - 1e-9 && head.Key < LateKeyBase)
            {
                // already past its latest start: it misses whatever happens, so it yields to requests that can still make it
                _queue.Remove(head); _queue.Add((LateKeyBase + _trace[head.Index].ArrivalSeconds, head.Index));
                continue;
            }
            var i = head.Index; var t = _trace[i]; var need = Reserve(t);
            Replica? best = null;
            foreach (var r in _replicas)
            {
                if (r.State != RState.Ready || r.Prefilling >= 0 || r.Seqs >= _m.MaxSequences) continue;
                var fits = r.Kv + need <= _m.KvCacheTokens || (r.Seqs == 0 && need > _m.KvCacheTokens);
                if (!fits) continue;
                if (best is null || r.Kv < best.Kv) best = r;
            }
            if (best is null) return;
            _queue.Remove(head); _tokensInQueue -= t.ContextTokens;
            Level(best);
            best.Prefilling = i; best.Seqs++; best.Kv += need;
            _prefillStart[i] = _now; _waitInterval.Add(_now - t.ArrivalSeconds);
            Push(_now + _m.PrefillSeconds(t.ContextTokens), Kind.PrefillDone, best.Id, i);
        }
    }

    private SimulationResult Summarise(string name, List<(double, int, int)> series, List<(double, ScalingDecision)> decisions)
    {
        var outcomes = new List<RequestOutcome>(_trace.Count);
        for (var i = 0; i < _trace.Count; i++)
        {
            var a = _trace[i].ArrivalSeconds;
            outcomes.Add(new RequestOutcome(i, a, _firstToken[i] - a, _done[i] - a, _prefillStart[i] - a, _m.SloFor(_trace[i].ContextTokens)));
        }
        var scored = outcomes.Where(o => o.Arrival >= _o.WarmupSeconds).ToList();
        var ttft = scored.Select(o => o.Ttft).ToArray();
        var e2e = scored.Select(o => o.E2E).ToArray();
        var hours = _gpuArea / 3600;
        return new SimulationResult
        {
            Scaler = name,
            Requests = scored.Count,
            SloAttainment = scored.Count == 0 ? 1 : scored.Count(o => o.MetSlo) / (double)scored.Count,
            TtftP50 = Stats.Percentile(ttft, 0.5), TtftP95 = Stats.Percentile(ttft, 0.95), TtftP99 = Stats.Percentile(ttft, 0.99),
            E2EP50 = Stats.Percentile(e2e, 0.5), E2EP95 = Stats.Percentile(e2e, 0.95),
            ReplicaHours = _replicaArea / 3600, GpuHours = hours, WarmReplicaHours = _warmArea / 3600,
            Cost = hours * _m.GpuHourPrice + _warmArea / 3600 * _m.WarmReplicaHourPrice,
            ScaleEvents = _scaleEvents, MaxReplicas = _maxProvisioned, EndSeconds = _now,
            Outcomes = _o.KeepRequests ? outcomes : [],
            ReplicaSeries = series, Decisions = decisions,
        };
    }
}

public static class Stats
{
    public static double Percentile(IReadOnlyCollection<double> xs, double q)
    {
        if (xs.Count == 0) return double.NaN;
        var a = xs.ToArray(); Array.Sort(a);
        var pos = q * (a.Length - 1); var lo = (int)Math.Floor(pos); var hi = (int)Math.Ceiling(pos);
        return a[lo] + (a[hi] - a[lo]) * (pos - lo);
    }
}
