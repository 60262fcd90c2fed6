using Neuro.Abstractions;
using Neuro.Core.Pools;
using Neuro.Core.Telemetry;

namespace Neuro.Grains;

public sealed class AgentPoolState
{
    public AgentPoolSpec? Spec { get; set; }
    public int Ready { get; set; }
    public int Warming { get; set; }
    /// <summary>Kept in dispatch order: priority descending, FIFO within a priority.</summary>
    public List<WorkItem> Queue { get; set; } = [];
    public Dictionary<string, WorkItem> InFlight { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Which agent worker ("{pool}/{slot}") runs each in-flight item; absent for pulled work.</summary>
    public Dictionary<string, string> Assigned { get; set; } = new(StringComparer.Ordinal);
    public long CompletedItems { get; set; }
    public long CompletedOutputTokens { get; set; }
}

public sealed class AgentPoolGrain(
    [PersistentState("pool", NeuroStorage.Name)] IPersistentState<AgentPoolState> state,
    NeuroClock clock) : Grain, IAgentPoolGrain, IRemindable
{
    private const string DispatchReminder = "dispatch";

    private AgentPoolState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Work that was running when this pool's previous activation went away (silo lost) has no worker any more:
        // queue it again at the front. The task grain's run guard keeps a finished task from running twice.
        if (S.Assigned.Count > 0)
        {
            foreach (var workId in S.Assigned.Keys.ToArray())
            {
                if (S.InFlight.Remove(workId, out var item))
                {
                    S.Queue.Insert(0, item);
                }
            }
            S.Assigned.Clear();
            await state.WriteStateAsync();
        }
        await DispatchAsync();
    }

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
        var previous = S.Spec;
        S.Spec = spec;
        await state.WriteOrUndoAsync(() => S.Spec = previous);
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
        var existing = S.Queue.FindIndex(w => w.WorkId == item.WorkId);
        if (existing >= 0)
        {
            return existing + 1; // a retried enqueue is not queued twice
        }
        if (S.InFlight.ContainsKey(item.WorkId))
        {
            throw new NeuroRequestException(NeuroErrorKind.Conflict, "work_id", $"work '{item.WorkId}' is already running");
        }
        var queued = item with { EnqueuedAt = clock.Now };
        var index = PoolRules.InsertionIndex(S.Queue, queued.Priority, w => w.Priority);
        S.Queue.Insert(index, queued);
        await state.WriteOrUndoAsync(() => S.Queue.RemoveAt(index));
        NeuroMeters.PoolEnqueued.Add(1, new KeyValuePair<string, object?>("pool", this.GetPrimaryKeyString()));
        ReportQueue();
        var position = index + 1;
        await DispatchAsync();
        return S.Queue.Contains(queued) ? position : 0;
    }

    public async Task<WorkItem?> DequeueAsync()
    {
        RequireSpec();
        if (S.Queue.Count == 0 || PoolRules.FreeSlots(S.Ready, S.Spec!.MaxConcurrencyPerReplica, S.InFlight.Count) == 0)
        {
            return null;
        }
        return await TakeNextAsync(worker: null);
    }

    /// <summary>Moves the head of the queue in flight (assigned to <paramref name="worker"/> when pushed), durably.</summary>
    private async Task<WorkItem> TakeNextAsync(string? worker)
    {
        var next = S.Queue[0];
        S.Queue.RemoveAt(0);
        S.InFlight[next.WorkId] = next;
        if (worker is not null)
        {
            S.Assigned[next.WorkId] = worker;
        }
        await state.WriteOrUndoAsync(() =>
        {
            S.Assigned.Remove(next.WorkId);
            S.InFlight.Remove(next.WorkId);
            S.Queue.Insert(0, next);
        });
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
        if (!S.InFlight.Remove(workId, out var item))
        {
            throw NeuroRequestException.NotFound("work_id", $"no running work '{workId}'");
        }
        var worker = S.Assigned.GetValueOrDefault(workId);
        S.Assigned.Remove(workId);
        S.CompletedItems++;
        S.CompletedOutputTokens += outputTokens;
        await state.WriteOrUndoAsync(() =>
        {
            S.InFlight[workId] = item;
            if (worker is not null)
            {
                S.Assigned[workId] = worker;
            }
            S.CompletedItems--;
            S.CompletedOutputTokens -= outputTokens;
        });
        await DispatchAsync();
    }

    public async Task<bool> CancelQueuedAsync(string workId)
    {
        RequireSpec();
        var index = S.Queue.FindIndex(w => w.WorkId == workId);
        if (index < 0)
        {
            return false;
        }
        var item = S.Queue[index];
        S.Queue.RemoveAt(index);
        await state.WriteOrUndoAsync(() => S.Queue.Insert(index, item));
        ReportQueue();
        return true;
    }

    /// <summary>Pushes queued work to free agent workers, in queue order, one slot each.</summary>
    private async Task DispatchAsync()
    {
        if (S.Spec is not { PushToWorkers: true })
        {
            return; // replicas pull their work
        }
        var pool = this.GetPrimaryKeyString();
        var slots = S.Ready * S.Spec.MaxConcurrencyPerReplica;
        while (S.Queue.Count > 0 && S.InFlight.Count < slots)
        {
            var busy = S.Assigned.Values.ToHashSet(StringComparer.Ordinal);
            var worker = Enumerable.Range(0, slots).Select(i => $"{pool}/{i}").FirstOrDefault(w => !busy.Contains(w));
            if (worker is null)
            {
                return; // slots taken by pulled work
            }
            var next = await TakeNextAsync(worker);
            await GrainFactory.GetGrain<IAgentWorkerGrain>(worker).RunAsync(next.WorkId);
        }
    }

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

    private void ReportQueue() => Neuro.Core.Telemetry.AgentMeters.QueueDepth(this.GetPrimaryKeyString(), S.Queue.Count);

    private void RequireSpec()
    {
        if (S.Spec is null)
        {
            throw NeuroRequestException.NotFound("pool", $"agent pool '{this.GetPrimaryKeyString()}' is not configured");
        }
    }

    private AgentPoolStatus Status()
    {
        var spec = S.Spec!;
        var now = clock.Now;
        var oldest = S.Queue.Count == 0 ? TimeSpan.Zero : now - S.Queue.Min(w => w.EnqueuedAt);
        return new AgentPoolStatus(
            this.GetPrimaryKeyString(), spec, S.Ready, S.Warming, S.Queue.Count,
            S.Queue.Sum(w => (long)w.PromptTokens + w.MaxOutputTokens),
            oldest < TimeSpan.Zero ? TimeSpan.Zero : oldest,
            S.InFlight.Count, S.CompletedItems, S.CompletedOutputTokens,
            PoolRules.WarmTarget(S.Ready, spec.MinReplicas, spec.MaxReplicas, spec.PrewarmPercent),
            PoolRules.FreeSlots(S.Ready, spec.MaxConcurrencyPerReplica, S.InFlight.Count));
    }
}
