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
    public async Task Model_cache_loads_verified_weights_pins_and_refuses_eviction_while_pinned()
    {
        var silo = (await SiloNamesAsync())[1];
        var name = $"tiny-{Guid.NewGuid():N}"[..13];
        var dir = Directory.CreateTempSubdirectory("neuro-model-test-").FullName;
        var fp32 = Path.Combine(dir, "fp32.onnx");
        var int8 = Path.Combine(dir, "int8.onnx");
        Neuro.Inference.Onnx.DecoderModelGenerator.WriteFile(Neuro.Inference.Onnx.DecoderModelSpec.Tiny(), fp32);
        Neuro.Inference.Onnx.DecoderModelGenerator.WriteFile(Neuro.Inference.Onnx.DecoderModelSpec.Tiny().AsInt8(), int8);
        var variants = new[]
        {
            new ModelVariant("fp32", new Uri(fp32).AbsoluteUri, await Neuro.Inference.Models.ModelFileStore.Sha256FileAsync(fp32), new FileInfo(fp32).Length),
            new ModelVariant("int8", new Uri(int8).AbsoluteUri, await Neuro.Inference.Models.ModelFileStore.Sha256FileAsync(int8), new FileInfo(int8).Length),
        };
        var cache = fixture.Grains.GetGrain<IModelCacheGrain>(ResourceKey.For(silo, name));
        var spec = new ModelSpec(name, "", 0, "int8", "1", Variants: variants);

        await Assert.ThrowsAsync<NeuroRequestException>(() => cache.PinAsync(TimeSpan.FromMinutes(1))); // nothing loaded yet
        Assert.Equal("name", (await Assert.ThrowsAsync<NeuroRequestException>(() => cache.EnsureLoadedAsync(spec with { Name = "other" }))).Field);
        Assert.Equal("quantization", (await Assert.ThrowsAsync<NeuroRequestException>(() => cache.EnsureLoadedAsync(spec with { Quantization = "fp16" }))).Field);

        // The class asks for int8: the int8 file is fetched, verified and loaded on the owning silo.
        var loaded = await cache.EnsureLoadedAsync(spec);
        Assert.Equal(ModelCacheState.Loaded, loaded.State);
        Assert.Equal(silo, loaded.ActivationSilo);
        Assert.InRange(loaded.MemoryBytes, new FileInfo(int8).Length, 4 * new FileInfo(fp32).Length);
        await cache.PinAsync(TimeSpan.FromMinutes(5));
        await Assert.ThrowsAsync<NeuroRequestException>(() => cache.EvictAsync());

        TestClock.Fake.Advance(TimeSpan.FromMinutes(6));
        var evicted = await cache.EvictAsync();
        Assert.Equal(ModelCacheState.NotLoaded, evicted.State);
        Assert.Equal(0, evicted.MemoryBytes);
    }

    [Fact]
    public async Task Model_weights_that_do_not_match_their_sha256_are_refused_and_reported()
    {
        var silo = (await SiloNamesAsync())[0];
        var name = $"bad-{Guid.NewGuid():N}"[..12];
        var path = Path.Combine(Directory.CreateTempSubdirectory("neuro-model-test-").FullName, "m.onnx");
        Neuro.Inference.Onnx.DecoderModelGenerator.WriteFile(Neuro.Inference.Onnx.DecoderModelSpec.Tiny(), path);
        var cache = fixture.Grains.GetGrain<IModelCacheGrain>(ResourceKey.For(silo, name));
        var wrongSha = new string('0', 64);

        var e = await Assert.ThrowsAsync<NeuroRequestException>(() => cache.EnsureLoadedAsync(new ModelSpec(name, new Uri(path).AbsoluteUri, 0, "fp32", "1", wrongSha)));
        Assert.Equal("sha256", e.Field);
        var status = await cache.GetStatusAsync();
        Assert.Equal(ModelCacheState.Failed, status.State);
        Assert.Contains(wrongSha, status.Error);
        Assert.Equal(0, status.MemoryBytes);
        Assert.Equal("sha256", (await Assert.ThrowsAsync<NeuroRequestException>(() => cache.EnsureLoadedAsync(new ModelSpec(name, new Uri(path).AbsoluteUri, 0, "fp32", "1")))).Field);
    }
}
