using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Neuro.Neko;
using Neuro.WebRtc;

namespace Neuro.Benchmarks.Neko;

/// <summary>
/// Our WebRTC stack as a Neko client against the aiortc Neko stand-in (a separate Python process), beside aiortc talking
/// to aiortc in one process, from one run: offer → data channel open, offer → first decoded video frame, and the
/// data-channel PING/PONG round trip (Neko's binary layout). The first of our connections pays .NET start-up (JIT,
/// BouncyCastle's first handshake) and is shown apart.
/// </summary>
public static class NekoBenchmark
{
    private sealed record Run(double OpenMs, double FrameMs, double RttMedianMs, double RttMaxMs);

    public static async Task<int> RunAsync(string[] args)
    {
        var runs = int.Parse(Option(args, "--runs", "5"), CultureInfo.InvariantCulture);
        var peers = Path.Combine(AppContext.BaseDirectory, "peers");
        using var standIn = Python(Path.Combine(peers, "neko_standin.py"), "--port", "0");
        var port = JsonDocument.Parse(await standIn.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) ?? "{}").RootElement.GetProperty("port").GetInt32();
        try
        {
            var ours = new List<Run>();
            for (var r = 0; r < runs + 1; r++)
            {
                ours.Add(await OursAsync(new Uri($"http://127.0.0.1:{port}/")));
            }
            var theirs = new List<Run>();
            for (var r = 0; r < runs; r++)
            {
                using var baseline = Python(Path.Combine(peers, "aiortc_baseline.py"));
                var json = JsonDocument.Parse(await baseline.StandardOutput.ReadToEndAsync()).RootElement;
                await baseline.WaitForExitAsync();
                theirs.Add(new Run(json.GetProperty("offer_to_datachannel_open_ms").GetDouble(), json.GetProperty("offer_to_first_decoded_frame_ms").GetDouble(),
                    json.GetProperty("ping_rtt_median_ms").GetDouble(), json.GetProperty("ping_rtt_max_ms").GetDouble()));
            }
            var warm = ours.Skip(1).ToList();
            Console.WriteLine($"Neko session on loopback: ours (C#, our WebRTC stack) ↔ aiortc stand-in (Python process) vs aiortc ↔ aiortc (one process); " +
                              $"median of {runs} runs each, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Trim()}");
            Console.WriteLine();
            Console.WriteLine("| measure | ours (warm) | ours (first in process) | aiortc ↔ aiortc | ours / aiortc |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            Row("offer → data channel open, ms", warm.Select(x => x.OpenMs), ours[0].OpenMs, theirs.Select(x => x.OpenMs));
            Row("offer → first decoded video frame, ms", warm.Select(x => x.FrameMs), ours[0].FrameMs, theirs.Select(x => x.FrameMs));
            Row("data-channel round trip, median ms", warm.Select(x => x.RttMedianMs), ours[0].RttMedianMs, theirs.Select(x => x.RttMedianMs));
            Row("data-channel round trip, max ms", warm.Select(x => x.RttMaxMs), ours[0].RttMaxMs, theirs.Select(x => x.RttMaxMs));
            return 0;
        }
        finally
        {
            standIn.Kill(entireProcessTree: true);
        }
    }

    private static async Task<Run> OursAsync(Uri baseUrl)
    {
        await using var client = new NekoClient(new NekoClientOptions
        {
            BaseUrl = baseUrl, Username = "agent", Password = "neko", Rtc = new RtcConfiguration(), ConnectTimeout = TimeSpan.FromSeconds(30),
        });
        var frames = new VideoFrameSource { SkipInitialFrames = 0 };
        using var video = new NekoVideo(client, frames);
        var clock = Stopwatch.StartNew();
        TimeSpan offerAt = default;
        client.MessageReceived += m => { if (m.Event == "signal/provide" && offerAt == default) offerAt = clock.Elapsed; };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await client.ConnectAsync(cts.Token);
        var openAt = clock.Elapsed;
        while (frames.FramesAccepted == 0)
        {
            await Task.Delay(1, cts.Token);
        }
        var frameAt = clock.Elapsed;
        var rtts = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            rtts.Add((await client.PingAsync(cts.Token)).TotalMilliseconds);
        }
        rtts.Sort();
        return new Run((openAt - offerAt).TotalMilliseconds, (frameAt - offerAt).TotalMilliseconds, rtts[rtts.Count / 2], rtts[^1]);
    }

    private static void Row(string name, IEnumerable<double> ours, double first, IEnumerable<double> theirs)
    {
        var o = Median(ours);
        var t = Median(theirs);
        Console.WriteLine($"| {name} | {o:F2} | {first:F2} | {t:F2} | {o / t:F2} |");
    }

    private static double Median(IEnumerable<double> xs)
    {
        var s = xs.Order().ToArray();
        return s[s.Length / 2];
    }

    private static Process Python(string script, params string[] args)
    {
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false }; // the stand-in exits when its stdin closes
        info.ArgumentList.Add(script);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        var p = Process.Start(info) ?? throw new InvalidOperationException($"could not start {script}");
        p.ErrorDataReceived += (_, _) => { };
        p.BeginErrorReadLine();
        return p;
    }

    private static string Option(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
