using Neuro.Abstractions;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Neuro.Grains;

/// <summary>Places a grain keyed "{siloName}/{resource}" on the silo of that name, and nowhere else: a model cache or a GPU
/// device is a physical thing on one node, so its grain must run where the thing is. If that silo is gone the activation
/// is refused (the resource is gone too) instead of silently landing elsewhere.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("neuro.resource-owner-placement")]
public sealed class ResourceOwnerPlacement : PlacementStrategy
{
    internal static readonly ResourceOwnerPlacement Instance = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class ResourceOwnerPlacementAttribute() : PlacementAttribute(ResourceOwnerPlacement.Instance);

internal sealed class ResourceOwnerPlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var (siloName, _) = ResourceKey.Parse(target.GrainIdentity.Key.ToString()!);
        var compatible = context.GetCompatibleSilos(target);
        var members = membership.CurrentSnapshot.Members;
        foreach (var silo in compatible)
        {
            if (members.TryGetValue(silo, out var member) && member.Status == SiloStatus.Active && member.Name == siloName)
            {
                return Task.FromResult(silo);
            }
        }
        throw new NeuroRequestException(NeuroErrorKind.Unavailable, "key", $"silo '{siloName}' that owns '{target.GrainIdentity}' is not an active member of the cluster");
    }
}
