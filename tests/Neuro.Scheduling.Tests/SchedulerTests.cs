namespace Neuro.Scheduling.Tests;

public class GangTests
{
    private static PlacementRequest Gang(int members, GangTopology t, int gpusEach = 1) =>
        Build.Task(gpus: gpusEach, id: "llm") with { Gang = new GangSpec("g1", members, t) };

    [Fact]
    public void Tensor_parallel_shards_land_on_one_nvlink_island()
    {
        var c = new ClusterState([Build.Node("n0", 8, islands: 2)]); // GPUs 0-3 island 0, 4-7 island 1
        Build.Occupy(c, 0, [1], 1000);
        var r = new Scheduler(c).Schedule(Gang(4, GangTopology.SameNvLinkIsland));
        Assert.True(r.Success, r.Reason);
        Assert.Equal(4, r.Allocations.Count);
        var gpus = r.Allocations.SelectMany(a => a.Placement.GpuIndices).ToList();
        Assert.Equal(4, gpus.Distinct().Count());
        Assert.Single(gpus.Select(g => c.Nodes[0].Gpus[g].NvLinkIsland).Distinct());
    }

    [Fact]
    public void Same_node_gang_falls_back_to_fewest_islands_but_island_gang_fails_whole()
    {
        var build = () =>
        {
            var c = new ClusterState([Build.Node("n0", 8, islands: 2)]);
            Build.Occupy(c, 0, [0, 4], 1000); // 3 free per island
            return c;
        };
        var c1 = build();
        var ok = new Scheduler(c1).Schedule(Gang(4, GangTopology.SameNode));
        Assert.True(ok.Success, ok.Reason);
        Assert.Equal(2, ok.Allocations.SelectMany(a => a.Placement.GpuIndices).Select(g => c1.Nodes[0].Gpus[g].NvLinkIsland).Distinct().Count());

        var c2 = build();
        var before = Build.Free(c2, 0);
        var fail = new Scheduler(c2).Schedule(Gang(4, GangTopology.SameNvLinkIsland));
        Assert.False(fail.Success);
        Assert.Contains("NVLink island", fail.Reason);
        Assert.Empty(fail.Allocations);
        Assert.Equal(before, Build.Free(c2, 0));
        Assert.Single(c2.Allocations); // only the set-up allocation
    }

    [Fact]
    public void Gang_never_partially_placed_when_cluster_is_short()
    {
        var c = new ClusterState([Build.Node("n0", 4), Build.Node("n1", 4)]);
        var r = new Scheduler(c).Schedule(Gang(9, GangTopology.Any));
        Assert.False(r.Success);
        Assert.Equal(0, c.AllocatedGpuMilli);
        Assert.Empty(c.Allocations);

        var spread = new Scheduler(c).Schedule(Gang(6, GangTopology.Any));
        Assert.True(spread.Success, spread.Reason);
        Assert.Equal(6000, c.AllocatedGpuMilli);
    }

    [Fact]
    public void Failed_member_commit_rolls_back_the_others()
    {
        var c = new ClusterState([Build.Node("n0", 4)]);
        Build.Occupy(c, 0, [3], 1000);
        var r = Gang(3, GangTopology.SameNode);
        // The third member's GPU is taken: committing it throws, and the first two must be released.
        var plan = new[] { new Placement(0, [0], 1000), new Placement(0, [1], 1000), new Placement(0, [3], 1000) };
        var result = GangPlacer.Commit(c, r, plan);
        Assert.False(result.Success);
        Assert.Contains("rolled back", result.Reason);
        Assert.Equal([1000, 1000, 1000, 0], Build.Free(c, 0));
        Assert.Single(c.Allocations);
    }
}

public class MigTests
{
    // NVIDIA MIG user guide, A100-40GB: profile -> (memory slots, allowed start slots), independent of the implementation.
    private static readonly Dictionary<string, (int Size, int[] Starts)> A100_40 = new()
    {
        ["1g.5gb"] = (1, [0, 1, 2, 3, 4, 5, 6]), ["1g.10gb"] = (2, [0, 2, 4, 6]), ["2g.10gb"] = (2, [0, 2, 4]),
        ["3g.20gb"] = (4, [0, 4]), ["4g.20gb"] = (4, [0]), ["7g.40gb"] = (8, [0]),
    };
    private static readonly Dictionary<string, int> Compute = new() { ["1g"] = 1, ["2g"] = 2, ["3g"] = 3, ["4g"] = 4, ["7g"] = 7 };

    private static void AssertLegal(IReadOnlyList<(string Profile, int Start)> layout)
    {
        var used = new bool[8];
        foreach (var (p, start) in layout)
        {
            Assert.Contains(start, A100_40[p].Starts);
            for (var s = start; s < start + A100_40[p].Size; s++) { Assert.False(used[s], $"slot {s} used twice"); used[s] = true; }
        }
        Assert.True(layout.Sum(x => Compute[x.Profile[..2]]) <= 7);
    }

    [Theory]
    [InlineData("3g.20gb,2g.10gb,1g.5gb,1g.5gb")]
    [InlineData("3g.20gb,3g.20gb")]
    [InlineData("4g.20gb,2g.10gb,1g.5gb")]
    [InlineData("1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb")]
    [InlineData("7g.40gb")]
    [InlineData("2g.10gb,2g.10gb,2g.10gb,1g.5gb")]
    public void Valid_request_sets_get_a_legal_partition(string profiles)
    {
        var want = profiles.Split(',');
        var layout = MigPlanner.Partition("A100-40GB", want, out var reason);
        Assert.NotNull(layout);
        Assert.Null(reason);
        Assert.Equal(want.Order(), layout!.Select(x => x.Profile).Order());
        AssertLegal(layout);
    }

    [Theory]
    [InlineData("A100-40GB", "4g.20gb,4g.20gb")]          // 8 compute slices
    [InlineData("A100-40GB", "7g.40gb,1g.5gb")]
    [InlineData("A100-40GB", "3g.20gb,3g.20gb,1g.5gb")]   // 7 compute but no legal slot left
    [InlineData("H100-80GB", "1g.5gb")]                   // not an H100 profile
    [InlineData("T4", "1g.5gb")]                          // no MIG
    public void Impossible_request_sets_are_refused_with_a_reason(string model, string profiles)
    {
        Assert.Null(MigPlanner.Partition(model, profiles.Split(','), out var reason));
        Assert.False(string.IsNullOrEmpty(reason));
    }

    [Fact]
    public void H100_and_A100_80GB_use_the_doubled_memory_profiles()
    {
        Assert.NotNull(MigPlanner.Partition("H100-80GB", ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"], out _));
        Assert.NotNull(MigPlanner.Partition("A100-80GB", ["1g.20gb", "1g.20gb", "1g.20gb", "1g.20gb"], out _));
        Assert.Null(MigPlanner.Partition("A100-80GB", ["1g.20gb", "1g.20gb", "1g.20gb", "1g.20gb", "1g.10gb"], out _));
    }

    [Fact]
    public void Slices_go_to_idle_gpus_and_busy_gpus_are_never_repartitioned()
    {
        var c = new ClusterState([Build.Node("a", 2, model: "A100-40GB")]);
        Build.Occupy(c, 0, [0], 300); // GPU 0 runs a sharing task
        var s = new Scheduler(c);
        var first = s.Schedule(new PlacementRequest { Id = "m1", CpuMilli = 1000, MigProfile = "3g.20gb" });
        Assert.True(first.Success, first.Reason);
        Assert.Equal(1, first.Allocations[0].Placement.GpuIndices[0]);
        Assert.Null(c.Nodes[0].Gpus[0].Mig);

        // A second, different slice goes into free space on the same GPU; the running 3g instance keeps its slot.
        var firstSlot = c.Nodes[0].Gpus[1].Mig!.Slices[0].Start;
        var second = s.Schedule(new PlacementRequest { Id = "m2", CpuMilli = 1000, MigProfile = "2g.10gb" });
        Assert.True(second.Success, second.Reason);
        Assert.Equal(firstSlot, c.Nodes[0].Gpus[1].Mig!.Slices[0].Start);
        Assert.True(c.Nodes[0].Gpus[1].Mig!.Slices[0].InUse);

        Assert.False(MigPlacer.Repartition(c, c.Nodes[0], 0, ["7g.40gb"], out var why0));
        Assert.Contains("busy", why0);
        Assert.False(MigPlacer.Repartition(c, c.Nodes[0], 1, ["7g.40gb"], out var why1));
        Assert.Contains("busy", why1);
    }

    [Fact]
    public void Mig_request_without_capable_gpu_allocates_nothing()
    {
        var c = new ClusterState([Build.Node("t", 2, model: "T4")]);
        var r = new Scheduler(c).Schedule(new PlacementRequest { Id = "m", MigProfile = "1g.5gb" });
        Assert.False(r.Success);
        Assert.Contains("MIG", r.Reason);
        Assert.Empty(c.Allocations);
        Assert.All(c.Nodes[0].Gpus, g => Assert.Null(g.Mig));
    }
}

public class NumaTests
{
    [Fact]
    public void Cpu_memory_and_gpus_share_one_numa_node()
    {
        var c = new ClusterState([Build.Node("n", 8, cpuMilli: 64_000, memMiB: 256_000, numa: 2)]); // GPUs 0-3 NUMA 0, 4-7 NUMA 1
        // NUMA 0 loses most of its CPU to a pinned CPU task.
        c.Commit(Build.Task(cpu: 30_000, gpus: 0), new Placement(0, Placement.NoGpus, 0, NumaNode: 0));
        var r = new Scheduler(c).Schedule(Build.Task(cpu: 8000, gpus: 2));
        Assert.True(r.Success && r.NumaLocal, r.Reason);
        var p = r.Allocations[0].Placement;
        Assert.Equal(1, p.NumaNode);
        Assert.All(p.GpuIndices, g => Assert.Equal(1, c.Nodes[0].Gpus[g].NumaNode));
        Assert.Equal(32_000 - 8000, c.Nodes[0].NumaCpuFree[1]);
    }

    [Fact]
    public void Falls_back_to_cross_numa_when_no_single_numa_node_can_hold_it()
    {
        var c = new ClusterState([Build.Node("n", 4, cpuMilli: 64_000, numa: 2)]);
        var r = new Scheduler(c).Schedule(Build.Task(cpu: 8000, gpus: 4)); // GPUs span both NUMA nodes
        Assert.True(r.Success, r.Reason);
        Assert.False(r.NumaLocal);
    }
}

public class PreemptionTests
{
    private static (ClusterState, Allocation A, Allocation B, Allocation C) Full()
    {
        var c = new ClusterState([Build.Node("n", 0, cpuMilli: 64_000, memMiB: 100_000)]);
        var a = c.Commit(Build.Task(cpu: 1000, mem: 10_000, gpus: 0, id: "a", priority: 0), new Placement(0, [], 0));
        var b = c.Commit(Build.Task(cpu: 1000, mem: 40_000, gpus: 0, id: "b", priority: 0), new Placement(0, [], 0));
        var cc = c.Commit(Build.Task(cpu: 1000, mem: 50_000, gpus: 0, id: "c", priority: 1), new Placement(0, [], 0));
        return (c, a, b, cc);
    }

    [Fact]
    public void Evicts_the_fewest_lowest_priority_allocations_and_reports_them()
    {
        var (c, _, b, _) = Full();
        var r = new Scheduler(c).Schedule(Build.Task(cpu: 1000, mem: 40_000, gpus: 0, id: "hi", priority: 5));
        Assert.True(r.Success, r.Reason);
        Assert.Equal([b.Id], r.Evicted.Select(e => e.Id)); // one eviction suffices; b (priority 0) rather than c (priority 1)
        Assert.Equal(2 + 1, c.Allocations.Count);
    }

    [Fact]
    public void Needs_two_evictions_takes_two_not_three()
    {
        var (c, _, _, _) = Full();
        var r = new Scheduler(c).Schedule(Build.Task(cpu: 1000, mem: 85_000, gpus: 0, id: "hi", priority: 5));
        Assert.True(r.Success, r.Reason);
        Assert.Equal(2, r.Evicted.Count);
        Assert.True(r.Evicted.Sum(e => e.Request.MemoryMiB) >= 85_000);
    }

    [Fact]
    public void Never_evicts_equal_or_higher_priority()
    {
        var (c, _, _, _) = Full();
        var r = new Scheduler(c).Schedule(Build.Task(cpu: 1000, mem: 60_000, gpus: 0, id: "mid", priority: 1));
        // Only a and b (priority 0) may go; together they free 50 GB < 60 GB, so nothing happens.
        Assert.False(r.Success);
        Assert.Empty(r.Evicted);
        Assert.Equal(3, c.Allocations.Count);
        Assert.Contains("memory", r.Reason);
    }
}

public class CostTests
{
    private static ClusterState Pools() => new([
        Build.Node("od", 4, model: "A10", kind: CapacityKind.OnDemand, price: 3.0),
        Build.Node("spot", 4, model: "A10", kind: CapacityKind.Spot, price: 1.0),
    ]);

    private static PlacementRequest Replica(string id, bool spot = true) => Build.Task(id: id) with { Model = "llama-70b", AllowSpot = spot };

    [Fact]
    public void Cheapest_placement_that_keeps_the_on_demand_guard()
    {
        var c = Pools();
        var placer = new CostAwarePlacer(c, new CostOptions { MinOnDemandFraction = 0.5 });
        var r1 = placer.Place(Replica("r1"));
        var r2 = placer.Place(Replica("r2"));
        var r3 = placer.Place(Replica("r3"));
        // r1 on spot would leave 0% on-demand; r2 on spot keeps 50%; r3 on spot would drop to 33%.
        Assert.Equal(["od", "spot", "od"], new[] { r1, r2, r3 }.Select(r => c.Nodes[r.Allocations[0].Placement.NodeIndex].Name));
        Assert.Equal(1.0, r2.HourlyCost, 6);
    }

    [Fact]
    public void Spot_is_never_used_without_permission()
    {
        var c = Pools();
        var placer = new CostAwarePlacer(c, new CostOptions { MinOnDemandFraction = 0 });
        for (var i = 0; i < 4; i++) Assert.Equal("od", c.Nodes[placer.Place(Replica($"r{i}", spot: false)).Allocations[0].Placement.NodeIndex].Name);
        var fifth = placer.Place(Replica("r4", spot: false));
        Assert.False(fifth.Success);
        Assert.Contains("spot", fifth.Reason);
        Assert.Equal(4, c.Allocations.Count);
    }

    [Fact]
    public void Over_budget_request_degrades_to_its_fallback_and_says_so()
    {
        var c = new ClusterState([Build.Node("od", 4, model: "A10", price: 3.0)]);
        var small = Build.Task(id: "small") with { Model = "llama-8b", MaxHourlyPrice = 4.0 };
        var big = Build.Task(gpus: 2, id: "big") with { Model = "llama-70b", MaxHourlyPrice = 4.0, Fallback = small };
        var r = new CostAwarePlacer(c).Place(big);
        Assert.True(r.Success && r.Degraded);
        Assert.Equal("llama-8b", r.Served!.Model);
        Assert.Contains("budget", r.Reason);
        Assert.Equal(1000, c.AllocatedGpuMilli);
    }

    [Fact]
    public void Impossible_without_fallback_allocates_nothing()
    {
        var c = new ClusterState([Build.Node("od", 4, model: "A10", price: 3.0)]);
        var r = new CostAwarePlacer(c).Place(Build.Task(gpus: 2) with { MaxHourlyPrice = 1.0 });
        Assert.False(r.Success);
        Assert.Contains("budget", r.Reason);
        Assert.Empty(c.Allocations);
    }
}

public class ExplainTests
{
    [Fact]
    public void Impossible_requests_fail_with_a_clear_reason_and_allocate_nothing()
    {
        var c = new ClusterState([Build.Node("n", 8, cpuMilli: 96_000)]);
        var s = new Scheduler(c);
        Assert.Contains("largest node has 8", s.Schedule(Build.Task(gpus: 16)).Reason);
        Assert.Contains("V100M32", s.Schedule(Build.Task() with { GpuTypes = ["V100M32"] }).Reason);
        Assert.Contains("milli-CPU", s.Schedule(Build.Task(cpu: 200_000)).Reason);
        Assert.Contains("whole GPUs", s.Schedule(Build.Task(gpus: 2, milli: 500)).Reason);
        Assert.Empty(c.Allocations);
        Assert.Equal(0, c.AllocatedGpuMilli);
    }
}
