using Grpc.Core;
using Microsoft.Extensions.Options;
using Neuro.FrontDoor.V1;
using Orleans.Configuration;

namespace Neuro.FrontDoor;

internal sealed class HealthService(IGrainFactory grains, IOptions<ClusterOptions> cluster) : Health.HealthBase
{
    private static readonly string Version = typeof(HealthService).Assembly.GetName().Version?.ToString() ?? "0.0.0";

    public override async Task<HealthReply> Check(HealthRequest request, ServerCallContext context)
    {
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        return new HealthReply
        {
            Status = hosts.Count > 0 ? "ok" : "degraded",
            ClusterId = cluster.Value.ClusterId,
            ServiceId = cluster.Value.ServiceId,
            ActiveSilos = hosts.Count,
            Version = Version,
        };
    }
}
