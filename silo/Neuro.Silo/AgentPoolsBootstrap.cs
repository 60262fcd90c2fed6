using Neuro.Abstractions;

namespace Neuro.Silo;

/// <summary>Settings bound from <c>Neuro:Agents</c>.</summary>
public sealed class AgentOptions
{
    public const string Section = "Neuro:Agents";

    /// <summary>Agent slots of the "default" pool this silo makes sure exists (each slot runs one task, in its own Chromium).</summary>
    public int DefaultPoolWorkers { get; set; } = 2;

    public string Chromium { get; set; } = "/usr/bin/chromium";
}

/// <summary>Makes sure the "default" agent pool exists, with agent workers that run tasks in local headless Chromium.
/// Until the autoscaler manages replicas, its worker count comes from configuration.</summary>
internal sealed class AgentPoolsBootstrap(IGrainFactory grains, Microsoft.Extensions.Options.IOptions<AgentOptions> options, ILogger<AgentPoolsBootstrap> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var pool = grains.GetGrain<IAgentPoolGrain>("default");
        var workers = Math.Max(0, options.Value.DefaultPoolWorkers);
        if (await pool.GetStatusAsync() is null)
        {
            await pool.ConfigureAsync(new AgentPoolSpec("chromium-local", MinReplicas: 0, MaxReplicas: Math.Max(1, workers), PrewarmPercent: 0,
                TokensPerSecondBudget: 0, MaxConcurrencyPerReplica: 1, PushToWorkers: true));
            await pool.SetReplicasAsync(workers, 0);
            log.LogInformation("Agent pool 'default' created with {Workers} workers", workers);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
