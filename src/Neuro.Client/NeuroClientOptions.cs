using System.Net;

namespace Neuro.Client;

/// <summary>How a host app finds the cluster.</summary>
public enum NeuroClusterKind
{
    /// <summary>A dev cluster on this machine (the silo's default): gateway on 127.0.0.1.</summary>
    Localhost,

    /// <summary>Membership in Redis: the client learns every live gateway from the table the silos keep.</summary>
    Redis,

    /// <summary>Inside Kubernetes: Redis membership, with the cluster and service ids the silo pods carry as labels
    /// (read from ORLEANS_CLUSTER_ID / ORLEANS_SERVICE_ID when set).</summary>
    Kubernetes,

    /// <summary>A fixed list of gateway endpoints.</summary>
    StaticGateways,
}

/// <summary>Bound from configuration section <c>Neuro:Client</c> or set in code with <c>AddNeuroClient(o =&gt; ...)</c>.</summary>
public sealed class NeuroClientOptions
{
    public const string Section = "Neuro:Client";

    public NeuroClusterKind Cluster { get; set; } = NeuroClusterKind.Localhost;

    public string ClusterId { get; set; } = "neuro-dev";

    public string ServiceId { get; set; } = "neuro";

    /// <summary>Gateway port of the local dev silo (Localhost).</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>StackExchange.Redis configuration string (Redis, Kubernetes).</summary>
    public string? Redis { get; set; }

    /// <summary>"host:port" entries (StaticGateways).</summary>
    public List<string> Gateways { get; set; } = [];

    /// <summary>Deadline for each call made through <see cref="INeuroClient"/>.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    internal static IPEndPoint ParseGateway(string entry)
    {
        if (IPEndPoint.TryParse(entry, out var ep) && ep.Port != 0)
        {
            return ep;
        }
        var colon = entry.LastIndexOf(':');
        if (colon > 0 && int.TryParse(entry[(colon + 1)..], out var port))
        {
            var address = Dns.GetHostAddresses(entry[..colon]).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
            return new IPEndPoint(address, port);
        }
        throw new ArgumentException($"gateway '{entry}' must look like host:port", nameof(Gateways));
    }
}
