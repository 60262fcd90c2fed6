using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Neuro.Abstractions;
using Neuro.Autoscaling;
using Neuro.Autoscaling.Live;
using Neuro.Core.Telemetry;

namespace Neuro.Grains;

/// <summary>
/// The serving pool of one model (key: the model name). A thin shell over <see cref="ModelPoolSignals"/> and our
/// token-aware scaler with the queueing view of the TTFT SLO (<see cref="ModelPoolOptions"/>): session grains report each
/// turn's arrival, first token and finish one-way; a grain timer turns the window into a decision, logs it, exports it
/// and hands it to the <see cref="IReplicaActuator"/> under the pool name <c>model/&lt;model&gt;</c>.
/// A replica is a silo serving the model: one that ran a turn of it within the window or runs one now, or that holds a
/// copy loaded through its model cache (the registry's silos that are still cluster members).
/// Nothing is persisted: the signals are a trailing window that refills within one window after a move, and the
/// scaler's stabilisation restarts from the replicas that serve, as it does at start-up.
/// </summary>
public sealed partial class ModelPoolGrain(
    IOptions<ModelPoolOptions> settings,
    IReplicaActuator actuator,
    Inference.InferenceHost inference,
    ILogger<ModelPoolGrain> log,
    NeuroClock clock,
    IClusterMembershipService membership) : Grain, IModelPoolGrain
{
    /// <summary>The actuator's pool name for a model: kept apart from agent pool names, which may equal a model's.</summary>
    public static string ActuatorPool(string model) => $"model/{model}";

    private ModelPoolOptions _options = null!;
    private ModelPoolSignals _signals = null!;
    private IScaler _scaler = null!;
    private int? _desired;
    private int _warm;
    private string? _reason;
    private DateTimeOffset? _decidedAt;
    private ScalingSnapshot _last = new();
    private IReadOnlyList<string> _serving = [];

    private string Model => this.GetPrimaryKeyString();

    // Signals are timed on a monotonic real clock, not NeuroClock: they pace a control loop that runs on real grain timers
    // and hold real latencies, and the session clock may be a test's frozen one.
    private static double Now => Environment.TickCount64 / 1000.0;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(Model))
        {
            throw NeuroRequestException.Invalid("model", "must not be empty");
        }
        _options = settings.Value.For(Model);
        if (_options.Validate() is { } bad)
        {
            throw new InvalidOperationException($"{ModelPoolOptions.Section}:{bad.Field} (model '{Model}'): {bad.Message}");
        }
        _signals = new ModelPoolSignals(_options.WindowSeconds, _options.LostTurnSeconds, _options.TtftSloSeconds);
        _scaler = _options.CreateScaler();
        // Keeps the pool active between turns: the decision after load stops (back to the floor) must still be made.
        this.RegisterGrainTimer(ScaleAsync, new GrainTimerCreationOptions(_options.Interval, _options.Interval) { Interleave = false, KeepAlive = true });
        return Task.CompletedTask;
    }

    public Task TurnArrivedAsync(string turnId, string silo, int promptTokens)
    {
        _signals.Arrived(Now, turnId, silo, promptTokens);
        return Task.CompletedTask;
    }

    public Task FirstTokenAsync(string turnId, string silo, int prefilledTokens, TimeSpan ttft)
    {
        _signals.FirstToken(Now, turnId, silo, prefilledTokens, ttft.TotalSeconds);
        return Task.CompletedTask;
    }

    public Task TurnFinishedAsync(string turnId, string silo, int outputTokens, TimeSpan duration)
    {
        _signals.Finished(Now, turnId, silo, outputTokens, duration.TotalSeconds);
        return Task.CompletedTask;
    }

    public async Task<ModelPoolStatus> GetStatusAsync()
    {
        if (_signals.Turns == 0 && _serving.Count == 0 && !inference.Knows(Model)
            && await GrainFactory.GetGrain<IModelRegistryGrain>(Model).GetAsync() is null)
        {
            DeactivateOnIdle(); // a name nobody serves must not leave a pool (and its timer) behind
            throw NeuroRequestException.NotFound("model", $"model '{Model}' is neither configured nor loaded, and no turn has used it");
        }
        return Status();
    }

    private ModelPoolStatus Status() => new(
        Model, _scaler.Name, _options.MinReplicas, _options.MaxReplicas, _desired, _warm, _reason, _decidedAt, _serving,
        new ModelPoolSignalsView(_options.WindowSeconds, _last.ArrivalRatePerSecond, _last.PrefillTokensPerSecond, _last.TtftP95Seconds,
            _last.MeanContextTokens, _last.MeanOutputTokens, _last.OutputTokensPerSecondPerReplica, _signals.Waiting, _last.TokensInQueue,
            _signals.Waiting + _signals.Decoding, _signals.Turns, _signals.PrefilledTokens, _signals.OutputTokens),
        actuator.Name);

    private async Task ScaleAsync(CancellationToken cancellationToken)
    {
        var now = Now;
        _serving = _signals.ServingSilos(now, await LoadedOnAsync());
        var snapshot = _signals.Snapshot(now, _serving.Count, _desired, _options.MaxSequences);
        var decision = _scaler.Decide(snapshot);
        var desired = Math.Clamp(decision.DesiredReplicas, _options.MinReplicas, _options.MaxReplicas);
        _last = snapshot;
        NeuroMeters.ReportScaling(NeuroMeters.ModelPool, Model, desired, snapshot.TokensInQueue, snapshot.TtftP95Seconds);
        var changed = desired != _desired || decision.WarmPoolReplicas != _warm;
        (_desired, _warm, _reason, _decidedAt) = (desired, decision.WarmPoolReplicas, decision.Reason, clock.Now);
        if (!changed)
        {
            return;
        }
        LogDecision(Model, _scaler.Name, _serving.Count, desired, decision.WarmPoolReplicas, decision.Reason);
        try
        {
            await actuator.ApplyAsync(ActuatorPool(Model), decision with { DesiredReplicas = desired }, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogActuatorFailed(Model, actuator.Name, e);
            _desired = null; // not applied: the next tick applies it again
        }
    }

    /// <summary>Silos holding a copy loaded through their model cache that are still cluster members. Models served
    /// without the cache (configured or the dev model) are counted by the turns they serve.</summary>
    private async Task<IEnumerable<string>> LoadedOnAsync()
    {
        try
        {
            if (await GrainFactory.GetGrain<IModelRegistryGrain>(Model).GetAsync() is not { } registration || registration.Silos.Count == 0)
            {
                return [];
            }
            // this silo's membership view: no cluster-wide call every tick
            var members = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.Name);
            return registration.Silos.Intersect(members, StringComparer.Ordinal);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogRegistryFailed(Model, e); // decide from the turns alone this tick
            return [];
        }
    }

    [LoggerMessage(Level = LogLevel.Information, EventId = 1, EventName = "model_scale_decision",
        Message = "model pool {model} scaler {scaler}: serving {serving}, desired {to}, warm {warm}: {reason}")]
    private partial void LogDecision(string model, string scaler, int serving, int to, int warm, string reason);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 2, EventName = "actuator_failed", Message = "model pool {model}: actuator {actuator} failed; retried next tick")]
    private partial void LogActuatorFailed(string model, string actuator, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 3, EventName = "registry_unreadable", Message = "model pool {model}: could not read where the model is loaded")]
    private partial void LogRegistryFailed(string model, Exception e);
}
