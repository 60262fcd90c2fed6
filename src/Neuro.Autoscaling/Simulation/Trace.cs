using System.Globalization;
using System.Text.Json;

namespace Neuro.Autoscaling.Simulation;

/// <summary>One request of a per-request trace: arrival (seconds from trace start), prompt and output tokens.</summary>
public readonly record struct TraceRequest(double ArrivalSeconds, int ContextTokens, int OutputTokens);

public static class TraceLoader
{
    /// <summary>TIMESTAMP format of the Azure LLM inference traces (7 fractional digits).</summary>
    public const string AzureTimestampFormat = "yyyy-MM-dd HH:mm:ss.fffffff";

    /// <summary>Loads an Azure LLM inference trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens) or a Mooncake JSONL trace
    /// (timestamp ms, input_length, output_length), chosen by extension. Arrivals are relative to the first request.</summary>
    public static List<TraceRequest> Load(string path, int? maxRows = null)
    {
        var rows = path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) ? LoadMooncake(path, maxRows) : LoadAzure(path, maxRows);
        rows.Sort((a, b) => a.ArrivalSeconds.CompareTo(b.ArrivalSeconds));
        return rows;
    }

    public static List<TraceRequest> LoadAzure(string path, int? maxRows = null)
    {
        var list = new List<TraceRequest>();
        DateTime? t0 = null;
        foreach (var raw in File.ReadLines(path).Skip(1))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            var p = line.Split(',');
            var ts = DateTime.ParseExact(p[0], AzureTimestampFormat, CultureInfo.InvariantCulture);
            t0 ??= ts;
            list.Add(new((ts - t0.Value).TotalSeconds, int.Parse(p[1], CultureInfo.InvariantCulture), int.Parse(p[2], CultureInfo.InvariantCulture)));
            if (maxRows is { } m && list.Count >= m) break;
        }
        return list;
    }

    public static List<TraceRequest> LoadMooncake(string path, int? maxRows = null)
    {
        var list = new List<TraceRequest>();
        double? t0 = null;
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var ms = r.GetProperty("timestamp").GetDouble();
            t0 ??= ms;
            list.Add(new((ms - t0.Value) / 1000.0, r.GetProperty("input_length").GetInt32(), r.GetProperty("output_length").GetInt32()));
            if (maxRows is { } m && list.Count >= m) break;
        }
        return list;
    }
}
