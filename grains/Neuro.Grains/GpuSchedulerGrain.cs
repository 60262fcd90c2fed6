using Neuro.Abstractions;
using Neuro.Scheduling;

namespace Neuro.Grains;

public sealed class GpuSchedulerState
{
    public Dictionary<string, GpuNodeSpec> Nodes { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Committed placements by request id: what to replay into the placer's model on activation, and what
    /// to release on the devices.</summary>
    public Dictionary<string, List<CommittedPart>> Committed { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One committed allocation (a gang has one per member), in the placer's terms and the devices' terms.</summary>
public sealed record CommittedPart(GpuRequest Request, string AllocationId, string Node, int[] GpuIndices, int GpuMilli, int NumaNode);

/// <summary>Thin shell over <see cref="Scheduler"/> (Neuro.Scheduling): the policy decides in memory, the device grains
/// are the source of truth for what a GPU carries, and a placement counts only once every device has accepted its part.</summary>
public sealed class GpuSchedulerGrain(
    [PersistentState("gpu-scheduler", NeuroStorage.Name)] IPersistentState<GpuSchedulerState> state,
    IGrainFactory grains) : Grain, IGpuSchedulerGrain
{
    private ClusterState? _cluster;
    private readonly Dictionary<string, List<Allocation>> _allocations = new(StringComparer.Ordinal);

    private GpuSchedulerState S => state.State;

    public async Task RegisterNodeAsync(GpuNodeSpec node)
    {
        if (string.IsNullOrWhiteSpace(node.Name) || node.Name.Contains('/'))
        {
            throw NeuroRequestException.Invalid("name", "must be non-empty and contain no '/'");
        }
        if (node.Gpus.Select(g => g.Model).Distinct().Count() > 1)
        {
            throw NeuroRequestException.Invalid("gpus", "a node's GPUs must all be one model");
        }
        if (node.CpuMilli <= 0 || node.MemoryMiB <= 0 || node.NumaNodes < 1)
        {
            throw NeuroRequestException.Invalid("cpu_milli", "cpu, memory and NUMA node count must be positive");
        }
        if (S.Committed.Values.SelectMany(p => p).Any(p => p.Node == node.Name))
        {
            throw new NeuroRequestException(NeuroErrorKind.Conflict, "name", $"node '{node.Name}' carries placements; release them before changing its inventory");
        }
        var before = S.Nodes.GetValueOrDefault(node.Name);
        S.Nodes[node.Name] = node;
        await state.WriteOrUndoAsync(() =>
        {
            if (before is null)
            {
                S.Nodes.Remove(node.Name);
            }
            else
            {
                S.Nodes[node.Name] = before;
            }
        });
        _cluster = null; // rebuilt on next use with the new inventory
    }

    public Task<IReadOnlyList<GpuNodeSpec>> GetNodesAsync() => Task.FromResult<IReadOnlyList<GpuNodeSpec>>(S.Nodes.Values.OrderBy(n => n.Name).ToArray());

    public async Task<GpuScheduleResult> ScheduleAsync(GpuRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Id))
        {
            throw NeuroRequestException.Invalid("id", "must not be empty");
        }
        if (S.Committed.ContainsKey(request.Id))
        {
            return Result(request.Id, []); // a retried request is not placed twice
        }
        var cluster = Cluster();
        var placement = ToPlacementRequest(request);
        if (placement.Validate() is { } invalid)
        {
            throw NeuroRequestException.Invalid("gpu_milli", invalid);
        }
        var decided = new Scheduler(cluster).Schedule(placement);
        if (!decided.Success)
        {
            return new GpuScheduleResult(false, decided.Reason, [], []);
        }

        // Evictions first (their GPU share is what makes room), then every part of the new placement; any refusal
        // undoes all of it, so a gang is committed whole or not at all.
        var evicted = decided.Evicted.Select(a => RequestIdOf(a.Request.Id)).Distinct().ToArray();
        var evictedParts = evicted.SelectMany(id => S.Committed[id]).ToArray();
        await ReleaseOnDevicesAsync(evictedParts);
        var parts = decided.Allocations.Select(a => Part(request, cluster, a)).ToList();
        var committed = new List<CommittedPart>();
        string? refusal = null;
        foreach (var part in parts)
        {
            refusal = await CommitOnDevicesAsync(part);
            if (refusal is not null)
            {
                break;
            }
            committed.Add(part);
        }
        if (refusal is not null)
        {
            await ReleaseOnDevicesAsync(committed);
            foreach (var a in decided.Allocations)
            {
                cluster.Release(a);
            }
            await RestoreEvictedAsync(cluster, evictedParts);
            return new GpuScheduleResult(false, $"a device refused its part, nothing was committed: {refusal}", [], []);
        }

        foreach (var id in evicted)
        {
            S.Committed.Remove(id);
            _allocations.Remove(id);
        }
        S.Committed[request.Id] = parts;
        _allocations[request.Id] = decided.Allocations.ToList();
        await state.WriteStateAsync();
        return Result(request.Id, evicted);
    }

    public async Task<bool> ReleaseAsync(string requestId)
    {
        if (!S.Committed.Remove(requestId, out var parts))
        {
            return false;
        }
        await ReleaseOnDevicesAsync(parts);
        if (_allocations.Remove(requestId, out var allocations) && _cluster is not null)
        {
            foreach (var a in allocations)
            {
                _cluster.Release(a);
            }
        }
        await state.WriteStateAsync();
        return true;
    }

    /// <summary>The placer's model: the registered inventory with every committed placement replayed into it.</summary>
    private ClusterState Cluster()
    {
        if (_cluster is not null)
        {
            return _cluster;
        }
        var specs = S.Nodes.Values.OrderBy(n => n.Name, StringComparer.Ordinal).ToArray();
        var cluster = new ClusterState(specs.Select(ToNode));
        _allocations.Clear();
        foreach (var (id, parts) in S.Committed)
        {
            _allocations[id] = Replay(cluster, parts);
        }
        return _cluster = cluster;
    }

    private static Node ToNode(GpuNodeSpec n)
    {
        // The placer numbers NVLink islands per node; inventories name them.
        var islands = n.Gpus.Select(g => g.NvLinkIsland ?? "").Distinct(StringComparer.Ordinal).ToList();
        var gpus = n.Gpus.Select((g, i) => new Gpu(g.Model, i, (int)g.MemoryMiB, islands.IndexOf(g.NvLinkIsland ?? ""), 0, g.NumaNode));
        return new Node(n.Name, n.CpuMilli, n.MemoryMiB, gpus.ToArray(), n.NumaNodes, n.Spot ? CapacityKind.Spot : CapacityKind.OnDemand, null, n.HourlyPricePerGpu);
    }

    private static PlacementRequest ToPlacementRequest(GpuRequest r) => new()
    {
        Id = r.Id,
        CpuMilli = r.CpuMilli,
        MemoryMiB = r.MemoryMiB,
        GpuCount = r.GpuCount,
        GpuMilli = r.GpuMilli,
        GpuTypes = r.GpuTypes,
        Priority = r.Priority,
        Tenant = r.Tenant,
        AllowSpot = r.AllowSpot,
        Gang = r.GangCount > 0 ? new GangSpec(r.Id, r.GangCount, r.GangSameNvLinkIsland ? GangTopology.SameNvLinkIsland : GangTopology.SameNode) : null,
    };

    private static string RequestIdOf(string allocationId) => allocationId.Split('#')[0];

    private static CommittedPart Part(GpuRequest request, ClusterState cluster, Allocation a) =>
        new(request, a.Request.Id, cluster.Nodes[a.Placement.NodeIndex].Name, a.Placement.GpuIndices, a.Placement.GpuMilli, a.Placement.NumaNode);

    private async Task<string?> CommitOnDevicesAsync(CommittedPart part)
    {
        var node = S.Nodes[part.Node];
        var done = new List<int>();
        foreach (var gi in part.GpuIndices)
        {
            var device = grains.GetGrain<IGpuDeviceGrain>(node.DeviceKey(gi));
            GpuAllocationResult result;
            try
            {
                result = await device.AllocateAsync(new GpuAllocation(part.AllocationId, part.Request.Tenant ?? "default", part.GpuMilli, 0, part.Request.Priority));
            }
            catch (Exception e)
            {
                result = new GpuAllocationResult(false, e.Message, null!);
            }
            if (!result.Granted)
            {
                foreach (var undo in done)
                {
                    await grains.GetGrain<IGpuDeviceGrain>(node.DeviceKey(undo)).ReleaseAsync(part.AllocationId);
                }
                return $"{node.DeviceKey(gi)}: {result.Reason}";
            }
            done.Add(gi);
        }
        return null;
    }

    private async Task ReleaseOnDevicesAsync(IEnumerable<CommittedPart> parts)
    {
        foreach (var part in parts)
        {
            foreach (var gi in part.GpuIndices)
            {
                await grains.GetGrain<IGpuDeviceGrain>(S.Nodes[part.Node].DeviceKey(gi)).ReleaseAsync(part.AllocationId);
            }
        }
    }

    /// <summary>Puts back what a failed placement had evicted, on the devices and in the placer's model.</summary>
    private async Task RestoreEvictedAsync(ClusterState cluster, IReadOnlyList<CommittedPart> evicted)
    {
        foreach (var part in evicted)
        {
            await CommitOnDevicesAsync(part);
        }
        foreach (var id in evicted.Select(p => RequestIdOf(p.AllocationId)).Distinct())
        {
            _allocations[id] = Replay(cluster, S.Committed[id]);
        }
    }

    /// <summary>Puts committed parts back into the placer's model (on activation, and after a failed placement's undo).</summary>
    private static List<Allocation> Replay(ClusterState cluster, IEnumerable<CommittedPart> parts) => parts.Select(p => cluster.Commit(
        ToPlacementRequest(p.Request) with { Id = p.AllocationId },
        new Placement(Array.FindIndex(cluster.Nodes, n => n.Name == p.Node), p.GpuIndices, p.GpuMilli, p.NumaNode))).ToList();

    private GpuScheduleResult Result(string requestId, IReadOnlyList<string> evicted) => new(
        true, null,
        S.Committed[requestId].SelectMany(p => p.GpuIndices.Select(gi => new GpuAssignment(p.AllocationId, p.Node, S.Nodes[p.Node].DeviceKey(gi), p.GpuMilli))).ToArray(),
        evicted);
}
