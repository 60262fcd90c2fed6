using Neuro.Core.Devices;
using Neuro.Core.Pools;

namespace Neuro.Core.Tests;

public sealed class PoolRulesTests
{
    [Theory]
    [InlineData(0, 1, 8, 0, 1)]   // min wins when nothing is ready
    [InlineData(4, 1, 8, 25, 5)]  // 4 + ceil(1.0)
    [InlineData(3, 1, 8, 10, 4)]  // any prewarm keeps one spare
    [InlineData(8, 1, 8, 50, 8)]  // never past max
    [InlineData(5, 0, 10, 0, 5)]
    public void Warm_target(int ready, int min, int max, int prewarm, int expected) =>
        Assert.Equal(expected, PoolRules.WarmTarget(ready, min, max, prewarm));

    [Fact]
    public void Insertion_keeps_fifo_within_priority()
    {
        var queue = new List<(string Id, int Priority)>();
        foreach (var item in new[] { ("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", 9), ("f", 0) })
        {
            queue.Insert(PoolRules.InsertionIndex(queue, item.Item2, q => q.Priority), item);
        }
        Assert.Equal(["e", "b", "d", "a", "c", "f"], queue.Select(q => q.Id));
    }

    [Theory]
    [InlineData("x", 0, 0, 0, 0, 1, "max_replicas")]
    [InlineData("x", 0, 1, 0, -1, 1, "tokens_per_second_budget")]
    [InlineData("x", 0, 1, 0, 0, 0, "max_concurrency_per_replica")]
    [InlineData("x", 0, 1, 0, 0, 1, null)]
    public void Spec_validation(string cls, int min, int max, int prewarm, int budget, int conc, string? field) =>
        Assert.Equal(field, PoolRules.ValidateSpec(cls, min, max, prewarm, budget, conc)?.Field);

    [Fact]
    public void Free_slots_never_negative() => Assert.Equal(0, PoolRules.FreeSlots(1, 2, 5));
}

public sealed class DeviceRulesTests
{
    private static readonly string[] Slices = ["1g.5gb-0", "1g.5gb-1"];

    [Fact]
    public void Fractional_shares_pack_to_exactly_one_gpu()
    {
        var existing = new List<(int, long, string?)> { (300, 1000, null), (200, 1000, null) };
        Assert.Null(GpuCapacity.CheckFits(500, 1000, null, 16000, Slices, existing));
        Assert.True(GpuCapacity.CheckFits(501, 1000, null, 16000, Slices, existing)!.Conflict);
    }

    [Fact]
    public void Memory_and_slices_are_checked()
    {
        var existing = new List<(int, long, string?)> { (100, 15000, "1g.5gb-0") };
        Assert.Equal("memory_mib", GpuCapacity.CheckFits(100, 1001, null, 16000, Slices, existing)?.Field);
        Assert.Equal("mig_slice", GpuCapacity.CheckFits(100, 10, "1g.5gb-0", 16000, Slices, existing)?.Field);
        Assert.Equal("mig_slice", GpuCapacity.CheckFits(100, 10, "7g.40gb-0", 16000, Slices, existing)?.Field);
        Assert.Null(GpuCapacity.CheckFits(100, 10, "1g.5gb-1", 16000, Slices, existing));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public void Share_out_of_range_is_invalid_not_conflict(int milli)
    {
        var error = GpuCapacity.CheckFits(milli, 0, null, 1000, Slices, []);
        Assert.Equal("milli_gpu", error?.Field);
        Assert.False(error!.Conflict);
    }

    [Fact]
    public void Eviction_order_skips_pinned_and_is_lru()
    {
        var now = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var entries = new[]
        {
            (Name: "pinned", Pin: (DateTimeOffset?)now.AddMinutes(5), Used: (DateTimeOffset?)now.AddHours(-5)),
            (Name: "old", Pin: (DateTimeOffset?)now.AddMinutes(-1), Used: (DateTimeOffset?)now.AddHours(-2)),
            (Name: "new", Pin: (DateTimeOffset?)null, Used: (DateTimeOffset?)now.AddMinutes(-1)),
            (Name: "never", Pin: (DateTimeOffset?)null, Used: (DateTimeOffset?)null),
        };
        Assert.Equal(["never", "old", "new"], ModelPinning.EvictionOrder(entries, e => e.Pin, e => e.Used, now).Select(e => e.Name));
    }
}
