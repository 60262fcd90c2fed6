using System.Text.Json;
using Neuro.Abstractions;

namespace Neuro.Silo.Gpu;

/// <summary>Settings bound from <c>Neuro:Gpu</c>.</summary>
public sealed class GpuInventoryOptions
{
    public const string Section = "Neuro:Gpu";

    /// <summary>Inventory file (JSON, relative to the silo's folder) used when NVML finds no GPU. The dev cluster ships
    /// <c>gpu-inventory.dev.json</c>, a small mixed cluster of simulated nodes hosted by the one dev silo.</summary>
    public string? Inventory { get; set; }

    /// <summary>Ask NVML first. Off only to force the file on a GPU machine.</summary>
    public bool UseNvml { get; set; } = true;
}

/// <summary>What GPUs this silo brings to the cluster, and their registration with the device grains and the scheduler.</summary>
public static class GpuInventory
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { ReadCommentHandling = JsonCommentHandling.Skip };

    public sealed record FileNode(string Name, long CpuMilli, long MemoryMiB, List<GpuDeviceInfo> Gpus, int NumaNodes = 1, bool Spot = false, double HourlyPricePerGpu = 0);

    public sealed record File(List<FileNode> Nodes);

    public static IReadOnlyList<GpuNodeSpec> FromFile(string path, string siloName)
    {
        var file = JsonSerializer.Deserialize<File>(System.IO.File.ReadAllText(path), Json)
            ?? throw new InvalidDataException($"{path}: empty inventory");
        return file.Nodes.Select(n => new GpuNodeSpec(
            n.Name, siloName, n.CpuMilli, n.MemoryMiB, n.Gpus.Select((g, i) => g with { Index = i }).ToArray(), n.NumaNodes, n.Spot, n.HourlyPricePerGpu)).ToArray();
    }

    /// <summary>This machine as one node, from NVML.</summary>
    public static GpuNodeSpec FromNvml(IReadOnlyList<GpuDeviceInfo> gpus, string siloName) =>
        new(siloName, siloName, Environment.ProcessorCount * 1000L, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024), gpus);

    /// <summary>Registers every device with its grain (on this silo) and every node with the scheduler.</summary>
    public static async Task RegisterAsync(IGrainFactory grains, IEnumerable<GpuNodeSpec> nodes, string scheduler = "default")
    {
        var placer = grains.GetGrain<IGpuSchedulerGrain>(scheduler);
        foreach (var node in nodes)
        {
            for (var i = 0; i < node.Gpus.Count; i++)
            {
                await grains.GetGrain<IGpuDeviceGrain>(node.DeviceKey(i)).RegisterAsync(node.Gpus[i]);
            }
            await placer.RegisterNodeAsync(node);
        }
    }
}

/// <summary>Registers this silo's GPUs once the silo is up: NVML when the driver is there, else the inventory file.</summary>
internal sealed class GpuInventoryService(
    IGrainFactory grains, ILocalSiloDetails silo, Microsoft.Extensions.Options.IOptions<GpuInventoryOptions> options, ILogger<GpuInventoryService> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        IReadOnlyList<GpuNodeSpec> nodes = [];
        string source;
        if (o.UseNvml && Nvml.TryRead(out var why) is { Count: > 0 } gpus)
        {
            nodes = [GpuInventory.FromNvml(gpus, silo.Name)];
            source = why;
        }
        else if (o.Inventory is { Length: > 0 } path)
        {
            var full = Path.IsPathRooted(path) ? path : Path.Combine(AppContext.BaseDirectory, path);
            nodes = GpuInventory.FromFile(full, silo.Name);
            source = $"inventory file {full}";
        }
        else
        {
            log.LogInformation("No GPUs registered: no NVML and no Neuro:Gpu:Inventory file");
            return;
        }
        try
        {
            await GpuInventory.RegisterAsync(grains, nodes);
            log.LogInformation("Registered {Nodes} GPU node(s), {Gpus} GPU(s) from {Source}", nodes.Count, nodes.Sum(n => n.Gpus.Count), source);
        }
        catch (NeuroRequestException e)
        {
            // e.g. a node that still carries placements keeps its old inventory; the silo still serves.
            log.LogWarning("GPU inventory not (fully) registered: {Reason}", e.Message);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
