namespace Neuro.Autoscaling.Scalers;

/// <summary>
/// Seed 004 §5.2 <c>QueueBasedScaler</c>, re-implemented from its published behaviour: queue length above 10 doubles
/// the replicas (capped at max), below 2 halves them (floored at min), otherwise keeps them. No stabilisation.
/// </summary>
public sealed class QueueBasedScaler(ReplicaBounds bounds, int scaleUpThreshold = 10, int scaleDownThreshold = 2) : IScaler
{
    public string Name => "seed-queue";

    public ScalingDecision Decide(ScalingSnapshot s)
    {
        var current = s.ProvisionedReplicas;
        if (s.QueueDepth > scaleUpThreshold)
            return new(Math.Min(Math.Max(current * 2, bounds.Min), bounds.Max), $"queue {s.QueueDepth} > {scaleUpThreshold}: double");
        if (s.QueueDepth < scaleDownThreshold)
            return new(Math.Max(current / 2, bounds.Min), $"queue {s.QueueDepth} < {scaleDownThreshold}: halve");
        return new(bounds.Clamp(current), "queue between thresholds: keep");
    }
}

/// <summary>
/// Seed 004 §5.3 predictive recommendation rule, re-implemented: predicted utilisation = forecast load / (replicas ×
/// per-replica capacity). "scale_up" when predicted &gt; 80% and current utilisation &gt; 60%: target = max(current+1,
/// ceil(forecast / capacity × 1.2)). "scale_down" when predicted &lt; 30% and current &lt; 40%, skipped if any of the
/// last 3 recommendations was scale_up: target = max(current−1, max(min, ceil(forecast / (0.75 × capacity)))) (the seed's
/// 15-vs-20 "more conservative" scale-down capacity). Otherwise maintain.
/// </summary>
public sealed class SeedPredictiveScaler(ReplicaBounds bounds, double requestsPerSecondPerReplica) : IScaler
{
    private readonly Queue<string> _last = new();
    public string Name => "seed-predictive";

    public ScalingDecision Decide(ScalingSnapshot s)
    {
        var current = Math.Max(1, s.ProvisionedReplicas);
        var predicted = s.ForecastRatePerSecond ?? s.ArrivalRatePerSecond;
        var predictedUtil = predicted / (current * requestsPerSecondPerReplica) * 100;
        var currentUtil = s.Utilization * 100;
        string rec = predictedUtil > 80 && currentUtil > 60 ? "scale_up"
            : predictedUtil < 30 && currentUtil < 40 ? "scale_down" : "maintain";
        var recentUp = _last.Contains("scale_up");
        _last.Enqueue(rec);
        if (_last.Count > 3) _last.Dequeue();
        var why = $"predicted util {predictedUtil:F0}%, current {currentUtil:F0}%";
        switch (rec)
        {
            case "scale_up":
                var up = Math.Max(current + 1, (int)Math.Ceiling(predicted / requestsPerSecondPerReplica * 1.2 - 1e-9));
                return new(Math.Min(up, bounds.Max), "scale_up: " + why);
            case "scale_down" when !recentUp:
                var req = Math.Max(bounds.Min, (int)Math.Ceiling(predicted / (0.75 * requestsPerSecondPerReplica) - 1e-9));
                return new(bounds.Clamp(Math.Max(req, current - 1)), "scale_down: " + why);
            case "scale_down":
                return new(bounds.Clamp(s.ProvisionedReplicas), "scale_down skipped (recent scale_up): " + why);
            default:
                return new(bounds.Clamp(s.ProvisionedReplicas), "maintain: " + why);
        }
    }
}
