using Neuro.Scheduling.Policies;

namespace Neuro.Scheduling.Tests;

public class FragmentationTests
{
    private static TaskShape Shape(int gpus, int milli, double w, long cpu = 1000) => new(cpu, gpus, milli, "", w);

    [Fact]
    public void Sharing_shape_counts_only_gpus_too_small_for_it()
    {
        // 300 free cannot host a 500 task; the whole GPU can.
        var f = Fragmentation.Of(10_000, [1000, 300], [true], [Shape(1, 500, 1.0)]);
        Assert.Equal(300, f, 6);
    }

    [Fact]
    public void Shape_that_cannot_run_counts_all_free_gpu()
    {
        // A 2-GPU task needs two whole GPUs; only one is whole, so all 1300 free milli are stranded for it.
        Assert.Equal(1300, Fragmentation.Of(10_000, [1000, 300], [true], [Shape(2, 1000, 1.0)]), 6);
        // Not enough CPU: the same.
        Assert.Equal(1300, Fragmentation.Of(500, [1000, 300], [true], [Shape(1, 500, 1.0, cpu: 1000)]), 6);
        // Wrong GPU model: the same.
        Assert.Equal(1300, Fragmentation.Of(10_000, [1000, 300], [false], [Shape(1, 500, 1.0)]), 6);
    }

    [Fact]
    public void Expectation_weights_shapes()
    {
        var f = Fragmentation.Of(10_000, [1000, 300], [true, true], [Shape(1, 500, 0.25), Shape(2, 1000, 0.75)]);
        Assert.Equal(0.25 * 300 + 0.75 * 1300, f, 6);
    }

    [Fact]
    public void Distribution_keeps_popular_shapes_and_normalises()
    {
        var tasks = Enumerable.Repeat(Build.Task(milli: 500), 90).Concat(Enumerable.Repeat(Build.Task(gpus: 8), 10)).ToList();
        var byCount = WorkloadDistribution.From(tasks, coverage: 0.9);
        Assert.Single(byCount.Shapes);
        Assert.Equal(1.0, byCount.Shapes[0].Weight, 6);

        var byGpu = WorkloadDistribution.From(tasks, coverage: 1.0, weighting: ShapeWeighting.GpuDemand);
        Assert.Equal(2, byGpu.Shapes.Length);
        // 10 × 8 GPU vs 90 half-GPU tasks, each counted as at least one: 80 / (80 + 90).
        Assert.Equal(80.0 / 170.0, byGpu.Shapes.Single(s => s.GpuCount == 8).Weight, 6);
    }
}

public class BaselinePolicyTests
{
    private static ClusterState TwoNodes() => new([Build.Node("n0", 2), Build.Node("n1", 2)]);

    [Fact]
    public void Fgd_puts_a_sharing_task_where_it_removes_a_fragment()
    {
        var c = TwoNodes();
        Build.Occupy(c, 1, [0], 500); // n1 GPU0 has 500 free: a fragment for 600-milli tasks
        var workload = new WorkloadDistribution([new TaskShape(1000, 1, 600, "", 1.0)]);
        var p = new FgdPolicy(workload, seed: 1).Place(c, Build.Task(milli: 400))!;
        Assert.Equal(1, p.NodeIndex);
        Assert.Equal([0], p.GpuIndices);
    }

    [Fact]
    public void BestFit_picks_the_node_left_with_least()
    {
        var c = TwoNodes();
        Build.Occupy(c, 1, [0], 1000);
        var p = new BestFitPolicy(1).Place(c, Build.Task())!;
        Assert.Equal(1, p.NodeIndex);
    }

    [Fact]
    public void GpuPacking_prefers_an_already_used_gpu()
    {
        var c = TwoNodes();
        Build.Occupy(c, 1, [1], 300);
        var p = new GpuPackingPolicy(1).Place(c, Build.Task(milli: 500))!;
        Assert.Equal((1, 1), (p.NodeIndex, p.GpuIndices[0]));
    }

    [Fact]
    public void GpuClustering_prefers_nodes_running_the_same_shape()
    {
        var c = new ClusterState([Build.Node("n0", 8), Build.Node("n1", 8), Build.Node("n2", 8)]);
        Build.Occupy(c, 0, [0, 1], 1000); // a 2-GPU task on n0
        c.Commit(Build.Task(gpus: 1, milli: 250), new Placement(2, [0], 250)); // a sharing task on n2
        Assert.Equal(2, new GpuClusteringPolicy(1).Place(c, Build.Task(milli: 400))!.NodeIndex);
        Assert.Equal(0, new GpuClusteringPolicy(1).Place(c, Build.Task(gpus: 2))!.NodeIndex);
    }

    [Fact]
    public void DotProd_prefers_the_node_whose_free_resources_align_least()
    {
        var c = new ClusterState([Build.Node("n0", 8, cpuMilli: 96_000), Build.Node("n1", 8, cpuMilli: 96_000)]);
        Build.Occupy(c, 0, [0, 1, 2, 3, 4, 5], 1000, cpu: 80_000);
        Assert.Equal(0, new DotProdPolicy(1).Place(c, Build.Task(cpu: 8000))!.NodeIndex);
    }

    [Fact]
    public void Random_only_uses_nodes_that_fit_and_spreads()
    {
        var c = new ClusterState([Build.Node("n0", 2), Build.Node("n1", 2), Build.Node("n2", 2)]);
        Build.Occupy(c, 1, [0, 1], 1000);
        var seen = new HashSet<int>();
        var policy = new RandomPolicy(7);
        for (var i = 0; i < 50; i++) seen.Add(policy.Place(c, Build.Task())!.NodeIndex);
        Assert.Equal([0, 2], seen.Order());
    }

    public static TheoryData<string> Policies => new() { "Random", "DotProd", "GpuClustering", "GpuPacking", "BestFit", "FGD", "Neuro" };

    internal static IPlacementPolicy Create(string name) => name switch
    {
        "Random" => new RandomPolicy(1),
        "DotProd" => new DotProdPolicy(1),
        "GpuClustering" => new GpuClusteringPolicy(1),
        "GpuPacking" => new GpuPackingPolicy(1),
        "BestFit" => new BestFitPolicy(1),
        "FGD" => new FgdPolicy(WorkloadDistribution.From([Build.Task(), Build.Task(milli: 500)]), 1),
        _ => new NeuroPolicy([Build.Task(), Build.Task(milli: 500)]),
    };

    [Theory]
    [MemberData(nameof(Policies))]
    public void Impossible_requests_get_no_placement(string name)
    {
        var c = TwoNodes();
        var policy = Create(name);
        Assert.Null(policy.Place(c, Build.Task(gpus: 4)));                       // more GPUs than any node
        Assert.Null(policy.Place(c, Build.Task(cpu: 1_000_000)));                // more CPU than any node
        Assert.Null(policy.Place(c, Build.Task() with { GpuTypes = ["A100"] })); // model not present
        Assert.Equal(0, c.AllocatedGpuMilli);
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void Every_placement_fits_and_fills_the_cluster_exactly(string name)
    {
        // 4 GPUs; sixteen 250-milli tasks fill them completely and a seventeenth cannot fit.
        var c = TwoNodes();
        var policy = Create(name);
        for (var i = 0; i < 16; i++)
        {
            var r = Build.Task(cpu: 1000, milli: 250, id: $"t{i}");
            c.Commit(r, policy.Place(c, r)!);
        }
        Assert.Equal(4000, c.AllocatedGpuMilli);
        Assert.Null(policy.Place(c, Build.Task(cpu: 1000, milli: 250)));
    }
}

public class NeuroPolicyTests
{
    [Fact]
    public void Cpu_only_task_goes_to_the_cpu_rich_node()
    {
        // n0: 2 GPUs and 18 vCPU per GPU; n1: 8 GPUs and 52 vCPU per GPU. GPU tasks bring 12 vCPU per GPU.
        // Plain packing (and FGD's one-task check: 20 vCPU left still fits one task) would pick n0; but 20 vCPU
        // cannot feed both of its GPUs, so a third of a GPU would be stranded there.
        var c = new ClusterState([Build.Node("n0", 2, cpuMilli: 36_000), Build.Node("n1", 8, cpuMilli: 416_000)]);
        var policy = new NeuroPolicy([Build.Task(cpu: 12_000)]);
        var p = policy.Place(c, Build.Task(cpu: 16_000, gpus: 0))!;
        Assert.Equal(1, p.NodeIndex);
    }

    [Fact]
    public void Keeps_an_empty_node_whole_for_large_shapes()
    {
        // One node already half used; a 1-GPU task should not break the empty 8-GPU node that 8-GPU tasks need.
        var c = new ClusterState([Build.Node("n0", 8), Build.Node("n1", 8)]);
        Build.Occupy(c, 1, [0, 1, 2, 3], 1000);
        var workload = new[] { Build.Task(gpus: 8), Build.Task(), Build.Task() };
        Assert.Equal(1, new NeuroPolicy(workload).Place(c, Build.Task())!.NodeIndex);
    }
}
