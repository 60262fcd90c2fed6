namespace Neuro.Autoscaling.Scalers;

/// <summary>
/// Kubernetes HPA (autoscaling/v2) replica algorithm and default behaviour, which is what seed 004 §4.5's spec gets
/// (it sets no <c>behavior</c> block): desired = ceil(current × metric / target) with a 10% tolerance; scale-up
/// policies "100% or 4 pods per 15 s, whichever is more" with no stabilisation; scale-down stabilisation window
/// 300 s (§5.2: "scale down when utilisation &lt; 30% for 5 minutes") and 100% per 15 s.
/// The metric is supplied by a delegate so the same algorithm serves HPA-on-utilisation and KEDA-on-queue.
/// </summary>
public class HpaScaler : IScaler
{
    public sealed record Options
    {
        public ReplicaBounds Bounds { get; init; } = new(2, 64);
        public double Tolerance { get; init; } = 0.1;
        public double ScaleDownStabilizationSeconds { get; init; } = 300;
        public double ScaleUpStabilizationSeconds { get; init; }
        public double PolicyPeriodSeconds { get; init; } = 15;
        public double ScaleUpPercent { get; init; } = 100;
        public int ScaleUpPods { get; init; } = 4;
    }

    private readonly Options _o;
    private readonly Func<ScalingSnapshot, (double Ratio, int Basis, string Metric)?> _metric;
    private readonly List<(double T, int Rec)> _recs = new();
    private readonly List<(double T, int From, int To)> _events = new();

    public string Name { get; }

    /// <param name="metric">Returns (metric/target ratio, replica count the ratio applies to, text), or null for "no data".</param>
    public HpaScaler(string name, Options options, Func<ScalingSnapshot, (double Ratio, int Basis, string Metric)?> metric)
    {
        Name = name; _o = options; _metric = metric;
    }

    /// <summary>HPA on utilisation (Resource metric, target averageUtilization, e.g. 70%).</summary>
    public static HpaScaler Utilization(double target = 0.70, Options? o = null) =>
        new("hpa-util70", o ?? new Options(), s => s.ReadyReplicas == 0 ? null
            : (s.Utilization / target, s.ReadyReplicas, $"util {s.Utilization:P0} / target {target:P0}"));

    /// <summary>HPA on the GPU duty cycle (DCGM_FI_DEV_GPU_UTIL as an External/Pods metric), how GPU HPAs are commonly run.</summary>
    public static HpaScaler DutyCycle(double target = 0.70, Options? o = null) =>
        new("hpa-duty70", o ?? new Options(), s => s.ReadyReplicas == 0 ? null
            : (s.GpuDutyCycle / target, s.ReadyReplicas, $"GPU duty cycle {s.GpuDutyCycle:P0} / target {target:P0}"));

    /// <summary>KEDA-style queue scaler: an External/AverageValue metric (waiting requests per replica), same HPA behaviour.</summary>
    public static HpaScaler KedaQueue(double targetPerReplica = 5, Options? o = null) =>
        new("keda-queue5", o ?? new Options(), s =>
        {
            var basis = Math.Max(1, s.ProvisionedReplicas);
            return (s.QueueDepth / (targetPerReplica * basis), basis, $"queue {s.QueueDepth} / {targetPerReplica}/replica");
        });

    public ScalingDecision Decide(ScalingSnapshot s)
    {
        var current = s.ProvisionedReplicas;
        var m = _metric(s);
        int rec; string reason;
        if (m is not { } v) { rec = current; reason = "no metric: keep"; }
        else if (Math.Abs(v.Ratio - 1) <= _o.Tolerance) { rec = current; reason = $"{v.Metric}: within tolerance"; }
        else { rec = (int)Math.Ceiling(v.Ratio * v.Basis - 1e-9); reason = v.Metric; }
        rec = _o.Bounds.Clamp(rec);
        _recs.Add((s.NowSeconds, rec));
        _recs.RemoveAll(r => r.T < s.NowSeconds - Math.Max(_o.ScaleDownStabilizationSeconds, _o.ScaleUpStabilizationSeconds));

        // Stabilisation (k8s: scale-down takes the max recommendation over the window, scale-up the min).
        var downStab = _recs.Where(r => r.T >= s.NowSeconds - _o.ScaleDownStabilizationSeconds).Max(r => r.Rec);
        var upStab = _recs.Where(r => r.T >= s.NowSeconds - _o.ScaleUpStabilizationSeconds).Min(r => r.Rec);
        var desired = current;
        if (rec > current) desired = Math.Max(current, upStab);
        else if (rec < current) desired = Math.Min(current, downStab);

        // Rate policies over the policy period.
        _events.RemoveAll(e => e.T <= s.NowSeconds - _o.PolicyPeriodSeconds);
        var periodStart = _events.Count > 0 ? _events[0].From : current;
        if (desired > current)
        {
            var limit = Math.Max((int)Math.Ceiling(periodStart * (1 + _o.ScaleUpPercent / 100.0)), periodStart + _o.ScaleUpPods);
            if (desired > limit) { desired = Math.Max(current, limit); reason += $" (scale-up limited to {limit})"; }
        }
        desired = _o.Bounds.Clamp(desired);
        if (desired != current) _events.Add((s.NowSeconds, current, desired));
        if (rec < current && desired == current) reason += $" (stabilising down, rec {rec})";
        return new ScalingDecision(desired, reason);
    }
}
