using System.Globalization;

namespace Neuro.Autoscaling.Simulation;

/// <summary>Inputs of <see cref="SyntheticTrace.Generate"/>.</summary>
public sealed record SyntheticTraceOptions
{
    /// <summary>Mean arrival rate of each window (piecewise constant), e.g. a slice of a 600-s rate series. Only the shape
    /// matters when <see cref="MeanRate"/> is set; otherwise the values are used as requests per second of output time.</summary>
    public required IReadOnlyList<double> WindowRates { get; init; }

    /// <summary>Length of the generated trace in seconds; every window gets an equal share, so 144 ten-minute windows
    /// played in 3,600 s compress one day into an hour.</summary>
    public required double DurationSeconds { get; init; }

    /// <summary>Target mean arrival rate over the whole trace (requests/s); <c>null</c> keeps <see cref="WindowRates"/> as given.</summary>
    public double? MeanRate { get; init; }

    /// <summary>Coefficient of variation of inter-arrival times within a window: 1 = Poisson, &gt; 1 = bursty gamma renewal.</summary>
    public double Cv { get; init; } = 1;

    public int Seed { get; init; } = 1;

    /// <summary>Requests whose (prompt, output) pairs are resampled with replacement; their arrival times are ignored.</summary>
    public required IReadOnlyList<TraceRequest> LengthSource { get; init; }
}

/// <summary>
/// Held-out per-request traces: arrivals follow a rate series from one service (piecewise constant per window,
/// optionally time-compressed and rescaled to a target mean), request lengths are real (prompt, output) pairs
/// bootstrapped from another trace. Pure and deterministic for a given seed.
/// </summary>
/// <remarks>
/// Arrivals are a unit-rate renewal process (exponential or gamma gaps with mean 1) laid on the cumulative intensity
/// Λ(t) and mapped back through Λ⁻¹. Within a window Λ is linear, so gaps there are exactly gamma with the requested
/// CV at that window's rate; across a window boundary the process carries its phase on instead of restarting, and
/// zero-rate windows (outages) receive nothing without special cases. Using two random streams (arrivals, lengths)
/// keeps the length sequence the same when only the CV changes, so CV=1 and CV=2 runs differ in burstiness alone.
/// </remarks>
public static class SyntheticTrace
{
    /// <summary>Refuses inputs that would allocate beyond reason (a rate typo in requests/s rather than per window).</summary>
    public const double MaxExpectedRequests = 20_000_000;

    public static List<TraceRequest> Generate(SyntheticTraceOptions o)
    {
        var k = o.WindowRates.Count;
        if (k == 0) throw new ArgumentException("no rate windows selected");
        if (!(o.DurationSeconds > 0) || double.IsInfinity(o.DurationSeconds)) throw new ArgumentException($"duration must be > 0 s (got {o.DurationSeconds})");
        if (!(o.Cv > 0) || double.IsInfinity(o.Cv)) throw new ArgumentException($"cv must be > 0 (got {o.Cv})");
        if (o.MeanRate is { } mr && (!(mr > 0) || double.IsInfinity(mr))) throw new ArgumentException($"mean rate must be > 0 (got {mr})");
        if (o.LengthSource.Count == 0) throw new ArgumentException("the length source trace has no requests");
        foreach (var r in o.WindowRates)
            if (!(r >= 0) || double.IsInfinity(r)) throw new ArgumentException($"window rates must be finite and >= 0 (got {r})");
        var sourceMean = o.WindowRates.Average();
        if (!(sourceMean > 0)) throw new ArgumentException("every selected window has rate 0");
        var scale = o.MeanRate is { } target ? target / sourceMean : 1;
        var windowSeconds = o.DurationSeconds / k;

        // cumulative expected arrivals at each window start; bound[i + 1] − bound[i] = λ_i × window length
        var rates = o.WindowRates.Select(r => r * scale).ToArray();
        var bound = new double[k + 1];
        for (var i = 0; i < k; i++) bound[i + 1] = bound[i] + rates[i] * windowSeconds;
        if (bound[k] > MaxExpectedRequests) throw new ArgumentException($"{bound[k]:F0} expected requests exceed the limit of {MaxExpectedRequests:F0}");

        var arrivals = new Random(o.Seed);
        var lengths = new Random(unchecked(o.Seed * 1_000_003 + 17));
        // gamma shape from CV: CV² = 1/shape; gaps have mean 1 in Λ-space
        var shape = 1 / (o.Cv * o.Cv);
        var poisson = Math.Abs(o.Cv - 1) < 1e-12;
        double Gap() => poisson ? -Math.Log(1 - arrivals.NextDouble()) : Gamma(arrivals, shape) / shape;
        // start in equilibrium, as if the process had been running before the trace: the forward recurrence time is a
        // uniform fraction of a length-biased gap, and length-biasing gamma(shape) gives gamma(shape + 1)
        var s = poisson ? Gap() : arrivals.NextDouble() * Gamma(arrivals, shape + 1) / shape;

        var list = new List<TraceRequest>((int)Math.Min(bound[k] * 1.1 + 16, int.MaxValue / 2));
        var w = 0;
        while (s < bound[k])
        {
            while (s >= bound[w + 1]) w++; // zero-rate windows have bound[w] == bound[w + 1] and are stepped over
            var t = w * windowSeconds + (s - bound[w]) / rates[w];
            // guard the last ulp so a request never lands in the next window's time span
            t = Math.Min(t, Math.BitDecrement((w + 1) * windowSeconds));
            var pick = o.LengthSource[lengths.Next(o.LengthSource.Count)];
            list.Add(new TraceRequest(t, pick.ContextTokens, pick.OutputTokens));
            s += Gap();
        }
        return list;
    }

    /// <summary>Coefficient of variation of gaps between consecutive requests in the same window, each gap divided by
    /// its window's mean gap so the rate shape itself does not count as burstiness.</summary>
    public static double WithinWindowCv(IReadOnlyList<TraceRequest> trace, double windowSeconds)
    {
        var gaps = new List<double>();
        var i = 0;
        while (i < trace.Count)
        {
            var w = (int)(trace[i].ArrivalSeconds / windowSeconds);
            var j = i;
            while (j + 1 < trace.Count && (int)(trace[j + 1].ArrivalSeconds / windowSeconds) == w) j++;
            if (j - i >= 2)
            {
                var mean = (trace[j].ArrivalSeconds - trace[i].ArrivalSeconds) / (j - i);
                if (mean > 0) for (var q = i; q < j; q++) gaps.Add((trace[q + 1].ArrivalSeconds - trace[q].ArrivalSeconds) / mean);
            }
            i = j + 1;
        }
        if (gaps.Count < 2) return double.NaN;
        var m = gaps.Average();
        return Math.Sqrt(gaps.Sum(g => (g - m) * (g - m)) / (gaps.Count - 1)) / m;
    }

    /// <summary>Marsaglia–Tsang gamma(shape, 1); shapes below 1 use the boost gamma(a) = gamma(a + 1) · U^(1/a).</summary>
    internal static double Gamma(Random r, double shape)
    {
        if (shape < 1) return Gamma(r, shape + 1) * Math.Pow(r.NextDouble(), 1 / shape);
        var d = shape - 1.0 / 3;
        var c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do { x = Normal(r); v = 1 + c * x; } while (v <= 0);
            v = v * v * v;
            var u = r.NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x) return d * v;
            if (Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }

    private static double Normal(Random r) =>
        Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    /// <summary>Arbitrary calendar origin of written traces; <see cref="TraceLoader"/> re-bases arrivals to the first request anyway.</summary>
    public static readonly DateTime WriteEpoch = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Unspecified);

    /// <summary>Writes requests in the Azure CSV format <see cref="TraceLoader.LoadAzure"/> reads (100-ns timestamps).
    /// The loader measures arrivals from the first request, so a trace whose first arrival is at t &gt; 0 comes back
    /// shifted by that first arrival (exact to 100 ns otherwise).</summary>
    public static void WriteAzureCsv(string path, IEnumerable<TraceRequest> requests)
    {
        using var w = new StreamWriter(path);
        w.NewLine = "\n";
        w.WriteLine("TIMESTAMP,ContextTokens,GeneratedTokens");
        foreach (var r in requests)
        {
            var ts = WriteEpoch.AddTicks((long)Math.Round(r.ArrivalSeconds * TimeSpan.TicksPerSecond));
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{ts.ToString(TraceLoader.AzureTimestampFormat, CultureInfo.InvariantCulture)},{r.ContextTokens},{r.OutputTokens}"));
        }
    }
}
