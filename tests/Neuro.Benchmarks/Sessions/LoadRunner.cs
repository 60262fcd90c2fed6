using System.Diagnostics;

namespace Neuro.Benchmarks.Sessions;

public sealed record LoadResult(string Scenario, int Callers, long Calls, double Seconds, double P50Ms, double P99Ms, double MaxMs, long Errors)
{
    public double CallsPerSecond => Calls / Seconds;
}

/// <summary>N concurrent callers, each looping on its own operation: warm-up first, then a measured window.
/// Latency is per call; throughput counts calls completed inside the window.</summary>
public static class LoadRunner
{
    public static async Task<LoadResult> RunAsync(string scenario, int callers, TimeSpan warmup, TimeSpan window, Func<int, Func<Task>> callerFactory)
    {
        var recording = 0;
        var stopping = 0;
        var errors = 0L;
        var samples = new List<long>[callers];
        var tasks = Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
        {
            var call = callerFactory(c);
            var mine = new List<long>(1 << 16);
            while (Volatile.Read(ref stopping) == 0)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    await call();
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }
                if (Volatile.Read(ref recording) == 1)
                {
                    mine.Add(Stopwatch.GetTimestamp() - start);
                }
            }
            samples[c] = mine;
        })).ToArray();

        await Task.Delay(warmup);
        Interlocked.Exchange(ref errors, 0);
        Volatile.Write(ref recording, 1);
        var clock = Stopwatch.StartNew();
        await Task.Delay(window);
        Volatile.Write(ref recording, 0);
        var seconds = clock.Elapsed.TotalSeconds;
        Volatile.Write(ref stopping, 1);
        await Task.WhenAll(tasks);

        var all = samples.SelectMany(s => s).ToArray();
        Array.Sort(all);
        double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        double Pct(double p) => all.Length == 0 ? double.NaN : Ms(all[Math.Min(all.Length - 1, (int)(p * all.Length))]);
        return new LoadResult(scenario, callers, all.Length, seconds, Pct(0.50), Pct(0.99), all.Length == 0 ? double.NaN : Ms(all[^1]), Interlocked.Read(ref errors));
    }
}
