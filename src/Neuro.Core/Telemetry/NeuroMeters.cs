using System.Diagnostics.Metrics;
using System.Linq;

namespace Neuro.Core.Telemetry;

/// <summary>The "Neuro" meter: every metric of ours, exported to Prometheus by the front door
/// as <c>neuro_{instrument}</c>, e.g. instrument <c>session.turns</c> is the metric <c>neuro_session_turns</c>.</summary>
public static class NeuroMeters
{
    public const string MeterName = "Neuro";

    private static readonly Meter Meter = new(MeterName, "1.0");

    public static readonly Counter<long> SessionsOpened = Meter.CreateCounter<long>("session.opened", description: "Sessions opened.");
    public static readonly Counter<long> SessionsExpired = Meter.CreateCounter<long>("session.expired", description: "Sessions cleared after their idle TTL.");
    public static readonly Counter<long> SessionTurns = Meter.CreateCounter<long>("session.turns", description: "Turns appended and acknowledged.");
    public static readonly Counter<long> SessionTokens = Meter.CreateCounter<long>("session.tokens", description: "Tokens recorded on acknowledged turns, by kind (prompt|completion).");
    public static readonly Counter<long> SessionActivations = Meter.CreateCounter<long>("session.activations", description: "Session grain activations (a handoff shows up as a reactivation).");
    public static readonly Counter<long> PoolEnqueued = Meter.CreateCounter<long>("pool.enqueued", description: "Work items queued on agent pools.");
    public static readonly Counter<long> WebhookDeliveries = Meter.CreateCounter<long>("webhook.deliveries", description: "Webhook deliveries finished, by result (delivered|failed).");
    public static readonly Counter<long> WebhookAttempts = Meter.CreateCounter<long>("webhook.attempts", description: "HTTP attempts made delivering webhooks.");
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Kind, string Pool), (double Desired, double TokensInQueue, double? TtftP95)> Scaling = new();

    /// <summary>Label value of agent pools' scaling metrics.</summary>
    public const string AgentPool = "agent";

    /// <summary>Label value of model (serving) pools' scaling metrics; the pool label is then the model name.</summary>
    public const string ModelPool = "model";

    /// <summary>The numbers HPA/KEDA read as external metrics: neuro_desired_replicas, neuro_tokens_in_queue and
    /// neuro_ttft_p95_seconds, per pool and pool kind (an agent pool and a model may share a name), as of the pool's
    /// last scaling decision.</summary>
    public static void ReportScaling(string kind, string pool, int desired, long tokensInQueue, double? ttftP95) => Scaling[(kind, pool)] = (desired, tokensInQueue, ttftP95);

    private static KeyValuePair<string, object?>[] ScalingTags((string Kind, string Pool) key) =>
        [new("pool", key.Pool), new("kind", key.Kind)];

    public static readonly ObservableGauge<double> DesiredReplicas = Meter.CreateObservableGauge("desired.replicas",
        () => Scaling.Select(p => new Measurement<double>(p.Value.Desired, ScalingTags(p.Key))), description: "Replicas the pool's scaler wants (ready + starting), by pool and kind (agent|model).");
    public static readonly ObservableGauge<double> TokensInQueue = Meter.CreateObservableGauge("tokens.in.queue",
        () => Scaling.Select(p => new Measurement<double>(p.Value.TokensInQueue, ScalingTags(p.Key))), description: "Prompt tokens waiting in the pool's queue (a model pool: of turns not at their first token yet).");
    public static readonly ObservableGauge<double> TtftP95 = Meter.CreateObservableGauge("ttft.p95.seconds",
        () => Scaling.Where(p => p.Value.TtftP95 is not null).Select(p => new Measurement<double>(p.Value.TtftP95!.Value, ScalingTags(p.Key))),
        description: "p95 of time from arrival to start (first token) over the scaler's window.");

    private static readonly Counter<long> ModelEvents = Meter.CreateCounter<long>("model.cache.events", description: "Model loads, evictions and failed loads, by kind and model.");
    private static readonly Counter<long> ModelBytes = Meter.CreateCounter<long>("model.cache.loaded.bytes", "By", "Bytes of models loaded (a load adds its size), by model.");
    private static long _modelUsedBytes;
    public static readonly ObservableGauge<long> ModelCacheUsed = Meter.CreateObservableGauge("model.cache.used.bytes", () => Interlocked.Read(ref _modelUsedBytes), "By",
        "Memory held by loaded models on this silo.");

    public static void ModelCacheChanged(string kind, string model, long sizeBytes, long usedBytes)
    {
        ModelEvents.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("model", model));
        if (kind == "loaded")
        {
            ModelBytes.Add(sizeBytes, new KeyValuePair<string, object?>("model", model));
        }
        Interlocked.Exchange(ref _modelUsedBytes, usedBytes);
    }

    public static readonly Counter<long> RequestsRefused = Meter.CreateCounter<long>("requests.refused", description: "Requests refused with a 4xx, by kind.");
}

/// <summary>Agent-task metrics under both names: the seed's <c>neko_*</c> (so dashboards built for the original agent keep
/// working) and ours, <c>neuro_*</c>. Per silo: each silo reports the agents it runs and the queues of the pools it hosts.</summary>
public static class AgentMeters
{
    private static readonly System.Diagnostics.Metrics.Meter Neko = new("neko", "1.0");
    private static readonly System.Diagnostics.Metrics.Meter Neuro = new(NeuroMeters.MeterName + ".agents", "1.0");
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> QueueDepths = new(StringComparer.Ordinal);
    private static int _activeAgents;

    private static readonly System.Diagnostics.Metrics.Histogram<double> NekoDuration =
        Neko.CreateHistogram<double>("task.duration.seconds", "s", "Agent task run time, by task_type (web|phone) and outcome.");
    private static readonly System.Diagnostics.Metrics.Histogram<double> NeuroDuration =
        Neuro.CreateHistogram<double>("task.duration.seconds", "s", "Agent task run time, by task_type (web|phone) and outcome.");

    static AgentMeters()
    {
        foreach (var meter in new[] { Neko, Neuro })
        {
            meter.CreateObservableGauge("active.agents.total", () => Volatile.Read(ref _activeAgents), description: "Agent tasks running on this silo.");
            meter.CreateObservableGauge("task.queue.size", () => QueueDepths.Select(q => new System.Diagnostics.Metrics.Measurement<int>(
                q.Value, new KeyValuePair<string, object?>("pool", q.Key))), description: "Queued agent tasks, by pool.");
        }
    }

    public static void AgentStarted() => Interlocked.Increment(ref _activeAgents);

    public static void AgentStopped(string taskType, string outcome, TimeSpan duration)
    {
        Interlocked.Decrement(ref _activeAgents);
        var tags = new[] { new KeyValuePair<string, object?>("task_type", taskType), new KeyValuePair<string, object?>("outcome", outcome) };
        NekoDuration.Record(duration.TotalSeconds, tags);
        NeuroDuration.Record(duration.TotalSeconds, tags);
    }

    public static void QueueDepth(string pool, int depth) => QueueDepths[pool] = depth;
}

/// <summary>Generation metrics named after the OpenTelemetry GenAI semantic conventions; exported to Prometheus as
/// <c>gen_ai_server_time_to_first_token</c>, <c>gen_ai_server_time_per_output_token</c> and <c>gen_ai_client_token_usage</c>
/// (the meter is named "gen_ai" so the exported names keep the convention's prefix), tagged with the model.</summary>
public static class GenAiMeters
{
    private static readonly Meter Meter = new("gen_ai", "1.0");

    private static readonly Histogram<double> TimeToFirstToken =
        Meter.CreateHistogram<double>("server.time_to_first_token", "s", "Time from a generation request to its first token.");
    private static readonly Histogram<double> TimePerOutputToken =
        Meter.CreateHistogram<double>("server.time_per_output_token", "s", "Time per output token after the first.");
    private static readonly Histogram<long> TokenUsage =
        Meter.CreateHistogram<long>("client.token.usage", "{token}", "Tokens per request, by gen_ai.token.type (input|output).");

    public static void Record(string model, TimeSpan? firstToken, TimeSpan total, int inputTokens, int outputTokens)
    {
        var modelTag = new KeyValuePair<string, object?>("gen_ai.request.model", model);
        var operation = new KeyValuePair<string, object?>("gen_ai.operation.name", "chat");
        if (firstToken is { } ttft)
        {
            TimeToFirstToken.Record(ttft.TotalSeconds, modelTag, operation);
            if (outputTokens > 1)
            {
                TimePerOutputToken.Record((total - ttft).TotalSeconds / (outputTokens - 1), modelTag, operation);
            }
        }
        TokenUsage.Record(inputTokens, modelTag, operation, new KeyValuePair<string, object?>("gen_ai.token.type", "input"));
        TokenUsage.Record(outputTokens, modelTag, operation, new KeyValuePair<string, object?>("gen_ai.token.type", "output"));
    }
}
