using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Neuro.Core.Sessions;
using Neuro.Grains;
using Neuro.Silo;
using Orleans.TestingHost;

namespace Neuro.Cluster.Tests.Infrastructure;

/// <summary>Session time for every in-process test silo. Only Neuro's clock is fake; Orleans keeps real time.</summary>
public static class TestClock
{
    public static readonly FakeTimeProvider Fake = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
}

public static class Clusters
{
    public const string RedisKey = "NeuroTest:Redis";

    /// <summary>Real Orleans silos in this process, TestingHost membership, in-memory storage: the dev cluster's storage setup.</summary>
    public static async Task<TestCluster> StartMemoryAsync(int silos)
    {
        var builder = new TestClusterBuilder((short)silos);
        builder.AddSiloBuilderConfigurator<MemorySilo>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>Real silos with Redis membership, Redis grain storage and Redis reminders — the production setup.</summary>
    public static async Task<TestCluster> StartRedisAsync(string redis, int silos)
    {
        var builder = new TestClusterBuilder((short)silos);
        builder.Options.UseTestClusterMembership = false;
        builder.Properties[RedisKey] = redis;
        builder.AddSiloBuilderConfigurator<RedisSilo>();
        builder.AddClientBuilderConfigurator<RedisClient>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    private sealed class MemorySilo : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.AddNeuroStorage(new NeuroSiloOptions());
            silo.AddNeuroGrains();
            silo.Services.AddSingleton(new NeuroClock(TestClock.Fake));
            silo.Services.AddSingleton<ISessionStore>(new FaultInjectingSessionStore(new InMemorySessionStore()));
        }
    }

    private sealed class RedisSilo : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.AddNeuroStorage(new NeuroSiloOptions { Cluster = "redis", Redis = silo.Configuration[RedisKey] });
            silo.UseFastFailover();
            silo.AddNeuroGrains();
            // Each silo its own model cache directory, as on separate nodes: a silo fetches and verifies its own copy.
            silo.Services.AddOptions<Neuro.Grains.Inference.InferenceSettings>().Configure<Orleans.Runtime.ILocalSiloDetails>((o, local) =>
                o.CacheDirectory = Path.Combine(Path.GetTempPath(), "neuro-test-models", local.ClusterId, local.Name));
            silo.Services.AddSingleton(new NeuroClock(TestClock.Fake));
        }
    }

    private sealed class RedisClient : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder client) =>
            client.UseRedisClustering(o => o.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(configuration[RedisKey]!));
    }
}

/// <summary>A two-silo in-memory cluster shared by the grain contract tests.</summary>
public sealed class MemoryClusterFixture : IAsyncLifetime
{
    public TestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.GrainFactory;

    public async Task InitializeAsync() => Cluster = await Clusters.StartMemoryAsync(2);

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class MemoryClusterCollection : ICollectionFixture<MemoryClusterFixture>
{
    public const string Name = "memory-cluster";
}

/// <summary>Fault injection for the storage layer (a test double of infrastructure, not of our code): wraps the real
/// in-memory store and refuses writes while <see cref="FailWrites"/> is set, as a Redis outage would.</summary>
public sealed class FaultInjectingSessionStore(ISessionStore inner) : ISessionStore
{
    public static volatile bool FailWrites;

    public Task<StoredSession?> LoadAsync(string sessionId, CancellationToken cancellationToken = default) => inner.LoadAsync(sessionId, cancellationToken);

    public Task SaveMetaAsync(string sessionId, SessionMeta meta, CancellationToken cancellationToken = default) =>
        FailWrites ? throw new IOException("injected storage failure") : inner.SaveMetaAsync(sessionId, meta, cancellationToken);

    public Task AppendAsync(string sessionId, TurnRecord turn, TimeSpan idleTtl, CancellationToken cancellationToken = default) =>
        FailWrites ? throw new IOException("injected storage failure") : inner.AppendAsync(sessionId, turn, idleTtl, cancellationToken);

    public Task DeleteAsync(string sessionId, CancellationToken cancellationToken = default) => inner.DeleteAsync(sessionId, cancellationToken);
}
