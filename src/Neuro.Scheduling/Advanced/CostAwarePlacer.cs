namespace Neuro.Scheduling;

/// <summary>Cost/SLA settings.</summary>
public sealed record CostOptions
{
    /// <summary>SLO guard: at least this share of a model's GPUs must stay on on-demand capacity (spot can vanish at once).</summary>
    public double MinOnDemandFraction { get; init; } = 0.5;
}

/// <summary>
/// Cheapest placement that keeps the SLO guard: candidates are nodes that fit, spot ones only if the request allows
/// spot and the model's on-demand share stays at or above the guard afterwards, and only within the request's budget.
/// When the preferred request cannot be placed that way, its fallback (a smaller model) is tried and the result
/// says it degraded and why.
/// </summary>
public sealed class CostAwarePlacer(ClusterState cluster, CostOptions? options = null)
{
    private readonly CostOptions _options = options ?? new CostOptions();

    public PlacementResult Place(PlacementRequest r)
    {
        if (r.Validate() is { } invalid) return PlacementResult.Fail(invalid);
        var why = TryPlace(r, out var result);
        if (result is not null) return result;
        if (r.Fallback is null) return PlacementResult.Fail(why);
        var fallbackWhy = TryPlace(r.Fallback, out var degraded);
        return degraded is not null
            ? degraded with { Degraded = true, Reason = $"degraded to {r.Fallback.Model ?? r.Fallback.Id}: {r.Model ?? r.Id} {why}" }
            : PlacementResult.Fail($"{r.Model ?? r.Id}: {why}; fallback {r.Fallback.Model ?? r.Fallback.Id}: {fallbackWhy}");
    }

    /// <summary>Hourly price of <paramref name="r"/> on <paramref name="node"/>: its GPU share times the node's GPU price.</summary>
    public static double Price(Node node, PlacementRequest r) => node.HourlyPricePerGpu * r.TotalGpuMilli / Gpu.Milli;

    private string TryPlace(PlacementRequest r, out PlacementResult? result)
    {
        result = null;
        var fitting = cluster.Nodes.Where(n => ClusterState.Fits(n, r)).ToList();
        if (fitting.Count == 0) return "does not fit on any node";
        var allowed = fitting.Where(n => n.Kind == CapacityKind.OnDemand || (r.AllowSpot && SpotKeepsGuard(r, n))).ToList();
        if (allowed.Count == 0)
            return r.AllowSpot
                ? $"fits only on spot capacity, which would drop {r.Model ?? r.Id} below {_options.MinOnDemandFraction:P0} on-demand"
                : "fits only on spot capacity and the request does not allow spot";
        var affordable = allowed.Where(n => r.MaxHourlyPrice is not { } max || Price(n, r) <= max + 1e-9).ToList();
        if (affordable.Count == 0)
            return $"cheapest allowed placement costs {allowed.Min(n => Price(n, r)):F2}/h, over the budget of {r.MaxHourlyPrice:F2}/h";

        // Cheapest first; among equal prices, the node left with the least free GPU (keeps other nodes whole).
        var node = affordable.OrderBy(n => Price(n, r)).ThenBy(n => n.FreeGpuMilliTotal).ThenBy(n => n.Index).First();
        var placement = NumaPlacer.PinIfPossible(node, r, Policies.GpuPick.Build(node, r));
        var a = cluster.Commit(r, placement);
        result = Scheduler.Committed(a) with { HourlyCost = Price(node, r) };
        return "";
    }

    /// <summary>Whether putting <paramref name="r"/> on spot node <paramref name="n"/> keeps the model's on-demand GPU share at the guard.</summary>
    private bool SpotKeepsGuard(PlacementRequest r, Node n)
    {
        var model = r.Model ?? r.Id;
        double onDemand = 0, total = 0;
        foreach (var a in cluster.Allocations)
        {
            if ((a.Request.Model ?? a.Request.Id) != model) continue;
            var g = a.Request.TotalGpuMilli;
            total += g;
            if (cluster.Nodes[a.Placement.NodeIndex].Kind == CapacityKind.OnDemand) onDemand += g;
        }
        total += r.TotalGpuMilli;
        return total > 0 && onDemand / total >= _options.MinOnDemandFraction - 1e-9;
    }
}
