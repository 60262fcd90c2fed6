using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Neuro.Abstractions;
using Neuro.Autoscaling;
using Neuro.Autoscaling.Live;
using Neuro.Core.Pools;
using Neuro.Core.Telemetry;

namespace Neuro.Grains;

/// <summary>The pool's spec and counters. The queue itself lives in <see cref="IWorkQueueStore"/>, item by item.</summary>
public sealed class AgentPoolState
{
    public AgentPoolSpec? Spec { get; set; }
    public int Ready { get; set; }
    public int Warming { get; set; }
    public long CompletedItems { get; set; }
    public long CompletedOutputTokens { get; set; }
}

public sealed partial class AgentPoolGrain(
    [PersistentState("pool", NeuroStorage.Name)] IPersistentState<AgentPoolState> state,
    IWorkQueueStore store,
    IReplicaActuator actuator,
    IOptions<AutoscalingSettings> scaling,
    ILogger<AgentPoolGrain> log,
    NeuroClock clock) : Grain, IAgentPoolGrain, IRemindable
{
    // The pool's scaler (when its spec names one), fed from what this activation sees.
    private IScaler? _scaler;
    private IGrainTimer? _scaleTimer;
    private readonly PoolSignals _signals = new(scaling.Value.WindowSeconds);
    private readonly Dictionary<string, DateTimeOffset> _startedAt = new(StringComparer.Ordinal);

    private const string DispatchReminder = "dispatch";

    // In dispatch order (priority descending, then arrival). Every change is stored first, then applied here.
    private readonly List<QueuedWork> _queue = [];
    private readonly HashSet<string> _queued = new(StringComparer.Ordinal);
    private readonly Dictionary<string, QueuedWork> _inFlight = new(StringComparer.Ordinal);
    private long _nextSeq;

    private AgentPoolState S => state.State;

    private string Pool => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var (queued, inFlight) = await store.LoadAsync(Pool, cancellationToken);
        foreach (var item in queued)
        {
            Insert(item);
        }
        _nextSeq = queued.Concat(inFlight).Select(w => w.Seq + 1).DefaultIfEmpty(0).Max();
        foreach (var item in inFlight)
        {
            if (item.Worker is null)
            {
                _inFlight[item.WorkId] = item; // pulled work: its caller still owns it
                continue;
            }
            // Pushed work that was running when this pool's previous activation went away (silo lost) has no worker any
            // more: queue it again at its old place. The task grain's run guard keeps a finished task from running twice.
            await store.RequeueAsync(Pool, item, cancellationToken);
            Insert(item with { Worker = null });
        }
        ReportQueue();
        StartScaler();
        await DispatchAsync();
    }

    /// <summary>Runs the spec's scaler on a grain timer (the reminder keeps the pool active, so the timer keeps ticking).</summary>
    private void StartScaler()
    {
        _scaleTimer?.Dispose();
        _scaleTimer = null;
        _scaler = S.Spec is { } spec ? PoolScaling.Create(spec, scaling.Value) : null;
        if (_scaler is not null)
        {
            var every = scaling.Value.Interval;
            _scaleTimer = this.RegisterGrainTimer(ct => ScaleAsync("timer", ct), new GrainTimerCreationOptions(every, every) { Interleave = false });
        }
    }

    private double Seconds(DateTimeOffset t) => t.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>One scaling decision from the live signals, applied in the cluster (agent slots ready and warm) and
    /// through the actuator (e.g. the pool's Kubernetes workload).</summary>
    private async Task ScaleAsync(string trigger, CancellationToken cancellationToken)
    {
        if (_scaler is null || S.Spec is not { } spec)
        {
            return;
        }
        var now = clock.Now;
        var oldest = _queue.Count == 0 ? 0 : (now - _queue.Min(w => w.EnqueuedAt)).TotalSeconds;
        var snapshot = _signals.Snapshot(Seconds(now), S.Ready, 0, S.Warming, _queue.Count, Math.Max(0, oldest),
            _queue.Sum(w => (long)w.PromptTokens), _inFlight.Count, spec.MaxConcurrencyPerReplica);
        var decision = _scaler.Decide(snapshot);
        var ready = Math.Clamp(decision.DesiredReplicas, spec.MinReplicas, spec.MaxReplicas);
        var warm = Math.Max(0, decision.WarmPoolReplicas);
        NeuroMeters.ReportScaling(NeuroMeters.AgentPool, Pool, ready, snapshot.TokensInQueue, snapshot.TtftP95Seconds);
        if (ready == S.Ready && warm == S.Warming)
        {
            return;
        }
        LogDecision(Pool, _scaler.Name, trigger, S.Ready, ready, warm, decision.Reason);
        var (oldReady, oldWarm) = (S.Ready, S.Warming);
        (S.Ready, S.Warming) = (ready, warm);
        await state.WriteOrUndoAsync(() => (S.Ready, S.Warming) = (oldReady, oldWarm));
        try
        {
            await actuator.ApplyAsync(Pool, decision with { DesiredReplicas = ready }, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogActuatorFailed(Pool, actuator.Name, e); // the in-cluster change stands; the next tick tries again
        }
        await DispatchAsync();
    }

    [LoggerMessage(Level = LogLevel.Information, EventName = "scale_decision",
        Message = "pool {pool} scaler {scaler} ({trigger}): ready {from} → {to}, warm {warm}: {reason}")]
    private partial void LogDecision(string pool, string scaler, string trigger, int from, int to, int warm, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "pool {pool}: actuator {actuator} failed; retried next tick")]
    private partial void LogActuatorFailed(string pool, string actuator, Exception e);

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == DispatchReminder)
        {
            await DispatchAsync(); // activation already re-queued lost work; this makes sure someone activates us
        }
    }

    public async Task<AgentPoolStatus> ConfigureAsync(AgentPoolSpec spec)
    {
        Errors.ThrowIf(PoolRules.ValidateSpec(spec.AgentClass, spec.MinReplicas, spec.MaxReplicas, spec.PrewarmPercent, spec.TokensPerSecondBudget, spec.MaxConcurrencyPerReplica));
        if (!AgentPoolSpec.Scalers.Contains(spec.Scaler))
        {
            throw NeuroRequestException.Invalid("scaler", $"must be one of {string.Join(", ", AgentPoolSpec.Scalers)}");
        }
        var previous = S.Spec;
        S.Spec = spec;
        await state.WriteOrUndoAsync(() => S.Spec = previous);
        StartScaler();
        // Brings the pool back after a restart even if nobody calls it, so queued work is dispatched.
        await this.RegisterOrUpdateReminder(DispatchReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        return Status();
    }

    public Task<AgentPoolStatus?> GetStatusAsync() => Task.FromResult(S.Spec is null ? null : Status());

    public async Task<int> EnqueueAsync(WorkItem item)
    {
        RequireSpec();
        if (string.IsNullOrWhiteSpace(item.WorkId))
        {
            throw NeuroRequestException.Invalid("work_id", "must not be empty");
        }
        if (item.PromptTokens < 0 || item.MaxOutputTokens < 0)
        {
            throw NeuroRequestException.Invalid(item.PromptTokens < 0 ? "prompt_tokens" : "max_output_tokens", "must be 0 or more");
        }
        if (_queued.Contains(item.WorkId))
        {
            return _queue.FindIndex(w => w.WorkId == item.WorkId) + 1; // a retried enqueue is not queued twice
        }
        if (_inFlight.ContainsKey(item.WorkId))
        {
            throw new NeuroRequestException(NeuroErrorKind.Conflict, "work_id", $"work '{item.WorkId}' is already running");
        }
        var queued = new QueuedWork(item.WorkId, item.SessionId, item.Priority, item.PromptTokens, item.MaxOutputTokens, clock.Now, _nextSeq);
        await store.EnqueueAsync(Pool, queued);
        _nextSeq++;
        var position = Insert(queued) + 1;
        NeuroMeters.PoolEnqueued.Add(1, new KeyValuePair<string, object?>("pool", Pool));
        ReportQueue();
        _signals.Arrived(Seconds(queued.EnqueuedAt), queued.PromptTokens);
        if (S.Ready == 0 && _scaler is { ActivatesOnArrival: true })
        {
            await ScaleAsync("arrival at zero", CancellationToken.None); // scale-from-zero: do not wait for the next tick
        }
        await DispatchAsync();
        return _queued.Contains(queued.WorkId) ? position : 0;
    }

    public async Task<WorkItem?> DequeueAsync()
    {
        RequireSpec();
        if (_queue.Count == 0 || PoolRules.FreeSlots(S.Ready, S.Spec!.MaxConcurrencyPerReplica, _inFlight.Count) == 0)
        {
            return null;
        }
        return ToWorkItem(await TakeAsync(0, worker: null));
    }

    /// <summary>Moves a queued item in flight (assigned to <paramref name="worker"/> when pushed), durably.</summary>
    private async Task<QueuedWork> TakeAsync(int index, string? worker)
    {
        var next = _queue[index] with { Worker = worker };
        await store.StartAsync(Pool, next);
        _queue.RemoveAt(index);
        _queued.Remove(next.WorkId);
        _inFlight[next.WorkId] = next;
        var now = clock.Now;
        _startedAt[next.WorkId] = now;
        _signals.Started(Seconds(now), (now - next.EnqueuedAt).TotalSeconds);
        ReportQueue();
        return next;
    }

    public async Task CompleteAsync(string workId, int outputTokens)
    {
        RequireSpec();
        if (outputTokens < 0)
        {
            throw NeuroRequestException.Invalid("output_tokens", "must be 0 or more");
        }
        if (!_inFlight.ContainsKey(workId))
        {
            throw NeuroRequestException.NotFound("work_id", $"no running work '{workId}'");
        }
        await store.CompleteAsync(Pool, workId);
        _inFlight.Remove(workId);
        if (_startedAt.Remove(workId, out var started))
        {
            _signals.Finished(Seconds(clock.Now), outputTokens, (clock.Now - started).TotalSeconds);
        }
        S.CompletedItems++;
        S.CompletedOutputTokens += outputTokens;
        await state.WriteOrUndoAsync(() =>
        {
            S.CompletedItems--;
            S.CompletedOutputTokens -= outputTokens;
        });
        await DispatchAsync();
    }

    public async Task<bool> CancelQueuedAsync(string workId)
    {
        RequireSpec();
        if (!_queued.Contains(workId))
        {
            return false;
        }
        await store.RemoveQueuedAsync(Pool, workId);
        _queue.RemoveAt(_queue.FindIndex(w => w.WorkId == workId));
        _queued.Remove(workId);
        ReportQueue();
        return true;
    }

    /// <summary>Pushes queued work to free agent workers in queue order: a session's work to that session's worker (one
    /// at a time, so it waits while the session is busy and later work may pass it), other work to a free slot. Both
    /// count against the pool's slots.</summary>
    private async Task DispatchAsync()
    {
        if (S.Spec is not { PushToWorkers: true })
        {
            return; // replicas pull their work
        }
        var slots = S.Ready * S.Spec.MaxConcurrencyPerReplica;
        while (_queue.Count > 0 && _inFlight.Count < slots)
        {
            var busy = _inFlight.Values.Select(w => w.Worker).OfType<string>().ToHashSet(StringComparer.Ordinal);
            var freeSlot = Enumerable.Range(0, slots).Select(i => $"{Pool}/{i}").FirstOrDefault(w => !busy.Contains(w));
            var index = _queue.FindIndex(w => w.SessionId is { } session ? !busy.Contains(SessionWorker(session)) : freeSlot is not null);
            if (index < 0)
            {
                return; // slots taken (by pulled work, or sessions still busy)
            }
            var worker = _queue[index].SessionId is { } sessionId ? SessionWorker(sessionId) : freeSlot!;
            var next = await TakeAsync(index, worker);
            await GrainFactory.GetGrain<IAgentWorkerGrain>(worker).RunAsync(next.WorkId, Pool);
        }
    }

    private static string SessionWorker(string sessionId) => $"session/{sessionId}";

    public async Task SetReplicasAsync(int ready, int warming)
    {
        RequireSpec();
        if (ready < 0 || warming < 0)
        {
            throw NeuroRequestException.Invalid(ready < 0 ? "ready" : "warming", "must be 0 or more");
        }
        var (oldReady, oldWarming) = (S.Ready, S.Warming);
        (S.Ready, S.Warming) = (ready, warming);
        await state.WriteOrUndoAsync(() => (S.Ready, S.Warming) = (oldReady, oldWarming));
        await DispatchAsync();
    }

    /// <summary>Adds an item at its place in dispatch order; returns its index.</summary>
    private int Insert(QueuedWork item)
    {
        var index = _queue.BinarySearch(item, QueuedWork.DispatchOrder);
        index = index < 0 ? ~index : index;
        _queue.Insert(index, item);
        _queued.Add(item.WorkId);
        return index;
    }

    private static WorkItem ToWorkItem(QueuedWork w) => new(w.WorkId, w.SessionId, w.Priority, w.PromptTokens, w.MaxOutputTokens, w.EnqueuedAt);

    private void ReportQueue() => AgentMeters.QueueDepth(Pool, _queue.Count);

    private void RequireSpec()
    {
        if (S.Spec is null)
        {
            throw NeuroRequestException.NotFound("pool", $"agent pool '{Pool}' is not configured");
        }
    }

    private AgentPoolStatus Status()
    {
        var spec = S.Spec!;
        var now = clock.Now;
        var oldest = _queue.Count == 0 ? TimeSpan.Zero : now - _queue.Min(w => w.EnqueuedAt);
        return new AgentPoolStatus(
            Pool, spec, S.Ready, S.Warming, _queue.Count,
            _queue.Sum(w => (long)w.PromptTokens + w.MaxOutputTokens),
            oldest < TimeSpan.Zero ? TimeSpan.Zero : oldest,
            _inFlight.Count, S.CompletedItems, S.CompletedOutputTokens,
            PoolRules.WarmTarget(S.Ready, spec.MinReplicas, spec.MaxReplicas, spec.PrewarmPercent),
            PoolRules.FreeSlots(S.Ready, spec.MaxConcurrencyPerReplica, _inFlight.Count));
    }
}
