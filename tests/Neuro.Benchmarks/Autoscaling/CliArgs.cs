namespace Neuro.Benchmarks.Autoscaling;

internal sealed class CliArgs
{
    private readonly Dictionary<string, List<string>> _v = new();
    public CliArgs(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--")) throw new ArgumentException($"unexpected argument '{args[i]}'");
            var key = args[i][2..];
            var val = i + 1 < args.Length && !args[i + 1].StartsWith("--") ? args[++i] : "true";
            if (!_v.TryGetValue(key, out var l)) _v[key] = l = new();
            l.Add(val);
        }
    }
    public string? Get(string k) => _v.TryGetValue(k, out var l) ? l[^1] : null;
    public IReadOnlyList<string> All(string k) => _v.TryGetValue(k, out var l) ? l : [];
    public double Double(string k, double d) => Get(k) is { } s ? double.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : d;
    public int Int(string k, int d) => Get(k) is { } s ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : d;
    public bool Flag(string k) => Get(k) is "true";

    /// <summary>Finds a path relative to the working directory or any parent (so the CLI runs from the repo root or bin/).</summary>
    public static string Locate(string relative)
    {
        if (Path.IsPathRooted(relative) || File.Exists(relative)) return relative;
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var p = Path.Combine(dir.FullName, relative);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"{relative} not found in the working folder or any folder above it (pass the path explicitly)", relative);
    }
}
