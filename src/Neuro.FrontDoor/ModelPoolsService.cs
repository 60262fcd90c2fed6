using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Neuro.Abstractions;
using Neuro.FrontDoor.V1;

namespace Neuro.FrontDoor;

/// <summary>Read-only view of the model pools (the scaling decisions live in the pool grains).</summary>
internal sealed class ModelPoolsService(IGrainFactory grains) : ModelPools.ModelPoolsBase
{
    // Model names are grain keys and config keys; a bound keeps a stray path from activating an arbitrary pool.
    private const int MaxModelName = 200;

    public override async Task<ModelPool> GetModelPool(GetModelPoolRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Model) || request.Model.Length > MaxModelName)
        {
            throw NeuroRequestException.Invalid("model", $"must be a model name of 1 to {MaxModelName} characters");
        }
        var s = await grains.GetGrain<IModelPoolGrain>(request.Model).GetStatusAsync();
        var signals = new V1.ModelPoolSignals
        {
            WindowSeconds = s.Signals.WindowSeconds,
            ArrivalRatePerSecond = s.Signals.ArrivalRatePerSecond,
            PrefillTokensPerSecond = s.Signals.PrefillTokensPerSecond,
            MeanContextTokens = s.Signals.MeanContextTokens,
            MeanOutputTokens = s.Signals.MeanOutputTokens,
            OutputTokensPerSecondPerReplica = s.Signals.OutputTokensPerSecondPerReplica,
            WaitingTurns = s.Signals.WaitingTurns,
            TokensInQueue = s.Signals.TokensInQueue,
            InFlightTurns = s.Signals.InFlightTurns,
            Turns = s.Signals.Turns,
            PrefilledTokens = s.Signals.PrefilledTokens,
            OutputTokens = s.Signals.OutputTokens,
        };
        if (s.Signals.TtftP95Seconds is { } ttft)
        {
            signals.TtftP95Seconds = ttft;
        }
        var pool = new ModelPool
        {
            Model = s.Model, Scaler = s.Scaler, MinReplicas = s.MinReplicas, MaxReplicas = s.MaxReplicas, WarmReplicas = s.WarmReplicas,
            LastReason = s.LastReason ?? "", Signals = signals, Actuator = s.Actuator,
            LastDecisionAt = s.LastDecisionAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
        };
        if (s.DesiredReplicas is { } desired)
        {
            pool.DesiredReplicas = desired;
        }
        pool.ServingSilos.AddRange(s.ServingSilos);
        return pool;
    }
}
