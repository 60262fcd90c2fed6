namespace Neuro.Autoscaling.Live;

/// <summary>Where scaling decisions go: the cluster's own agents and, optionally, an orchestrator (Kubernetes).</summary>
public interface IReplicaActuator
{
    string Name { get; }

    Task ApplyAsync(string pool, ScalingDecision decision, CancellationToken cancellationToken = default);
}

/// <summary>The actuator when nothing outside the cluster needs telling.</summary>
public sealed class NoExternalActuator : IReplicaActuator
{
    public string Name => "in-cluster";

    public Task ApplyAsync(string pool, ScalingDecision decision, CancellationToken cancellationToken = default) => Task.CompletedTask;
}

/// <summary>
/// A live pool's recent history, turned into the <see cref="ScalingSnapshot"/> a scaler reads each tick: arrivals and
/// their prompt tokens, waits from arrival to start (the "time to first token" of work that starts with a prefill, or
/// of an agent task), and finished work with its output tokens and duration — all over a trailing window. Agent tasks
/// carry no tokens, so a task counts one output token per second it ran: decode-time arithmetic then gives agent-time.
/// Not thread-safe (one per pool grain).
/// </summary>
public sealed class PoolSignals(double windowSeconds = 60)
{
    private readonly Queue<(double T, long PromptTokens)> _arrivals = new();
    private readonly Queue<(double T, double Wait)> _starts = new();
    private readonly Queue<(double T, long OutputTokens, double Seconds)> _finishes = new();

    public double WindowSeconds => windowSeconds;

    public void Arrived(double now, long promptTokens) => _arrivals.Enqueue((now, Math.Max(0, promptTokens)));

    public void Started(double now, double waitSeconds) => _starts.Enqueue((now, Math.Max(0, waitSeconds)));

    public void Finished(double now, long outputTokens, double seconds) => _finishes.Enqueue((now, Math.Max(0, outputTokens), Math.Max(0, seconds)));

    public ScalingSnapshot Snapshot(double now, int ready, int starting, int warm, int queueDepth, double oldestQueuedAge,
        long tokensInQueue, int inFlight, int slotsPerReplica)
    {
        Trim(now);
        var span = windowSeconds; // a young pool reads low for its first window; the queue guard covers that
        double? p95 = _starts.Count == 0 ? null : Percentile(_starts.Select(s => s.Wait), 0.95);
        var outputs = _finishes.Select(f => f.OutputTokens > 0 ? f.OutputTokens : f.Seconds).ToArray();
        var slots = Math.Max(1, ready * Math.Max(1, slotsPerReplica));
        var busy = ready == 0 ? (inFlight > 0 ? 1 : 0) : Math.Min(1, (double)inFlight / slots);
        return new ScalingSnapshot
        {
            NowSeconds = now,
            ReadyReplicas = ready,
            StartingReplicas = starting,
            WarmReplicas = warm,
            QueueDepth = queueDepth,
            OldestQueuedAgeSeconds = oldestQueuedAge,
            TokensInQueue = tokensInQueue,
            InFlightRequests = inFlight,
            TtftP95Seconds = p95,
            QueueWaitP95Seconds = p95,
            ArrivalRatePerSecond = _arrivals.Count / span,
            PrefillTokensPerSecond = _arrivals.Sum(a => a.PromptTokens) / span,
            MeanContextTokens = _arrivals.Count == 0 ? 0 : _arrivals.Average(a => (double)a.PromptTokens),
            MeanOutputTokens = outputs.Length == 0 ? 0 : outputs.Average(),
            OutputTokensPerSecondPerReplica = ready == 0 ? 0 : _finishes.Sum(f => (double)f.OutputTokens) / span / ready,
            Utilization = busy,
            GpuDutyCycle = busy,
            PrefillBusyFraction = busy,
        };
    }

    private void Trim(double now)
    {
        var from = now - windowSeconds;
        while (_arrivals.Count > 0 && _arrivals.Peek().T < from) _arrivals.Dequeue();
        while (_starts.Count > 0 && _starts.Peek().T < from) _starts.Dequeue();
        while (_finishes.Count > 0 && _finishes.Peek().T < from) _finishes.Dequeue();
    }

    private static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }
}
