namespace Neuro.Abstractions;

/// <summary>A pool of agent replicas of one agent class, keyed by pool name. Holds the spec, the replica counts and
/// the work queue, and exposes the numbers an autoscaler reads (see <see cref="AgentPoolStatus"/>).</summary>
[Alias("neuro.agent-pool")]
public interface IAgentPoolGrain : IGrainWithStringKey
{
    /// <summary>Creates or updates the pool's spec. Invalid specs are refused and change nothing.</summary>
    [Alias("configure")]
    Task<AgentPoolStatus> ConfigureAsync(AgentPoolSpec spec);

    [Alias("status")]
    Task<AgentPoolStatus?> GetStatusAsync();

    /// <summary>Queues work; returns its position (1 = next). FIFO within a priority, higher priority first.</summary>
    [Alias("enqueue")]
    Task<int> EnqueueAsync(WorkItem item);

    /// <summary>Takes the next queued item for a caller that runs it itself (pull mode), or null when the queue is empty or
    /// no slot is free. Pools also push work to their agent workers as slots free up.</summary>
    [Alias("dequeue")]
    Task<WorkItem?> DequeueAsync();

    /// <summary>Marks dispatched work done and records the tokens it produced.</summary>
    [Alias("complete")]
    Task CompleteAsync(string workId, int outputTokens);

    /// <summary>Takes queued work out of the queue (a cancelled task). False when it is not queued.</summary>
    [Alias("cancel-queued")]
    Task<bool> CancelQueuedAsync(string workId);

    /// <summary>Reports the replica counts an actuator observed (ready to serve, still warming).</summary>
    [Alias("replicas")]
    Task SetReplicasAsync(int ready, int warming);
}

[GenerateSerializer, Immutable, Alias("neuro.agent-pool-spec")]
public sealed record AgentPoolSpec(
    [property: Id(0)] string AgentClass,
    [property: Id(1)] int MinReplicas,
    [property: Id(2)] int MaxReplicas,
    [property: Id(3)] int PrewarmPercent,
    [property: Id(4)] int TokensPerSecondBudget,
    [property: Id(5)] int MaxConcurrencyPerReplica = 1,
    [property: Id(6)] bool PushToWorkers = false,
    [property: Id(7)] string Scaler = AgentPoolSpec.NoScaler)
{
    /// <summary>Replica counts are set from outside (SetReplicasAsync) only.</summary>
    public const string NoScaler = "none";

    /// <summary>Scalers a pool may run on its timer: ours (token-aware with the queue-wait guard, warm pool and
    /// scale-from-zero) or the seed's queue-length doubling/halving rule.</summary>
    public static readonly IReadOnlyList<string> Scalers = [NoScaler, "ours", "seed-queue"];
}

[GenerateSerializer, Immutable, Alias("neuro.work-item")]
public sealed record WorkItem(
    [property: Id(0)] string WorkId,
    [property: Id(1)] string? SessionId,
    [property: Id(2)] int Priority,
    [property: Id(3)] int PromptTokens,
    [property: Id(4)] int MaxOutputTokens,
    [property: Id(5)] DateTimeOffset EnqueuedAt = default);

[GenerateSerializer, Immutable, Alias("neuro.agent-pool-status")]
public sealed record AgentPoolStatus(
    [property: Id(0)] string Pool,
    [property: Id(1)] AgentPoolSpec Spec,
    [property: Id(2)] int ReadyReplicas,
    [property: Id(3)] int WarmingReplicas,
    [property: Id(4)] int QueueDepth,
    [property: Id(5)] long QueuedTokens,
    [property: Id(6)] TimeSpan OldestQueuedAge,
    [property: Id(7)] int InFlight,
    [property: Id(8)] long CompletedItems,
    [property: Id(9)] long CompletedOutputTokens,
    [property: Id(10)] int WarmTarget,
    [property: Id(11)] int FreeSlots);
