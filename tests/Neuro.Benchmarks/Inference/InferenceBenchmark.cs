using System.Diagnostics;
using System.Runtime.InteropServices;
using Neuro.Inference.Generation;
using Neuro.Inference.Onnx;
using Neuro.Inference.Runtime;

namespace Neuro.Benchmarks.Inference;

/// <summary>
/// <c>inference</c>: decoder generation on a generated GPT-2-small-shaped model (random weights, written at benchmark time,
/// deleted afterwards). Prints ours vs baseline side by side:
///  1. single-stream decode tokens/s: our generator (sampling, stop rules, streaming, state) vs a raw ORT loop (argmax only);
///  2. the decode memory-bandwidth bound: weight bytes per token ÷ measured copy bandwidth;
///  3. aggregate tokens/s with N concurrent sequences: dynamic batching vs N unbatched streams (and greedy equality);
///  4. time to first token: turn 2 with the cached KV vs turn 1 vs turn 2 recomputed from scratch.
/// </summary>
public static class InferenceBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        string shape = Arg(args, "--shape", "gpt2-small");
        int tokens = int.Parse(Arg(args, "--tokens", "32"));
        int concurrency = int.Parse(Arg(args, "--concurrency", "8"));
        int prompt = int.Parse(Arg(args, "--prompt", "128"));
        int followUp = int.Parse(Arg(args, "--follow-up", "16"));
        int reps = int.Parse(Arg(args, "--reps", "5"));
        int threads = int.Parse(Arg(args, "--threads", "0"));
        var spec = shape switch
        {
            "gpt2-small" => DecoderModelSpec.Gpt2Small(),
            "tiny" => DecoderModelSpec.Tiny() with { MaxPositions = 512 },
            _ => throw new ArgumentException($"unknown --shape {shape} (gpt2-small, tiny)"),
        };
        if (args.Contains("--int8")) spec = spec.AsInt8();

        var dir = Directory.CreateTempSubdirectory("neuro-inference-bench-").FullName;
        try
        {
            var path = Path.Combine(dir, "model.onnx");
            var sw = Stopwatch.StartNew();
            var bytes = DecoderModelGenerator.WriteFile(spec, path);
            Console.WriteLine($"model: {shape}{(spec.Int8Weights ? " int8 weights" : "")} layers={spec.Layers} heads={spec.Heads} hidden={spec.HiddenSize} vocab={spec.VocabSize} ctx={spec.MaxPositions} " +
                              $"params={spec.ParameterCount / 1e6:F1}M file={bytes / 1e6:F0} MB (generated in {sw.Elapsed.TotalSeconds:F1} s)");
            sw.Restart();
            using var model = DecoderModel.Load(path, new InferenceOptions { IntraOpThreads = threads });
            Console.WriteLine($"load average at start: {LoadAvg()}");
            Console.WriteLine($"load + warm-up: {sw.Elapsed.TotalSeconds:F2} s; provider {model.Provider}; intra-op threads {(threads == 0 ? "ORT default" : threads)}; " +
                              $"{Environment.ProcessorCount} logical cores");
            Console.WriteLine();

            if (args.Contains("--serving-only"))
            {
                await ServingAsync(path, tokens, reps, threads, ServingSettings(args), int.Parse(Arg(args, "--serving-max-warmups", "60")));
                return 0;
            }
            // 1. single stream: raw loop and generator alternate, median of --reps each (the machine may be shared)
            var p = Prompt(prompt, spec.VocabSize, 1);
            var raws = new List<Result>();
            var ourss = new List<Result>();
            RawLoop(model, p, tokens); // one unmeasured round each, so neither side is timed while the JIT tiers it up
            await Single(model, p, tokens);
            for (int r = 0; r < reps; r++)
            {
                raws.Add(RawLoop(model, p, tokens));
                ourss.Add(await Single(model, p, tokens));
            }
            var raw = raws.OrderBy(x => x.TokPerSec).ElementAt(reps / 2);
            var ours = ourss.OrderBy(x => x.TokPerSec).ElementAt(reps / 2);
            if (!ours.Tokens.SequenceEqual(raw.Tokens)) Console.WriteLine("WARNING: generator and raw loop disagree on greedy tokens");
            // 2. bandwidth bound: every decode step reads all weights except the token-embedding table (a Gather reads one row)
            long matmulWeights = spec.Layers * (4L * spec.HiddenSize * spec.HiddenSize + 2L * spec.HiddenSize * spec.FfnSize) + (long)spec.HiddenSize * spec.VocabSize;
            long otherParams = spec.ParameterCount - (long)spec.VocabSize * spec.HiddenSize - (long)spec.MaxPositions * spec.HiddenSize - matmulWeights;
            long readPerToken = (spec.Int8Weights ? 1L : 4L) * matmulWeights + 4L * otherParams;
            var (readGbps, copyGbps) = Bandwidth();
            double bound = readGbps * 1e9 / readPerToken;
            Console.WriteLine($"| single-stream decode (batch 1, greedy, prompt {prompt}, {tokens} tokens, median of {reps}) | tokens/s | ms/token |");
            Console.WriteLine("|---|---|---|");
            Console.WriteLine($"| ours: DecoderGenerator (IAsyncEnumerable, sampler, stop rules, state) | {ours.TokPerSec:F2} | {1000 / ours.TokPerSec:F1} |");
            Console.WriteLine($"| baseline: raw ORT loop (argmax, no streaming) | {raw.TokPerSec:F2} | {1000 / raw.TokPerSec:F1} |");
            Console.WriteLine($"| ratio ours / raw | {ours.TokPerSec / raw.TokPerSec:F3} | |");
            Console.WriteLine($"| limit: memory-bandwidth bound ({readPerToken / 1e6:F0} MB weights read/token ÷ {readGbps:F1} GB/s parallel read; copy {copyGbps:F1} GB/s) | {bound:F2} | {1000 / bound:F1} |");
            Console.WriteLine($"| ours as % of the bound | {100 * ours.TokPerSec / bound:F0}% | |");
            Console.WriteLine($"(all runs tok/s: raw [{string.Join(", ", raws.Select(x => x.TokPerSec.ToString("F1")))}], ours [{string.Join(", ", ourss.Select(x => x.TokPerSec.ToString("F1")))}])");
            Console.WriteLine();

            // 3. concurrency
            var prompts = Enumerable.Range(0, concurrency).Select(i => Prompt(8 + i, spec.VocabSize, 100 + i)).ToArray();
            var unb = await Concurrent(prompts, tokens, (s, pr) => new DecoderGenerator(model).GenerateAsync(s, pr, G(tokens)));
            using var batcher = new BatchingGenerator(model, new BatchingOptions { MaxBatchSize = concurrency, AdmissionWindow = TimeSpan.FromMilliseconds(20) });
            var bat = await Concurrent(prompts, tokens, (s, pr) => batcher.GenerateAsync(s, pr, G(tokens)));
            var same = unb.Outputs.Zip(bat.Outputs).All(x => x.First.SequenceEqual(x.Second));
            Console.WriteLine($"| {concurrency} concurrent sequences × {tokens} tokens (greedy, prompts {prompts[0].Length}–{prompts[^1].Length}) | aggregate tokens/s | wall s |");
            Console.WriteLine("|---|---|---|");
            Console.WriteLine($"| ours: dynamic batching (mean batch {(double)batcher.Stats.DecodeRows / batcher.Stats.DecodeSteps:F2}, max {batcher.Stats.MaxBatch}, {batcher.Stats.Regroups} regroups) | {bat.TokPerSec:F2} | {bat.Wall:F2} |");
            Console.WriteLine($"| baseline: {concurrency} unbatched streams on the same session | {unb.TokPerSec:F2} | {unb.Wall:F2} |");
            Console.WriteLine($"| speed-up batched / unbatched | {bat.TokPerSec / unb.TokPerSec:F2}× | |");
            Console.WriteLine($"| greedy outputs identical batched vs unbatched | {(same ? "yes" : "NO")} | |");
            Console.WriteLine();

            // 4. TTFT
            var t1 = new List<double>(); var t2 = new List<double>(); var t2full = new List<double>();
            for (int r = 0; r < reps; r++)
            {
                var gen = new DecoderGenerator(model);
                using var state = new SequenceState();
                t1.Add(await Ttft(gen, state, Prompt(prompt, spec.VocabSize, 500 + r), 8));
                var more = Prompt(followUp, spec.VocabSize, 600 + r);
                using var fresh = new SequenceState(state.Tokens);
                t2.Add(await Ttft(gen, state, more, 8));
                t2full.Add(await Ttft(gen, fresh, more, 8));
            }
            Console.WriteLine($"| time to first token (median of {reps}) | ms | prefilled tokens |");
            Console.WriteLine("|---|---|---|");
            Console.WriteLine($"| ours: turn 2, KV cache kept in the sequence state | {Median(t2):F1} | {1 + followUp} |");
            Console.WriteLine($"| turn 1 (fresh conversation) | {Median(t1):F1} | {prompt} |");
            Console.WriteLine($"| baseline: turn 2 recomputed from scratch (e.g. after a handoff) | {Median(t2full):F1} | {prompt + 8 + followUp} |");
            Console.WriteLine($"| speed-up cached / recomputed | {Median(t2full) / Median(t2):F1}× | |");
            // 5. the full serving path: REST SSE → front door → session grain → batching generator, in a real silo process
            if (!args.Contains("--no-serving"))
            {
                await ServingAsync(path, tokens, reps, threads, ServingSettings(args), int.Parse(Arg(args, "--serving-max-warmups", "60")));
            }
            Console.WriteLine($"load average at end: {LoadAvg()}");
            return 0;
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    /// <summary>Extra silo settings for the serving run: <c>--serving-set Neuro:Inference:AllowSpinning=false</c> (repeatable).</summary>
    private static Dictionary<string, string> ServingSettings(string[] args) =>
        args.Select((a, i) => (a, i)).Where(x => x.a == "--serving-set" && x.i + 1 < args.Length)
            .Select(x => args[x.i + 1].Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);

    /// <summary>Single-stream decode tokens/s through the whole serving path (a real silo process serving the model file by
    /// sha256 as a configured model; a session streams a turn over server-sent events), beside a raw ORT loop on the
    /// same file with the same prompt tokens, alternating, median of <paramref name="reps"/>.</summary>
    private static async Task ServingAsync(string path, int tokens, int reps, int threads, Dictionary<string, string> extra, int maxWarmups)
    {
        var sha = await Neuro.Inference.Models.ModelFileStore.Sha256FileAsync(path);
        var cache = Directory.CreateTempSubdirectory("neuro-serving-cache-").FullName;
        await using var silo = await Neuro.Testing.SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Neuro:Inference:Models:bench:Uri"] = new Uri(path).AbsoluteUri,
            ["Neuro:Inference:Models:bench:Sha256"] = sha,
            ["Neuro:Inference:DevModel"] = "false",
            ["Neuro:Inference:CacheDirectory"] = cache,
            ["Neuro:Dashboard"] = "false",
            ["Neuro:Agents:DefaultPoolWorkers"] = "0",
            ["Neuro:Inference:IntraOpThreads"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }.Concat(extra).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Last().Value));
        if (extra.Count > 0)
        {
            Console.WriteLine($"silo settings: {string.Join(", ", extra.Select(kv => $"{kv.Key}={kv.Value}"))}");
        }
        using var http = new HttpClient { BaseAddress = silo.Rest, Timeout = TimeSpan.FromMinutes(5) };
        const string content = "benchmark prompt";
        var promptTokens = System.Text.Encoding.UTF8.GetBytes($"<|user|>\n{content}\n<|assistant|>\n").Select(b => (int)b).ToArray();
        var serving = new List<double>();
        var raws = new List<double>();
        var spin = !extra.TryGetValue("Neuro:Inference:AllowSpinning", out var sp) || bool.Parse(sp);
        using var raw = DecoderModel.Load(path, new InferenceOptions { IntraOpThreads = threads, AllowSpinning = spin });
        var siloCpu = new List<double>();
        var rawCpu = new List<double>();
        var idleCpu = new List<double>();

        // Warm-up to steady state: the first stream loads the model; then more streams until the silo's tiered JIT has
        // gone quiet, because each request path runs only a few times per stream and dynamic PGO recompiles a method up
        // to three times — measured straight after start the JIT thread takes a core's share from the decode loop.
        var sessions = 0;
        var cold = await StreamAsync(tokens);
        Console.WriteLine($"from zero: the first request to a silo that has never served the model (open session + stream; the silo fetches the " +
                          $"{new FileInfo(path).Length / 1e6:F0} MB file into its cache, checks its sha256, loads and warms the ORT session, prefills) " +
                          $"got its first token after {cold.FirstToken.TotalSeconds:F2} s");
        var quiet = 0;
        var warmups = 1;
        while (warmups < maxWarmups && quiet < 3)
        {
            var jit0 = JitCpu(silo.ProcessId);
            await StreamAsync(tokens); // the same streams as measured, so every path they take is warm
            warmups++;
            quiet = JitSince(silo.ProcessId, jit0) < 5 ? quiet + 1 : 0;
        }
        Console.WriteLine($"warm-up: {warmups} streams of {tokens} tokens (until the silo's background JIT was quiet for 3 in a row, at most {maxWarmups})");
        var threads0 = ThreadCpu(silo.ProcessId);
        var jitBefore = JitCpu(silo.ProcessId);
        for (var r = 0; r < reps; r++)
        {
            var cpu0 = ProcessCpu(silo.ProcessId);
            var (seen, last, _) = await StreamAsync(tokens);
            var cpu1 = ProcessCpu(silo.ProcessId);
            var own0 = Process.GetCurrentProcess().TotalProcessorTime;
            var rawRun = RawLoop(raw, promptTokens, tokens);
            var own1 = Process.GetCurrentProcess().TotalProcessorTime;
            var cpu2 = ProcessCpu(silo.ProcessId);
            serving.Add((seen - 1) / last.TotalSeconds);
            siloCpu.Add((cpu1 - cpu0).TotalMilliseconds / seen);
            rawCpu.Add((own1 - own0).TotalMilliseconds / tokens);
            idleCpu.Add((cpu2 - cpu1).TotalMilliseconds / tokens);
            raws.Add(rawRun.TokPerSec);
        }
        var jitDuring = JitSince(silo.ProcessId, jitBefore);

        async Task<(int Seen, TimeSpan Last, TimeSpan FirstToken)> StreamAsync(int maxTokens)
        {
            var session = $"bench-{sessions++}";
            var fromRequest = Stopwatch.StartNew();
            var firstToken = TimeSpan.Zero;
            var open = $"{{\"session_id\": \"{session}\", \"model\": \"bench\"}}";
            (await http.PostAsync("/api/v1/sessions", new StringContent(open, System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/sessions/{session}/turns:stream")
            {
                Content = new StringContent($"{{\"content\": \"{content}\", \"max_tokens\": {maxTokens}}}", System.Text.Encoding.UTF8, "application/json"),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var seen = 0;
            var sw = new Stopwatch();
            var last = TimeSpan.Zero;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("event: token", StringComparison.Ordinal)) continue;
                if (++seen == 1) { sw.Start(); firstToken = fromRequest.Elapsed; } // decode rate: from the first token to the last one, as for the raw loop
                last = sw.Elapsed;           // (not to the end of the response, which also stores the answer)
            }
            return (seen, last, firstToken);
        }
        Console.WriteLine($"| single stream through the serving path (REST SSE → grain → batcher; prompt {promptTokens.Length}, {tokens} tokens, median of {reps}) | tokens/s | ms/token |");
        Console.WriteLine("|---|---|---|");
        Console.WriteLine($"| ours: silo process, session grain, server-sent events | {Median(serving):F2} | {1000 / Median(serving):F1} |");
        Console.WriteLine($"| baseline: raw ORT loop on the same file (argmax, no streaming) | {Median(raws):F2} | {1000 / Median(raws):F1} |");
        Console.WriteLine($"| ratio ours / raw (goal ≥ 0.95) | {Median(serving) / Median(raws):F3} | |");
        Console.WriteLine($"(all runs tok/s: raw [{string.Join(", ", raws.Select(x => x.ToString("F1")))}], serving [{string.Join(", ", serving.Select(x => x.ToString("F1")))}])");
        Console.WriteLine($"(silo JIT thread CPU during the measured streams: {jitDuring:F0} ms)");
        if (Environment.GetEnvironmentVariable("NEURO_BENCH_THREADS") == "1")
        {
            var t1 = ThreadCpu(silo.ProcessId);
            var byName = t1.Select(kv => (kv.Key, d: kv.Value - threads0.GetValueOrDefault(kv.Key)))
                .GroupBy(x => x.Key.StartsWith(".NET TP Worker", StringComparison.Ordinal) ? x.Key : x.Key.Split('#')[0]).Select(g => (name: g.Key, ms: g.Sum(x => x.d), n: g.Count())).OrderByDescending(x => x.ms);
            foreach (var (name, ms, n) in byName.Take(15)) Console.WriteLine($"  silo threads '{name}' x{n}: {ms:F0} ms CPU");
        }
        Console.WriteLine($"(CPU ms per token, median: silo process over the whole request {Median(siloCpu):F2}, raw loop {Median(rawCpu):F2}; idle silo while the raw loop ran {Median(idleCpu):F2}; " +
                          $"with spinning ORT threads these include spin time)");
        Console.WriteLine();
        try { Directory.Delete(cache, true); } catch (IOException) { }
    }

    /// <summary>Snapshot of the CPU ms of the runtime's background (tiered) JIT threads, by thread.</summary>
    private static Dictionary<string, double> JitCpu(int pid) =>
        ThreadCpu(pid).Where(kv => kv.Key.StartsWith(".NET Tiered Com", StringComparison.Ordinal)).ToDictionary();

    /// <summary>JIT CPU ms between two snapshots: the thread exits when idle and a new one starts on demand.</summary>
    private static double JitSince(int pid, Dictionary<string, double> before) =>
        JitCpu(pid).Sum(kv => kv.Value - before.GetValueOrDefault(kv.Key));

    /// <summary>CPU ms of each thread of a process so far, keyed "name#tid" (Linux /proc).</summary>
    private static Dictionary<string, double> ThreadCpu(int pid)
    {
        var d = new Dictionary<string, double>();
        foreach (var t in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            if (StatCpu(Path.Combine(t, "stat")) is { } thread) d[$"{thread.Name}#{Path.GetFileName(t)}"] = thread.Ms;
        }
        return d;
    }

    /// <summary>User + system CPU time of a process so far (Linux /proc; zero elsewhere).</summary>
    private static TimeSpan ProcessCpu(int pid) =>
        StatCpu($"/proc/{pid}/stat") is { } p ? TimeSpan.FromMilliseconds(p.Ms) : TimeSpan.Zero;

    /// <summary>Name and utime + stime (fields 14 and 15, in 10-ms ticks) of a /proc stat file; null once it is gone.</summary>
    private static (string Name, double Ms)? StatCpu(string statPath)
    {
        try
        {
            var stat = File.ReadAllText(statPath);
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (stat[(stat.IndexOf('(') + 1)..stat.LastIndexOf(')')], (long.Parse(f[11]) + long.Parse(f[12])) * 10.0);
        }
        catch (IOException) { return null; }
    }

    private static GenerationOptions G(int n) => GenerationOptions.Greedy(n) with { IgnoreEos = true };

    private sealed record Result(List<int> Tokens, double TokPerSec);

    private static int[] Prompt(int n, int vocab, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => r.Next(0, Math.Min(vocab, 50000))).ToArray();
    }

    /// <summary>Decode tokens/s excluding the prefill (first token).</summary>
    private static async Task<Result> Single(DecoderModel model, int[] prompt, int n)
    {
        var gen = new DecoderGenerator(model);
        using var state = new SequenceState();
        var list = new List<int>();
        var sw = new Stopwatch();
        await foreach (var t in gen.GenerateAsync(state, prompt, G(n)))
        {
            list.Add(t.TokenId);
            if (list.Count == 1) sw.Start();
        }
        return new Result(list, (list.Count - 1) / sw.Elapsed.TotalSeconds);
    }

    /// <summary>The baseline: DecoderModel.Run in a plain loop, argmax, presents fed straight back.</summary>
    private static Result RawLoop(DecoderModel model, int[] prompt, int n)
    {
        using var state = new SequenceState(prompt);
        var list = new List<int>();
        var sw = new Stopwatch();
        for (int i = 0; i < n; i++)
        {
            var logits = model.Forward(state);
            var next = Sampler.ArgMax(logits.AsSpan(logits.Length - model.VocabSize));
            list.Add(next);
            state.Tokens.Add(next);
            if (i == 0) sw.Start();
        }
        return new Result(list, (n - 1) / sw.Elapsed.TotalSeconds);
    }

    private sealed record ConcurrentResult(List<int>[] Outputs, double TokPerSec, double Wall);

    private static async Task<ConcurrentResult> Concurrent(int[][] prompts, int n, Func<SequenceState, int[], IAsyncEnumerable<GeneratedToken>> run)
    {
        var sw = Stopwatch.StartNew();
        var tasks = prompts.Select(p => Task.Run(async () =>
        {
            using var s = new SequenceState();
            var l = new List<int>();
            await foreach (var t in run(s, p))
            {
                l.Add(t.TokenId);
            }
            return l;
        })).ToArray();
        var outs = await Task.WhenAll(tasks);
        var wall = sw.Elapsed.TotalSeconds;
        return new ConcurrentResult(outs, outs.Sum(o => o.Count) / wall, wall);
    }

    private static async Task<double> Ttft(DecoderGenerator gen, SequenceState state, int[] newTokens, int n)
    {
        var sw = Stopwatch.StartNew();
        double first = -1;
        await foreach (var _ in gen.GenerateAsync(state, newTokens, G(n)))
            if (first < 0) first = sw.Elapsed.TotalMilliseconds;
        return first;
    }

    /// <summary>Best of 5: parallel read bandwidth (one thread per core summing a 512 MB array) and single-thread memcpy (bytes copied/s).</summary>
    private static (double ReadGbps, double CopyGbps) Bandwidth()
    {
        const int size = 512 << 20;
        var a = GC.AllocateUninitializedArray<byte>(size, pinned: true);
        var b = GC.AllocateUninitializedArray<byte>(size, pinned: true);
        Array.Fill(a, (byte)1);
        Array.Fill(b, (byte)2);
        double read = 0, copy = 0;
        int threads = Environment.ProcessorCount;
        for (int i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            a.AsSpan().CopyTo(b);
            copy = Math.Max(copy, size / sw.Elapsed.TotalSeconds / 1e9);
            sw.Restart();
            long total = 0;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                var chunk = MemoryMarshal.Cast<byte, System.Numerics.Vector<long>>(a.AsSpan(t * (size / threads), size / threads));
                var acc = System.Numerics.Vector<long>.Zero;
                foreach (var v in chunk) acc += v;
                Interlocked.Add(ref total, System.Numerics.Vector.Sum(acc));
            });
            read = Math.Max(read, size / sw.Elapsed.TotalSeconds / 1e9);
            GC.KeepAlive(total);
        }
        return (read, copy);
    }

    private static string LoadAvg() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

    private static double Median(List<double> xs) { var s = xs.Order().ToList(); return s[s.Count / 2]; }

    private static string Arg(string[] args, string name, string def)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : def;
    }
}
