namespace Neuro.Silo;

/// <summary>The host's own settings, bound from section <c>Neuro</c> (appsettings.json, <c>Neuro__...</c> env vars,
/// <c>--Neuro:...</c> command-line switches). The defaults give a single-node dev cluster on this machine.</summary>
public sealed class NeuroSiloOptions
{
    public const string Section = "Neuro";

    /// <summary><c>dev</c>: localhost clustering, in-memory storage and reminders. <c>redis</c>: Redis membership,
    /// grain storage and reminders (needs <see cref="Redis"/>).</summary>
    public string Cluster { get; set; } = "dev";

    /// <summary><c>silo</c>: a silo that also serves the front door. <c>frontdoor</c>: the front door alone, as an Orleans
    /// client of the cluster.</summary>
    public string Role { get; set; } = "silo";

    public string? Redis { get; set; }

    public string ClusterId { get; set; } = "neuro-dev";

    public string ServiceId { get; set; } = "neuro";

    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    /// <summary>Address other silos and clients use to reach this one (redis cluster). Defaults to loopback; in a pod, POD_IP.</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>Silo name; in a pod, POD_NAME. Resource grains (model cache, GPU device) are keyed by it.</summary>
    public string? SiloName { get; set; }

    /// <summary>Serves the Orleans Dashboard at /dashboard. On by default in the dev cluster.</summary>
    public bool? Dashboard { get; set; }

    /// <summary>Turns on Orleans Kubernetes hosting. Defaults to on when POD_NAME is set.</summary>
    public bool? Kubernetes { get; set; }

    /// <summary>Exports Orleans' own meters (per-message counters and histograms) at /api/v1/metrics, besides ours.</summary>
    public bool ExportOrleansMeters { get; set; } = true;

    /// <summary>Membership timings tuned for fast failover (1 s probes, 2 missed = dead). For tests and small clusters.</summary>
    public bool FastFailover { get; set; }

    public bool IsRedis => string.Equals(Cluster, "redis", StringComparison.OrdinalIgnoreCase);

    public bool IsFrontDoorOnly => string.Equals(Role, "frontdoor", StringComparison.OrdinalIgnoreCase);

    public void Validate()
    {
        if (Cluster is not ("dev" or "redis"))
        {
            throw new InvalidOperationException($"Neuro:Cluster must be 'dev' or 'redis' (got '{Cluster}')");
        }
        if (Role is not ("silo" or "frontdoor"))
        {
            throw new InvalidOperationException($"Neuro:Role must be 'silo' or 'frontdoor' (got '{Role}')");
        }
        if (IsRedis && string.IsNullOrWhiteSpace(Redis))
        {
            throw new InvalidOperationException("Neuro:Redis (a StackExchange.Redis connection string) is required when Neuro:Cluster=redis");
        }
    }
}
