using System.Text.Json;
using k8s;
using k8s.Models;
using Neuro.Autoscaling;
using Neuro.Autoscaling.Live;

namespace Neuro.Kubernetes;

/// <summary>The workload that runs a pool's replicas.</summary>
public sealed class ScaleTarget
{
    /// <summary><c>Deployment</c> or <c>StatefulSet</c>.</summary>
    public string Kind { get; set; } = "Deployment";

    public string Name { get; set; } = "";

    public string Namespace { get; set; } = "default";
}

/// <summary>
/// Applies a pool's desired replicas to its workload with one merge-patch of the <c>scale</c> subresource
/// (<c>{"spec":{"replicas":N}}</c>), the same call <c>kubectl scale</c> makes. Desired replicas include the warm pool:
/// warm stand-bys are pods too. A pool without a target is left alone. Needs RBAC <c>patch</c> on
/// <c>deployments/scale</c> (or <c>statefulsets/scale</c>), see k8s/silo-rbac.yaml.
/// </summary>
public sealed class KubernetesReplicaActuator(IKubernetes client, IReadOnlyDictionary<string, ScaleTarget> targets) : IReplicaActuator
{
    public string Name => "kubernetes";

    public async Task ApplyAsync(string pool, ScalingDecision decision, CancellationToken cancellationToken = default)
    {
        if (!targets.TryGetValue(pool, out var target))
        {
            return;
        }
        var replicas = decision.DesiredReplicas + decision.WarmPoolReplicas;
        var patch = new V1Patch(JsonSerializer.Serialize(new { spec = new { replicas } }), V1Patch.PatchType.MergePatch);
        switch (target.Kind)
        {
            case "Deployment":
                await client.AppsV1.PatchNamespacedDeploymentScaleAsync(patch, target.Name, target.Namespace, cancellationToken: cancellationToken);
                break;
            case "StatefulSet":
                await client.AppsV1.PatchNamespacedStatefulSetScaleAsync(patch, target.Name, target.Namespace, cancellationToken: cancellationToken);
                break;
            default:
                throw new InvalidOperationException($"Neuro:Autoscaling:Targets:{pool}:Kind must be Deployment or StatefulSet, not '{target.Kind}'");
        }
    }
}
