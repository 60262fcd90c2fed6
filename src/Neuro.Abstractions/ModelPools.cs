namespace Neuro.Abstractions;

/// <summary>The serving pool of one model (key: the model name): the silos serving it, the live token signals the session
/// grains report for its turns, and the token-aware scaler that turns them into a desired replica count (a replica is one
/// silo serving the model). Signals are one-way: a turn never waits for, or fails because of, its pool.</summary>
[Alias("neuro.model-pool")]
public interface IModelPoolGrain : IGrainWithStringKey
{
    /// <summary>A turn reached its silo's generator with <paramref name="promptTokens"/> new prompt tokens.</summary>
    [Alias("arrived"), Orleans.Concurrency.OneWay]
    Task TurnArrivedAsync(string turnId, string silo, int promptTokens);

    /// <summary>The turn's first token came <paramref name="ttft"/> after it arrived, after prefilling <paramref name="prefilledTokens"/>.</summary>
    [Alias("first-token"), Orleans.Concurrency.OneWay]
    Task FirstTokenAsync(string turnId, string silo, int prefilledTokens, TimeSpan ttft);

    /// <summary>The turn ended (done, stopped or failed) with <paramref name="outputTokens"/> generated over <paramref name="duration"/>.</summary>
    [Alias("finished"), Orleans.Concurrency.OneWay]
    Task TurnFinishedAsync(string turnId, string silo, int outputTokens, TimeSpan duration);

    /// <summary>The pool's last decision and the signals it was made from.</summary>
    [Alias("status"), Orleans.Concurrency.AlwaysInterleave]
    Task<ModelPoolStatus> GetStatusAsync();
}

/// <summary>A model pool as of its last scaling decision. Counts since activation (turns, tokens) are this activation's:
/// the pool keeps no state of its own beyond a trailing window of signals.</summary>
[GenerateSerializer, Immutable, Alias("neuro.model-pool-status")]
public sealed record ModelPoolStatus(
    [property: Id(0)] string Model,
    [property: Id(1)] string Scaler,
    [property: Id(2)] int MinReplicas,
    [property: Id(3)] int MaxReplicas,
    [property: Id(4)] int? DesiredReplicas,
    [property: Id(5)] int WarmReplicas,
    [property: Id(6)] string? LastReason,
    [property: Id(7)] DateTimeOffset? LastDecisionAt,
    [property: Id(8)] IReadOnlyList<string> ServingSilos,
    [property: Id(9)] ModelPoolSignalsView Signals,
    [property: Id(10)] string Actuator);

/// <summary>What the scaler read at the last decision (rates, means, TTFT p95 and tokens in queue, over a window of
/// <see cref="WindowSeconds"/>), the turns waiting and in flight now, and the totals since activation.</summary>
[GenerateSerializer, Immutable, Alias("neuro.model-pool-signals")]
public sealed record ModelPoolSignalsView(
    [property: Id(0)] double WindowSeconds,
    [property: Id(1)] double ArrivalRatePerSecond,
    [property: Id(2)] double PrefillTokensPerSecond,
    [property: Id(3)] double? TtftP95Seconds,
    [property: Id(4)] double MeanContextTokens,
    [property: Id(5)] double MeanOutputTokens,
    [property: Id(6)] double OutputTokensPerSecondPerReplica,
    [property: Id(7)] int WaitingTurns,
    [property: Id(8)] long TokensInQueue,
    [property: Id(9)] int InFlightTurns,
    [property: Id(10)] long Turns,
    [property: Id(11)] long PrefilledTokens,
    [property: Id(12)] long OutputTokens);
