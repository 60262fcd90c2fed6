using Neuro.Abstractions;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Inference.Models;
using Neuro.Inference.Onnx;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using Orleans.TestingHost;

namespace Neuro.Cluster.Tests;

/// <summary>A model loaded through one silo's model cache is served cluster-wide: two real silos with Redis membership
/// and Redis grain storage, each with its own node-local model directory, real ONNX Runtime sessions on generated
/// weights. The other silo resolves the registered spec, fetches and verifies its own copy, and streams tokens.</summary>
[Collection(RedisCollection.Name)]
public sealed class ModelServingTests(RedisServer redis)
{
    private static async Task<ModelSpec> WriteModelAsync(string name, int seed)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("neuro-served-model-").FullName, "model.onnx");
        DecoderModelGenerator.WriteFile(DecoderModelSpec.Tiny(seed) with { EosTokenId = -1 }, path); // no end token: every turn streams its full length
        return new ModelSpec(name, new Uri(path).AbsoluteUri, new FileInfo(path).Length, "fp32", "1", await ModelFileStore.Sha256FileAsync(path));
    }

    /// <summary>Opens a session with the model on the given silo: the placement hint asks for it, the snapshot proves it.</summary>
    private static async Task<ISessionGrain> SessionOnAsync(TestCluster cluster, SiloHandle silo, string model)
    {
        var session = cluster.Client.GetGrain<ISessionGrain>($"served-{Guid.NewGuid():N}");
        RequestContext.Set(IPlacementDirector.PlacementHintKey, silo.SiloAddress);
        try
        {
            var opened = await session.OpenAsync(new SessionOpenRequest(Model: model));
            Assert.Equal(silo.Name, opened.Silo);
        }
        finally
        {
            RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        }
        return session;
    }

    private static async Task<List<GeneratedChunk>> GenerateAsync(ISessionGrain session, string prompt)
    {
        var chunks = new List<GeneratedChunk>();
        await foreach (var chunk in session.GenerateAsync(new GenerateRequest(prompt, MaxTokens: 12)).WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))
        {
            chunks.Add(chunk);
        }
        return chunks;
    }

    private static IModelCacheGrain Cache(TestCluster cluster, SiloHandle silo, string model) =>
        cluster.Client.GetGrain<IModelCacheGrain>(ResourceKey.For(silo.Name, model));

    [Fact]
    public async Task A_model_registered_on_one_silo_streams_from_a_session_on_the_other()
    {
        var cluster = await Clusters.StartRedisAsync(redis.ConnectionString, silos: 2);
        try
        {
            var (owner, other) = (cluster.Silos[0], cluster.Silos[1]);
            var name = $"served-{Guid.NewGuid():N}"[..15];
            var spec = await WriteModelAsync(name, seed: 7);

            var loaded = await Cache(cluster, owner, name).EnsureLoadedAsync(spec);
            Assert.Equal(ModelCacheState.Loaded, loaded.State);
            var registered = await cluster.Client.GetGrain<IModelRegistryGrain>(name).GetAsync();
            Assert.Equal([owner.Name], registered!.Silos);
            Assert.Equal(spec.Sha256, registered.Spec.Sha256);
            Assert.Contains(await redis.KeysContainingAsync(name), k => k.Contains("model-registry", StringComparison.Ordinal)); // persisted
            Assert.Equal(ModelCacheState.NotLoaded, (await Cache(cluster, other, name).GetStatusAsync()).State);

            var onOther = await SessionOnAsync(cluster, other, name);
            var onOwner = await SessionOnAsync(cluster, owner, name);
            var remote = await GenerateAsync(onOther, "hello from the other silo");
            var local = await GenerateAsync(onOwner, "hello from the other silo");

            Assert.True(remote.Count > 1, $"{remote.Count} chunks");
            Assert.NotNull(remote[^1].FinishReason);
            // Greedy decoding of the same prompt: the same weights give the same tokens on both silos.
            Assert.Equal(local.Select(c => c.TokenId), remote.Select(c => c.TokenId));

            // The other silo holds its own verified copy, in its own node-local directory, seen by its own cache grain.
            var otherStatus = await Cache(cluster, other, name).GetStatusAsync();
            Assert.Equal(ModelCacheState.Loaded, otherStatus.State);
            Assert.Equal(other.Name, otherStatus.ActivationSilo);
            Assert.True(otherStatus.MemoryBytes > 0);
            var otherDirectory = Path.Combine(Path.GetTempPath(), "neuro-test-models", cluster.Options.ClusterId, other.Name, name);
            Assert.Single(Directory.GetFiles(otherDirectory, "*.onnx", SearchOption.AllDirectories));
            Assert.Equal([owner.Name, other.Name], (await cluster.Client.GetGrain<IModelRegistryGrain>(name).GetAsync())!.Silos);

            // Eviction frees one silo's copy; the name stays registered and the next turn there loads it again.
            await Cache(cluster, other, name).EvictAsync();
            Assert.Equal(ModelCacheState.NotLoaded, (await Cache(cluster, other, name).GetStatusAsync()).State);
            Assert.Equal(remote.Select(c => c.TokenId).Count(), (await GenerateAsync(await SessionOnAsync(cluster, other, name), "again")).Count);
            Assert.Equal(ModelCacheState.Loaded, (await Cache(cluster, other, name).GetStatusAsync()).State);

            // A different file under the registered name is refused before anything loads.
            var impostor = await WriteModelAsync(name, seed: 8);
            var conflict = await Assert.ThrowsAsync<NeuroRequestException>(() => Cache(cluster, other, name).EnsureLoadedAsync(impostor));
            Assert.Equal((NeuroErrorKind.Conflict, "sha256"), (conflict.Kind, conflict.Field));

            // Unregistering removes the name everywhere: both copies are dropped, and a session naming it gets a 404 on "model".
            await Cache(cluster, owner, name).PinAsync(TimeSpan.FromMinutes(5));
            var pinned = await Assert.ThrowsAsync<NeuroRequestException>(() => cluster.Client.GetGrain<IModelRegistryGrain>(name).UnregisterAsync());
            Assert.Equal(NeuroErrorKind.Conflict, pinned.Kind);
            Assert.Contains(owner.Name, pinned.Message);
            Assert.NotNull(await cluster.Client.GetGrain<IModelRegistryGrain>(name).GetAsync()); // refused as a whole
            TestClock.Fake.Advance(TimeSpan.FromMinutes(6));
            Assert.NotNull(await cluster.Client.GetGrain<IModelRegistryGrain>(name).UnregisterAsync());
            Assert.Null(await cluster.Client.GetGrain<IModelRegistryGrain>(name).GetAsync());
            foreach (var silo in cluster.Silos)
            {
                await WaitForAsync(async () => (await Cache(cluster, silo, name).GetStatusAsync()).State == ModelCacheState.NotLoaded, $"{silo.Name} dropped its copy");
            }
            var gone = await Assert.ThrowsAsync<NeuroRequestException>(async () => await GenerateAsync(await SessionOnAsync(cluster, other, name), "still there?"));
            Assert.Equal((NeuroErrorKind.NotFound, "model"), (gone.Kind, gone.Field));
        }
        finally
        {
            await DisposeAsync(cluster);
        }
    }

    [Fact]
    public async Task Weights_that_fail_verification_on_the_other_silo_are_refused_there_and_reported()
    {
        var cluster = await Clusters.StartRedisAsync(redis.ConnectionString, silos: 2);
        try
        {
            var (owner, other) = (cluster.Silos[0], cluster.Silos[1]);
            var name = $"tampered-{Guid.NewGuid():N}"[..17];
            var spec = await WriteModelAsync(name, seed: 11);
            await Cache(cluster, owner, name).EnsureLoadedAsync(spec);

            // The source changes after registration (a tampered mirror, a re-upload under the same URI): the other silo
            // fetches these bytes into its own directory, and their sha256 is not the registered one.
            DecoderModelGenerator.WriteFile(DecoderModelSpec.Tiny(12) with { EosTokenId = -1 }, new Uri(spec.WeightsUri).LocalPath);

            var onOther = await SessionOnAsync(cluster, other, name);
            var refused = await Assert.ThrowsAsync<NeuroRequestException>(async () => await GenerateAsync(onOther, "hello"));
            Assert.Equal((NeuroErrorKind.Unavailable, "model"), (refused.Kind, refused.Field));
            Assert.Contains("sha256 mismatch", refused.Message);
            Assert.Contains(other.Name, refused.Message);

            var status = await Cache(cluster, other, name).GetStatusAsync();
            Assert.Equal(ModelCacheState.Failed, status.State);
            Assert.Contains(spec.Sha256!, status.Error);
            Assert.Equal(0, status.MemoryBytes);
            Assert.Empty(Directory.Exists(Path.Combine(Path.GetTempPath(), "neuro-test-models", cluster.Options.ClusterId, other.Name, name))
                ? Directory.GetFiles(Path.Combine(Path.GetTempPath(), "neuro-test-models", cluster.Options.ClusterId, other.Name, name), "*.onnx", SearchOption.AllDirectories)
                : []);
            // Nothing is served from the refused bytes: the registration still names only the silo that verified them,
            // and that silo keeps serving its verified copy.
            Assert.Equal([owner.Name], (await cluster.Client.GetGrain<IModelRegistryGrain>(name).GetAsync())!.Silos);
            Assert.NotEmpty(await GenerateAsync(await SessionOnAsync(cluster, owner, name), "hello"));

            var unknown = await Assert.ThrowsAsync<NeuroRequestException>(async () => await GenerateAsync(await SessionOnAsync(cluster, other, "no-such-model"), "hello"));
            Assert.Equal((NeuroErrorKind.NotFound, "model"), (unknown.Kind, unknown.Field));
        }
        finally
        {
            await DisposeAsync(cluster);
        }
    }

    /// <summary>Stops the silos, then removes their node-local model directories (the test's own temp files).</summary>
    private static async Task DisposeAsync(TestCluster cluster)
    {
        await cluster.DisposeAsync();
        var models = Path.Combine(Path.GetTempPath(), "neuro-test-models", cluster.Options.ClusterId);
        if (Directory.Exists(models))
        {
            Directory.Delete(models, recursive: true);
        }
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(20); await Task.Delay(100))
        {
            if (await condition())
            {
                return;
            }
        }
        Assert.Fail($"timed out waiting until {what}");
    }
}
