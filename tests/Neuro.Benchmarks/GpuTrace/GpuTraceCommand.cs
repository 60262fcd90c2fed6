using System.Diagnostics;
using System.Globalization;
using System.Text;
using Neuro.Scheduling;
using Neuro.Scheduling.Policies;
using Neuro.Scheduling.Trace;

namespace Neuro.Benchmarks.GpuTrace;

/// <summary>
/// `gpu-trace`: replays an openb pod list against an openb node list with the ATC'23 protocol (shuffle by seed,
/// inflate to 130% of GPU capacity by sampling trace pods, arrive one by one, never leave) and compares each policy
/// with the paper's published figures.
/// </summary>
public static class GpuTraceCommand
{
    public static readonly string[] AllPolicies = ["Random", "DotProd", "GpuClustering", "GpuPacking", "BestFit", "FGD", "Neuro"];
    private static readonly string[] ExtraPolicies = ["FGD-exact"];

    public static int Run(string[] args)
    {
        string? nodesPath = null, podsPath = null, plotPath = null, markdownPath = null;
        var policies = AllPolicies.ToList();
        var seeds = Enumerable.Range(42, 10).ToList();
        var inflate = 1.3;
        var threads = 2;
        var plot = true;
        var verbose = false;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--nodes": nodesPath = Next(); break;
                case "--pods": podsPath = Next(); break;
                case "--policies": policies = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList(); break;
                case "--seeds": seeds = ParseSeeds(Next()); break;
                case "--inflate": inflate = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--plot": plotPath = Next(); break;
                case "--no-plot": plot = false; break;
                case "--verbose": verbose = true; break;
                case "--markdown": markdownPath = Next(); break;
                case "-h" or "--help": return Usage(0);
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return Usage(2);
            }
        }

        var repo = FindRepoRoot();
        var data = repo is null ? null : Path.GetFullPath(Path.Combine(repo, "..", "shared", "data", "gpu-trace"));
        nodesPath ??= data is null ? null : Path.Combine(data, "openb_node_list_gpu_node.csv");
        podsPath ??= data is null ? null : Path.Combine(data, "openb_pod_list_default.csv");
        if (nodesPath is null || podsPath is null || !File.Exists(nodesPath) || !File.Exists(podsPath))
        {
            Console.Error.WriteLine($"trace files not found (nodes: {nodesPath ?? "?"}, pods: {podsPath ?? "?"}); pass --nodes and --pods");
            return 2;
        }
        var unknown = policies.Where(p => !p.StartsWith("neuro:", StringComparison.OrdinalIgnoreCase) && !AllPolicies.Concat(ExtraPolicies).Contains(p, StringComparer.OrdinalIgnoreCase)).ToList();
        if (unknown.Count > 0)
        {
            Console.Error.WriteLine($"unknown policies: {string.Join(", ", unknown)} (known: {string.Join(", ", AllPolicies)})");
            return 2;
        }

        var pods = OpenbTrace.ReadPods(podsPath);
        var nodeCount = OpenbTrace.ReadNodes(nodesPath).Count;
        var traceName = Path.GetFileNameWithoutExtension(podsPath).Replace("openb_pod_list_", "", StringComparison.Ordinal);
        Console.WriteLine($"gpu-trace: {pods.Count} pods ({traceName}) on {nodeCount} nodes, seeds {string.Join(",", seeds)}, inflate {inflate:P0}, threads {threads}");

        var jobs = (from p in policies from s in seeds select (Policy: p, Seed: s)).ToList();
        var results = new TraceRunResult[jobs.Count];
        var wall = Stopwatch.StartNew();
        Parallel.For(0, jobs.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, j =>
        {
            var (policy, seed) = jobs[j];
            results[j] = TraceReplay.Run(nodesPath, pods, policy, seed, inflate);
        });
        Console.WriteLine($"replayed {jobs.Count} runs in {wall.Elapsed.TotalSeconds:F1} s");
        if (verbose)
            foreach (var g in results.GroupBy(r => r.Policy))
                Console.WriteLine($"  {g.Key}: failed before 100% arrived (GPU % of capacity, #pods, mean over seeds): " + string.Join(", ",
                    g.SelectMany(r => r.FailedGpuBy100.Keys).Distinct().Order().Select(k => $"{k}={g.Average(r => r.FailedGpuBy100.GetValueOrDefault(k)):F2}")));

        var summaries = policies.Select(p => PolicySummary.Of(p, results.Where(r => r.Policy.Equals(p, StringComparison.OrdinalIgnoreCase)).ToList())).ToList();
        var table = Report.Table(traceName, summaries);
        Console.WriteLine();
        Console.WriteLine(table);
        if (markdownPath is not null) File.WriteAllText(markdownPath, table);

        if (plot)
        {
            plotPath ??= repo is null ? $"gpu-trace-{traceName}.png" : Path.Combine(repo, "docs", $"gpu-trace-{traceName}.png");
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(plotPath))!);
            AllocationPlot.Save(plotPath, traceName, summaries, inflate);
            Console.WriteLine($"plot: {plotPath}");
        }
        return 0;
    }

    private static List<int> ParseSeeds(string s)
    {
        var result = new List<int>();
        foreach (var part in s.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var dash = part.IndexOf('-', 1);
            if (dash > 0)
            {
                int a = int.Parse(part[..dash], CultureInfo.InvariantCulture), b = int.Parse(part[(dash + 1)..], CultureInfo.InvariantCulture);
                for (var x = a; x <= b; x++) result.Add(x);
            }
            else result.Add(int.Parse(part, CultureInfo.InvariantCulture));
        }
        return result;
    }

    private static string? FindRepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Neuro.Orleans.sln")) || File.Exists(Path.Combine(d.FullName, "Neuro.Orleans.slnx")))
                    return d.FullName;
        return null;
    }

    private static int Usage(int code)
    {
        Console.Error.WriteLine("""
            usage: gpu-trace [--nodes FILE] [--pods FILE] [--policies Random,DotProd,GpuClustering,GpuPacking,BestFit,FGD,Neuro]
                             [--seeds 42-51] [--inflate 1.3] [--threads 2] [--plot FILE.png | --no-plot] [--markdown FILE]
            defaults: ../shared/data/gpu-trace/openb_node_list_gpu_node.csv and openb_pod_list_default.csv relative to the repo;
                      plot to docs/gpu-trace-<pod list>.png
            """);
        return code;
    }
}
