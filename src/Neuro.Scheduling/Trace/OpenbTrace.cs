using System.Globalization;

namespace Neuro.Scheduling.Trace;

/// <summary>Reads the Alibaba "openb" CSVs (cluster-trace-gpu-v2023) by header name, so every variant of the pod list works.</summary>
public static class OpenbTrace
{
    /// <summary>GPU memory by trace model (GiB); G2/G3 are undisclosed, so they get none.</summary>
    private static readonly Dictionary<string, int> MemoryGiB = new(StringComparer.OrdinalIgnoreCase)
    {
        ["P100"] = 16, ["T4"] = 16, ["V100M16"] = 16, ["V100M32"] = 32, ["A10"] = 24,
    };

    public static List<Node> ReadNodes(string path)
    {
        var rows = Read(path, out var col);
        int sn = Need(col, "sn", path), cpu = Need(col, "cpu_milli", path), mem = Need(col, "memory_mib", path),
            gpu = Need(col, "gpu", path), model = Need(col, "model", path);
        var nodes = new List<Node>(rows.Count);
        foreach (var r in rows)
        {
            var count = int.Parse(r[gpu], CultureInfo.InvariantCulture);
            var m = r[model];
            var gib = MemoryGiB.GetValueOrDefault(m);
            var gpus = Enumerable.Range(0, count).Select(i => new Gpu(m, i, gib * 1024)).ToArray();
            nodes.Add(new Node(r[sn], long.Parse(r[cpu], CultureInfo.InvariantCulture), long.Parse(r[mem], CultureInfo.InvariantCulture), gpus));
        }
        return nodes;
    }

    public static List<PlacementRequest> ReadPods(string path)
    {
        var rows = Read(path, out var col);
        int name = Need(col, "name", path), cpu = Need(col, "cpu_milli", path), mem = Need(col, "memory_mib", path),
            num = Need(col, "num_gpu", path), milli = Need(col, "gpu_milli", path);
        var spec = col.GetValueOrDefault("gpu_spec", -1);
        var pods = new List<PlacementRequest>(rows.Count);
        foreach (var r in rows)
        {
            var n = int.Parse(r[num], CultureInfo.InvariantCulture);
            var m = n == 0 ? 0 : int.Parse(r[milli], CultureInfo.InvariantCulture);
            pods.Add(new PlacementRequest
            {
                Id = r[name],
                CpuMilli = long.Parse(r[cpu], CultureInfo.InvariantCulture),
                MemoryMiB = long.Parse(r[mem], CultureInfo.InvariantCulture),
                GpuCount = n,
                GpuMilli = m,
                GpuTypes = spec >= 0 && spec < r.Length ? PlacementRequest.ParseGpuSpec(r[spec]) : null,
            });
        }
        return pods;
    }

    private static List<string[]> Read(string path, out Dictionary<string, int> columns)
    {
        using var reader = new StreamReader(path);
        var header = reader.ReadLine() ?? throw new InvalidDataException($"{path}: empty file");
        columns = header.Split(',').Select((h, i) => (h.Trim(), i)).ToDictionary(x => x.Item1, x => x.i, StringComparer.OrdinalIgnoreCase);
        var rows = new List<string[]>();
        string? line;
        while ((line = reader.ReadLine()) is not null)
            if (line.Length > 0) rows.Add(line.Split(','));
        return rows;
    }

    private static int Need(Dictionary<string, int> col, string name, string path) =>
        col.TryGetValue(name, out var i) ? i : throw new InvalidDataException($"{path}: missing column '{name}'");
}
