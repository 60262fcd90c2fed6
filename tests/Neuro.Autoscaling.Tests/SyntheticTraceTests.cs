using Neuro.Autoscaling.Simulation;

namespace Neuro.Autoscaling.Tests;

public class SyntheticTraceTests
{
    // a day-like shape with an outage (two zero windows) and a step, 48 windows
    private static readonly double[] Shape = Enumerable.Range(0, 48)
        .Select(i => i is 20 or 21 ? 0 : (i < 36 ? 1000 : 500) * (1.5 + Math.Sin(2 * Math.PI * i / 48))).ToArray();

    // distinct pairs so every drawn pair can be traced back to the source
    private static readonly TraceRequest[] Lengths = Enumerable.Range(0, 50).Select(i => new TraceRequest(i, 100 + 7 * i, 10 + 3 * i)).ToArray();

    private static SyntheticTraceOptions Opts(double cv = 1, int seed = 1, double mean = 5, double seconds = 4800) => new()
    {
        WindowRates = Shape, DurationSeconds = seconds, MeanRate = mean, Cv = cv, Seed = seed, LengthSource = Lengths,
    };

    private static int[] WindowCounts(IReadOnlyList<TraceRequest> t, int windows, double seconds)
    {
        var c = new int[windows];
        foreach (var r in t) c[(int)(r.ArrivalSeconds / (seconds / windows))]++;
        return c;
    }

    private static double Correlation(double[] x, double[] y)
    {
        double mx = x.Average(), my = y.Average();
        double sxy = 0, sxx = 0, syy = 0;
        for (var i = 0; i < x.Length; i++) { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) * (x[i] - mx); syy += (y[i] - my) * (y[i] - my); }
        return sxy / Math.Sqrt(sxx * syy);
    }

    [Fact]
    public void Same_seed_gives_the_same_trace_and_another_seed_does_not()
    {
        var a = SyntheticTrace.Generate(Opts(cv: 2, seed: 7));
        var b = SyntheticTrace.Generate(Opts(cv: 2, seed: 7));
        var c = SyntheticTrace.Generate(Opts(cv: 2, seed: 8));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    [InlineData(3.0)]
    public void Mean_rate_is_the_target(double cv)
    {
        var t = SyntheticTrace.Generate(Opts(cv: cv, mean: 50));
        // 240,000 expected; a renewal count's sd is about cv × √240000 ≈ 490 × cv, so 2% is > 3 sd even at cv 3
        Assert.InRange(t.Count / 4800.0, 50 * 0.98, 50 * 1.02);
        Assert.All(t, r => Assert.InRange(r.ArrivalSeconds, 0, 4800));
        Assert.True(t.Zip(t.Skip(1)).All(p => p.First.ArrivalSeconds <= p.Second.ArrivalSeconds), "arrivals are sorted");
    }

    [Fact]
    public void Without_a_mean_rate_window_rates_are_used_as_given()
    {
        var t = SyntheticTrace.Generate(Opts() with { WindowRates = [2, 2, 2, 2], MeanRate = null, DurationSeconds = 2000 });
        Assert.InRange(t.Count, 4000 * 0.95, 4000 * 1.05);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    public void Per_window_counts_follow_the_rate_shape(double cv)
    {
        var t = SyntheticTrace.Generate(Opts(cv: cv));
        var counts = WindowCounts(t, Shape.Length, 4800);
        Assert.True(Correlation(Shape, counts.Select(c => (double)c).ToArray()) > 0.95);
        // outage windows get nothing; every other window gets its share
        Assert.Equal(0, counts[20]);
        Assert.Equal(0, counts[21]);
        var scale = 5 / Shape.Average();
        for (var i = 0; i < Shape.Length; i++)
            if (Shape[i] > 0) Assert.InRange(counts[i], 0.5 * Shape[i] * scale * 100, 1.5 * Shape[i] * scale * 100);
    }

    [Fact]
    public void Compression_keeps_the_shape_in_a_shorter_span()
    {
        var t = SyntheticTrace.Generate(Opts(seconds: 960)); // 20 s per window
        var counts = WindowCounts(t, Shape.Length, 960);
        Assert.True(Correlation(Shape, counts.Select(c => (double)c).ToArray()) > 0.9);
        Assert.True(t[^1].ArrivalSeconds < 960);
    }

    [Fact]
    public void Poisson_has_cv_one_and_gamma_has_the_requested_cv()
    {
        var poisson = SyntheticTrace.WithinWindowCv(SyntheticTrace.Generate(Opts(cv: 1, mean: 10)), 100);
        var two = SyntheticTrace.WithinWindowCv(SyntheticTrace.Generate(Opts(cv: 2, mean: 10)), 100);
        var three = SyntheticTrace.WithinWindowCv(SyntheticTrace.Generate(Opts(cv: 3, mean: 10)), 100);
        Assert.InRange(poisson, 0.95, 1.05);
        Assert.InRange(two, 1.8, 2.2);
        Assert.InRange(three, 2.6, 3.4);
    }

    [Fact]
    public void Gamma_sampler_has_mean_shape_and_variance_shape()
    {
        foreach (var shape in new[] { 0.25, 1.0, 4.0 })
        {
            var r = new Random(3);
            var x = Enumerable.Range(0, 200_000).Select(_ => SyntheticTrace.Gamma(r, shape)).ToArray();
            var m = x.Average();
            var v = x.Sum(y => (y - m) * (y - m)) / (x.Length - 1);
            Assert.InRange(m, shape * 0.98, shape * 1.02);
            Assert.InRange(v, shape * 0.93, shape * 1.07);
        }
    }

    [Fact]
    public void Lengths_are_source_pairs_and_cover_the_source()
    {
        var t = SyntheticTrace.Generate(Opts());
        var pairs = Lengths.Select(l => (l.ContextTokens, l.OutputTokens)).ToHashSet();
        Assert.All(t, r => Assert.Contains((r.ContextTokens, r.OutputTokens), pairs));
        // a bootstrap of 24,000 draws from 50 pairs hits every pair, each near 1/50 of the time
        var freq = t.GroupBy(r => r.ContextTokens).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(50, freq.Count);
        Assert.All(freq.Values, n => Assert.InRange(n, t.Count / 50 * 0.75, t.Count / 50 * 1.25));
    }

    [Fact]
    public void Lengths_do_not_change_with_the_cv()
    {
        var a = SyntheticTrace.Generate(Opts(cv: 1));
        var b = SyntheticTrace.Generate(Opts(cv: 2));
        var n = Math.Min(a.Count, b.Count);
        Assert.Equal(a.Take(n).Select(r => r.ContextTokens), b.Take(n).Select(r => r.ContextTokens));
    }

    [Fact]
    public void Written_csv_reads_back_through_the_trace_loader()
    {
        var t = SyntheticTrace.Generate(Opts(cv: 2, seconds: 480, mean: 3));
        var path = Path.Combine(Path.GetTempPath(), $"synth-{Guid.NewGuid():N}.csv");
        try
        {
            SyntheticTrace.WriteAzureCsv(path, t);
            var back = TraceLoader.Load(path);
            Assert.Equal(t.Count, back.Count);
            // the loader measures from the first request, and its sort may reorder requests that share a 100-ns tick
            // (bursty gaps are often that short), so compare in (tick, lengths) order
            static List<(long, int, int)> Key(IEnumerable<TraceRequest> r, double t0) =>
                r.Select(x => ((long)Math.Round(x.ArrivalSeconds * 1e7) - (long)Math.Round(t0 * 1e7), x.ContextTokens, x.OutputTokens)).Order().ToList();
            Assert.Equal(Key(t, t[0].ArrivalSeconds), Key(back, 0));
            for (var i = 0; i < t.Count; i++) Assert.Equal(t[i].ArrivalSeconds - t[0].ArrivalSeconds, back[i].ArrivalSeconds, 1e-6);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Bad_inputs_are_refused()
    {
        Assert.Throws<ArgumentException>(() => SyntheticTrace.Generate(Opts() with { WindowRates = [] }));
        Assert.Throws<ArgumentException>(() => SyntheticTrace.Generate(Opts() with { WindowRates = [0, 0] }));
        Assert.Throws<ArgumentException>(() => SyntheticTrace.Generate(Opts() with { WindowRates = [1, -1] }));
        Assert.Throws<ArgumentException>(() => SyntheticTrace.Generate(Opts(cv: 0)));
        Assert.Throws<ArgumentException>(() => SyntheticTrace.Generate(Opts(mean: -1)));
        Assert.Throws<ArgumentException>(() => SyntheticTrace.Generate(Opts(seconds: 0)));
        Assert.Throws<ArgumentException>(() => SyntheticTrace.Generate(Opts() with { LengthSource = [] }));
        Assert.Throws<ArgumentException>(() => SyntheticTrace.Generate(Opts(mean: 1e6)));
    }
}
