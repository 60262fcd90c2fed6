using Neuro.Abstractions;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Testing;
using Orleans.Runtime;

namespace Neuro.Cluster.Tests;

[Collection(MemoryClusterCollection.Name)]
public sealed class ResourceGrainTests(MemoryClusterFixture fixture)
{
    private async Task<string[]> SiloNamesAsync()
    {
        var hosts = await fixture.Grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true);
        return hosts.Select(h => h.SiloName).Order().ToArray();
    }

    [Fact]
    public async Task Resource_grains_activate_on_the_silo_named_in_their_key()
    {
        var names = await SiloNamesAsync();
        Assert.Equal(2, names.Length);
        foreach (var name in names)
        {
            for (var i = 0; i < 4; i++)
            {
                var gpu = await fixture.Grains.GetGrain<IGpuDeviceGrain>(ResourceKey.For(name, $"gpu{i}-{Guid.NewGuid():N}"))
                    .RegisterAsync(new GpuDeviceInfo(i, "A100-80GB", 81920));
                Assert.Equal(name, gpu.ActivationSilo);
                var model = await fixture.Grains.GetGrain<IModelCacheGrain>(ResourceKey.For(name, $"m{i}-{Guid.NewGuid():N}")).GetStatusAsync();
                Assert.Equal(name, model.ActivationSilo);
            }
        }
    }

    [Fact]
    public async Task Resource_grain_for_an_absent_silo_is_refused()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            fixture.Grains.GetGrain<IGpuDeviceGrain>(ResourceKey.For("no-such-silo", "gpu0")).GetStatusAsync());
        Assert.Contains("no-such-silo", error.ToString());
    }

    [Fact]
    public async Task Gpu_allocations_are_all_or_nothing()
    {
        var silo = (await SiloNamesAsync())[0];
        var gpu = fixture.Grains.GetGrain<IGpuDeviceGrain>(ResourceKey.For(silo, $"gpu-{Guid.NewGuid():N}"));
        await gpu.RegisterAsync(new GpuDeviceInfo(0, "A100-40GB", 40960, MigCapable: true, MigSlices: ["3g.20gb-0", "3g.20gb-1"]));

        Assert.True((await gpu.AllocateAsync(new GpuAllocation("a", "pool-x", 500, 20000, MigSlice: "3g.20gb-0"))).Granted);
        var tooMuchMemory = await gpu.AllocateAsync(new GpuAllocation("b", "pool-x", 400, 30000));
        var sliceTaken = await gpu.AllocateAsync(new GpuAllocation("c", "pool-x", 100, 1000, MigSlice: "3g.20gb-0"));
        var tooMuchShare = await gpu.AllocateAsync(new GpuAllocation("d", "pool-x", 600, 1000));

        Assert.False(tooMuchMemory.Granted);
        Assert.Contains("MiB", tooMuchMemory.Reason);
        Assert.False(sliceTaken.Granted);
        Assert.False(tooMuchShare.Granted);
        var status = (await gpu.GetStatusAsync())!;
        Assert.Equal(["a"], status.Allocations.Select(a => a.AllocationId));
        Assert.Equal(500, status.FreeMilliGpu);
        Assert.Equal(40960 - 20000, status.FreeMemoryMiB);

        Assert.True(await gpu.ReleaseAsync("a"));
        Assert.False(await gpu.ReleaseAsync("a"));
        Assert.Equal(1000, (await gpu.GetStatusAsync())!.FreeMilliGpu);
    }

    [Fact]
    public async Task Malformed_allocation_is_refused_with_the_field()
    {
        var silo = (await SiloNamesAsync())[0];
        var gpu = fixture.Grains.GetGrain<IGpuDeviceGrain>(ResourceKey.For(silo, $"gpu-{Guid.NewGuid():N}"));
        await gpu.RegisterAsync(new GpuDeviceInfo(0, "T4", 16384));
        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => gpu.AllocateAsync(new GpuAllocation("x", "o", 1500, 10)));
        Assert.Equal("milli_gpu", error.Field);
        Assert.Empty((await gpu.GetStatusAsync())!.Allocations);
    }

    [Fact]
    public async Task Model_cache_pins_and_refuses_eviction_while_pinned()
    {
        var silo = (await SiloNamesAsync())[1];
        var cache = fixture.Grains.GetGrain<IModelCacheGrain>(ResourceKey.For(silo, "llama-tiny"));
        var spec = new ModelSpec("llama-tiny", "file:///models/llama-tiny.onnx", 1_000_000, "int8", "1");

        await Assert.ThrowsAsync<NeuroRequestException>(() => cache.PinAsync(TimeSpan.FromMinutes(1))); // nothing loaded yet
        var wrong = await Assert.ThrowsAsync<NeuroRequestException>(() => cache.EnsureLoadedAsync(spec with { Name = "other" }));
        Assert.Equal("name", wrong.Field);

        var loaded = await cache.EnsureLoadedAsync(spec);
        Assert.Equal(ModelCacheState.Loaded, loaded.State);
        Assert.Equal(1_000_000, loaded.MemoryBytes);
        await cache.PinAsync(TimeSpan.FromMinutes(5));
        await Assert.ThrowsAsync<NeuroRequestException>(() => cache.EvictAsync());

        TestClock.Fake.Advance(TimeSpan.FromMinutes(6));
        var evicted = await cache.EvictAsync();
        Assert.Equal(ModelCacheState.NotLoaded, evicted.State);
        Assert.Equal(0, evicted.MemoryBytes);
    }
}
