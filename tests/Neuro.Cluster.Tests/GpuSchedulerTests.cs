using Neuro.Abstractions;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Silo.Gpu;

namespace Neuro.Cluster.Tests;

/// <summary>The scheduler grain deciding with the placement policy and committing to GPU device grains on the silos that
/// own them, all-or-nothing.</summary>
[Collection(MemoryClusterCollection.Name)]
public sealed class GpuSchedulerTests(MemoryClusterFixture fixture)
{
    private IGrainFactory Grains => fixture.Grains;

    private async Task<(IGpuSchedulerGrain Scheduler, GpuNodeSpec[] Nodes)> ClusterAsync()
    {
        var silos = (await Grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true)).Select(h => h.SiloName).Order().ToArray();
        var tag = Guid.NewGuid().ToString("N")[..8];
        // The same inventory file the dev cluster ships, with its nodes spread over the test cluster's two silos.
        var file = GpuInventory.FromFile(Path.Combine(AppContext.BaseDirectory, "gpu-inventory.dev.json"), "unused");
        var nodes = file.Select((n, i) => n with { Name = $"{n.Name}-{tag}", Silo = silos[i % silos.Length] }).ToArray();
        var key = $"sched-{tag}";
        await GpuInventory.RegisterAsync(Grains, nodes, key);
        return (Grains.GetGrain<IGpuSchedulerGrain>(key), nodes);
    }

    private async Task<IReadOnlyList<GpuAllocation>> AllocationsOn(GpuNodeSpec node, int gpu) =>
        (await Grains.GetGrain<IGpuDeviceGrain>(node.DeviceKey(gpu)).GetStatusAsync())!.Allocations;

    [Fact]
    public async Task A_placement_is_committed_on_the_device_grains_of_the_owning_silo()
    {
        var (scheduler, nodes) = await ClusterAsync();
        var result = await scheduler.ScheduleAsync(new GpuRequest("job-1", 4000, 16384, GpuCount: 2, GpuMilli: 1000, GpuTypes: ["H100-80GB"]));

        Assert.True(result.Granted, result.Reason);
        Assert.Equal(2, result.Assignments.Count);
        var h100 = nodes.Single(n => n.Name.StartsWith("h100", StringComparison.Ordinal));
        foreach (var a in result.Assignments)
        {
            Assert.Equal(h100.Name, a.Node);
            var status = (await Grains.GetGrain<IGpuDeviceGrain>(a.DeviceKey).GetStatusAsync())!;
            Assert.Equal(h100.Silo, status.ActivationSilo);
            Assert.Contains(status.Allocations, x => x.AllocationId == a.AllocationId && x.MilliGpu == 1000);
        }

        Assert.True(await scheduler.ReleaseAsync("job-1"));
        foreach (var a in result.Assignments)
        {
            Assert.Empty((await Grains.GetGrain<IGpuDeviceGrain>(a.DeviceKey).GetStatusAsync())!.Allocations);
        }
        Assert.False(await scheduler.ReleaseAsync("job-1"));
    }

    [Fact]
    public async Task A_gang_whose_member_a_device_refuses_commits_nothing()
    {
        var (scheduler, nodes) = await ClusterAsync();
        var dgx = nodes.Single(n => n.Name.StartsWith("dgx", StringComparison.Ordinal));
        // Someone took GPU 5 behind the scheduler's back: its view of the node is stale, and only the device knows.
        Assert.True((await Grains.GetGrain<IGpuDeviceGrain>(dgx.DeviceKey(5)).AllocateAsync(new GpuAllocation("out-of-band", "ops", 1000, 0))).Granted);

        var result = await scheduler.ScheduleAsync(new GpuRequest("tp-8", 8000, 65536, GpuCount: 1, GpuMilli: 1000, GpuTypes: ["A100-80GB"], GangCount: 8));

        Assert.False(result.Granted);
        Assert.Contains("nothing was committed", result.Reason);
        for (var gpu = 0; gpu < dgx.Gpus.Count; gpu++)
        {
            Assert.DoesNotContain(await AllocationsOn(dgx, gpu), a => a.AllocationId.StartsWith("tp-8", StringComparison.Ordinal));
        }
        // And the scheduler did not keep a half-placed gang: a 4-member gang still fits on the other island.
        var four = await scheduler.ScheduleAsync(new GpuRequest("tp-4", 4000, 32768, GpuCount: 1, GpuMilli: 1000, GpuTypes: ["A100-80GB"], GangCount: 4, GangSameNvLinkIsland: true));
        Assert.True(four.Granted, four.Reason);
        Assert.Equal(4, four.Assignments.Select(a => a.DeviceKey).Distinct().Count());
    }

    [Fact]
    public async Task A_gang_lands_on_one_nvlink_island()
    {
        var (scheduler, nodes) = await ClusterAsync();
        var result = await scheduler.ScheduleAsync(new GpuRequest("tp-4", 4000, 32768, GpuCount: 1, GpuMilli: 1000, GpuTypes: ["A100-80GB"], GangCount: 4, GangSameNvLinkIsland: true));
        Assert.True(result.Granted, result.Reason);
        var dgx = nodes.Single(n => n.Name.StartsWith("dgx", StringComparison.Ordinal));
        var islands = result.Assignments.Select(a => dgx.Gpus[int.Parse(a.DeviceKey[(a.DeviceKey.LastIndexOf("gpu", StringComparison.Ordinal) + 3)..])].NvLinkIsland).Distinct();
        Assert.Single(islands);
    }

    [Fact]
    public async Task Placements_survive_the_scheduler_reactivating()
    {
        var (scheduler, _) = await ClusterAsync();
        // Four whole H100s exist; take three, let the scheduler lose its memory, then ask for two more.
        Assert.True((await scheduler.ScheduleAsync(new GpuRequest("a", 1000, 1024, 3, 1000, ["H100-80GB"]))).Granted);
        await fixture.Cluster.DeactivateAsync(scheduler);
        var tooMany = await scheduler.ScheduleAsync(new GpuRequest("b", 1000, 1024, 2, 1000, ["H100-80GB"]));
        Assert.False(tooMany.Granted);
        Assert.True((await scheduler.ScheduleAsync(new GpuRequest("c", 1000, 1024, 1, 1000, ["H100-80GB"]))).Granted);
    }

    [Fact]
    public async Task Impossible_and_invalid_requests_are_refused_without_allocating()
    {
        var (scheduler, nodes) = await ClusterAsync();
        var impossible = await scheduler.ScheduleAsync(new GpuRequest("huge", 1000, 1024, GpuCount: 8, GpuMilli: 1000, GpuTypes: ["T4"]));
        Assert.False(impossible.Granted);
        Assert.Contains("needs 8 GPUs", impossible.Reason);
        await Assert.ThrowsAsync<NeuroRequestException>(() => scheduler.ScheduleAsync(new GpuRequest("bad", 1000, 1024, GpuCount: 2, GpuMilli: 500)));
        foreach (var node in nodes)
        {
            for (var gpu = 0; gpu < node.Gpus.Count; gpu++)
            {
                Assert.Empty(await AllocationsOn(node, gpu));
            }
        }
    }

    [Fact]
    public void Without_an_nvidia_driver_nvml_says_why_and_the_file_is_used()
    {
        // This machine has no GPU driver (GPU presence itself cannot be tested here).
        var gpus = Nvml.TryRead(out var why);
        if (File.Exists("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"))
        {
            Assert.NotNull(gpus);
        }
        else
        {
            Assert.Null(gpus);
            Assert.Contains("libnvidia-ml", why);
        }
    }
}
