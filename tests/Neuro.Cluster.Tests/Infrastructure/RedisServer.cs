using Neuro.Testing;

namespace Neuro.Cluster.Tests.Infrastructure;

/// <summary>One real redis-server for the test collection. Fails loudly when redis-server is missing: these tests never pass by skipping.</summary>
public sealed class RedisServer : IAsyncLifetime
{
    private RedisProcess? _redis;

    public string ConnectionString => _redis!.ConnectionString;

    public Task<List<string>> KeysContainingAsync(string fragment) => _redis!.KeysContainingAsync(fragment);

    public async Task InitializeAsync() => _redis = await RedisProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServer>
{
    public const string Name = "redis";
}
