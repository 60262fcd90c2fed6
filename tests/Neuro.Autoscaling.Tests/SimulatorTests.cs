using Neuro.Autoscaling;
using Neuro.Autoscaling.Scalers;
using Neuro.Autoscaling.Simulation;

namespace Neuro.Autoscaling.Tests;

public class SimulatorTests
{
    private static readonly ServiceModel M = TestModels.Small;

    private sealed class Fixed(int n) : IScaler
    {
        public string Name => "fixed";
        public ScalingDecision Decide(ScalingSnapshot s) => new(n, "fixed");
    }

    [Fact]
    public void Single_request_latency_follows_the_service_model()
    {
        var r = new Simulator(M, [new TraceRequest(0, 100, 11)], new SimulationOptions { InitialReplicas = 1 }).Run(new Fixed(1));
        Assert.Equal(0.2, r.Outcomes[0].Ttft, 9);            // 0.1 + 100 x 0.001
        Assert.Equal(0.2 + 10 * 0.01, r.Outcomes[0].E2E, 9);  // first token at prefill end, 10 more at 10 ms
        Assert.Equal(1.0, r.SloAttainment);
    }

    [Fact]
    public void Prefills_on_one_replica_are_serialised_fifo()
    {
        var trace = new[] { new TraceRequest(0, 100, 1), new TraceRequest(0, 100, 1), new TraceRequest(0, 100, 1) };
        var r = new Simulator(M, trace, new SimulationOptions { InitialReplicas = 1 }).Run(new Fixed(1));
        Assert.Equal([0.2, 0.4, 0.6], r.Outcomes.Select(o => Math.Round(o.Ttft, 9)).ToArray());
        var two = new Simulator(M, trace, new SimulationOptions { InitialReplicas = 2 }).Run(new Fixed(2));
        Assert.Equal([0.2, 0.2, 0.4], two.Outcomes.Select(o => Math.Round(o.Ttft, 9)).ToArray());
    }

    [Fact]
    public void Deadline_first_front_door_serves_the_request_whose_slo_runs_out_first()
    {
        // SLO = max(1 s, 2 x prefill). X holds the one replica until 1.0 s; the long request A (prefill 2.1 s, may start
        // as late as 2.2 s) arrived before the short B (prefill 0.2 s, must start by 1.05 s).
        var m = M with { TtftSloScale = 2 };
        var trace = new[] { new TraceRequest(0, 900, 1), new TraceRequest(0.1, 2000, 1), new TraceRequest(0.25, 100, 1) };
        var fifo = new Simulator(m, trace, new SimulationOptions { InitialReplicas = 1 }).Run(new Fixed(1));
        var edf = new Simulator(m, trace, new SimulationOptions { InitialReplicas = 1, FrontDoor = FrontDoorOrder.DeadlineFirst }).Run(new Fixed(1));
        Assert.Equal([true, true, false], fifo.Outcomes.Select(o => o.MetSlo).ToArray());   // B waits behind A: TTFT 2.85 s
        Assert.Equal([true, true, true], edf.Outcomes.Select(o => o.MetSlo).ToArray());
        Assert.Equal(1.0 - 0.25 + 0.2, edf.Outcomes[2].Ttft, 9);
        Assert.Equal(1.2 + 2.1 - 0.1, edf.Outcomes[1].Ttft, 9);
    }

    [Fact]
    public void Deadline_first_front_door_puts_a_request_already_past_its_latest_start_behind_those_that_can_still_make_it()
    {
        // X holds the replica until 2.0 s. C (must start by 0.9 s) is lost by then; D (must start by 2.1 s) is not.
        var trace = new[] { new TraceRequest(0, 1900, 1), new TraceRequest(0.1, 100, 1), new TraceRequest(1.3, 100, 1) };
        var fifo = new Simulator(M, trace, new SimulationOptions { InitialReplicas = 1 }).Run(new Fixed(1));
        var edf = new Simulator(M, trace, new SimulationOptions { InitialReplicas = 1, FrontDoor = FrontDoorOrder.DeadlineFirst }).Run(new Fixed(1));
        Assert.Equal([true, false, false], fifo.Outcomes.Select(o => o.MetSlo).ToArray());
        Assert.Equal([true, false, true], edf.Outcomes.Select(o => o.MetSlo).ToArray());
        Assert.Equal(2.4 - 0.1, edf.Outcomes[1].Ttft, 9);   // still served, right after D
    }

    [Fact]
    public void Kv_capacity_blocks_admission_until_a_sequence_finishes()
    {
        var small = M with { KvCacheTokens = 150 };
        // each request reserves 100 + 11 tokens, so the second waits for the first to finish (E2E 0.2 + 0.1 = 0.3 s)
        var r = new Simulator(small, [new TraceRequest(0, 100, 11), new TraceRequest(0, 100, 11)], new SimulationOptions { InitialReplicas = 1 }).Run(new Fixed(1));
        Assert.Equal(0.3 + 0.2, r.Outcomes[1].Ttft, 9);
    }

    [Fact]
    public void Gpu_hours_and_cost_integrate_held_replicas()
    {
        var model = M with { GpusPerReplica = 4 };
        var r = new Simulator(model, [new TraceRequest(0, 10, 1), new TraceRequest(1800, 10, 1)], new SimulationOptions { InitialReplicas = 2 }).Run(new Fixed(2));
        // 2 replicas x 4 GPUs held until the last completion at 1800.11 s
        Assert.Equal(2 * 4 * 1800.11 / 3600, r.GpuHours, 6);
        Assert.Equal(r.GpuHours * 2, r.Cost, 6);
    }

    [Fact]
    public void Scale_from_zero_pays_the_cold_start_or_the_warm_start()
    {
        var one = new[] { new TraceRequest(0, 100, 1) };
        var cap = new ReplicaCapacity(1000, 8, 100_000, 0.01);
        var cold = new Simulator(M, one, new SimulationOptions { InitialReplicas = 0 })
            .Run(new TokenAwareScaler(new TokenAwareOptions { Capacity = cap, PrewarmPercent = 0 }));
        var warm = new Simulator(M, one, new SimulationOptions { InitialReplicas = 0, InitialWarmReplicas = 1 })
            .Run(new TokenAwareScaler(new TokenAwareOptions { Capacity = cap, PrewarmPercent = 20 }));
        Assert.Equal(30.2, cold.Outcomes[0].Ttft, 6);
        Assert.Equal(5.2, warm.Outcomes[0].Ttft, 6);
    }

    [Fact]
    public void A_scaler_that_never_scales_from_zero_serves_nothing_until_the_next_tick()
    {
        // HPA-style scalers are only asked on the control tick; with min 1 the first tick starts a replica (cold 30 s).
        var r = new Simulator(M, [new TraceRequest(0, 100, 1)], new SimulationOptions { InitialReplicas = 0, ControlIntervalSeconds = 15 })
            .Run(new QueueBasedScaler(new ReplicaBounds(1, 4)));
        Assert.Equal(15 + 30 + 0.2, r.Outcomes[0].Ttft, 6);
    }

    [Fact]
    public void Same_seed_same_result_with_start_jitter()
    {
        var model = M with { StartJitter = 0.2 };
        var trace = Enumerable.Range(0, 400).Select(i => new TraceRequest(i * 0.5, 200 + i % 7 * 50, 20)).ToList();
        SimulationResult Run(int seed) => new Simulator(model, trace, new SimulationOptions { InitialReplicas = 0, Seed = seed })
            .Run(new TokenAwareScaler(new TokenAwareOptions { Capacity = new(1000, 8, 100_000, 0.01), PrewarmPercent = 0 }));
        var a = Run(7); var b = Run(7);
        Assert.Equal(a.Outcomes.Select(o => o.Ttft), b.Outcomes.Select(o => o.Ttft));
        Assert.Equal(a.GpuHours, b.GpuHours);
        Assert.NotEqual(a.Outcomes.Select(o => o.Ttft), Run(8).Outcomes.Select(o => o.Ttft));
    }

    [Fact]
    public void Oracle_meets_the_target_and_is_cheaper_than_static_peak_provisioning()
    {
        // 5 minutes at 2 req/s, then 5 minutes at 8 req/s, then 5 at 2 (requests of 200 tokens: 0.3 s prefill each).
        var trace = new List<TraceRequest>();
        for (var t = 0.0; t < 900; )
        {
            trace.Add(new TraceRequest(t, 200, 5));
            t += t is >= 300 and < 600 ? 0.125 : 0.5;
        }
        var o = HindsightOracle.Run(M, trace, 15, 0.99);
        Assert.True(o.Simulated.SloAttainment >= 0.99, $"oracle attainment {o.Simulated.SloAttainment}");
        // the repair only raises the fluid schedule; the prune may go below it (the fluid estimate is not a bound)
        Assert.True(o.FluidGpuHours <= o.Repaired!.GpuHours + 1e-9);
        Assert.True(o.WorkBoundGpuHours <= o.Simulated.GpuHours + 1e-12);
        var peak = o.Schedule.Max();
        var staticPeak = new Simulator(M, trace, new SimulationOptions { InitialReplicas = peak }).Run(new Fixed(peak));
        Assert.True(o.Simulated.GpuHours < staticPeak.GpuHours, $"{o.Simulated.GpuHours} vs {staticPeak.GpuHours}");
        // work conservation: 8 req/s x 0.3 s = 2.4 busy replicas at the peak, so at least 3 there
        Assert.True(peak >= 3);
    }

    [Fact]
    public void Work_bound_is_below_every_scalers_billed_gpu_hours_and_the_per_window_fluid_estimate_is_not_a_bound()
    {
        // 16 one-second prefills (1000 tokens at 1 ms/token, no fixed cost) 0.9 s apart: 16 s of work in the first 15-s window.
        var m = M with { PrefillFixedSeconds = 0, DecodeSecondsPerToken = 0.01, TtftSloSeconds = 3, MaxSequences = 256 };
        var trace = Enumerable.Range(0, 16).Select(k => new TraceRequest(k * 0.9, 1000, 1)).ToList();
        var oracle = HindsightOracle.Run(m, trace, 15, 0.99);
        var one = new Simulator(m, trace, new SimulationOptions { InitialReplicas = 1 }).Run(new Fixed(1));
        Assert.Equal(1.0, one.SloAttainment);                     // one replica serves all within the SLO (waits ≤ 1.5 s)...
        Assert.True(one.GpuHours < oracle.FluidGpuHours);         // ...for less than the per-window estimate (2 windows of 2 + 1)
        Assert.True(one.GpuHours >= oracle.WorkBoundGpuHours - 1e-12);
        Assert.Equal(16.0 / 3600, oracle.WorkBoundGpuHours, 9);   // = the prefill seconds: the binding resource here

        // on a bursty Poisson-like trace no scaler, at any attainment, bills less than the work bound
        var rng = new Random(7); var t = 0.0;
        var bursty = new List<TraceRequest>();
        while (t < 900) { t += -Math.Log(1 - rng.NextDouble()) / (t % 300 < 100 ? 6 : 1.5); bursty.Add(new TraceRequest(t, 100 + rng.Next(900), 1 + rng.Next(200))); }
        var bound = HindsightOracle.WorkBound(m, bursty, 120);
        var cap = new ReplicaCapacity(m.PrefillTokensPerSecond(550), m.MaxSequences, m.KvCacheTokens, m.DecodeSecondsPerToken);
        foreach (var scaler in new IScaler[] { new Fixed(1), new Fixed(6), new TokenAwareScaler(new TokenAwareOptions { Capacity = cap }),
                     HpaScaler.Utilization(0.7, new HpaScaler.Options { Bounds = new(1, 64) }), new QueueBasedScaler(new ReplicaBounds(1, 64)) })
        {
            var r = new Simulator(m, bursty, new SimulationOptions { InitialReplicas = 1, WarmupSeconds = 120 }).Run(scaler);
            Assert.True(r.GpuHours >= bound - 1e-12, $"{scaler.Name}: {r.GpuHours} < {bound}");
        }
        Assert.True(HindsightOracle.Run(m, bursty, 15, 0.99, warmupSeconds: 120).Simulated.GpuHours >= bound);
    }

    [Fact]
    public void Ours_on_a_step_load_meets_the_slo_with_fewer_gpu_hours_than_static_peak()
    {
        var trace = new List<TraceRequest>();
        for (var t = 0.0; t < 1200; ) { trace.Add(new TraceRequest(t, 200, 5)); t += t is >= 400 and < 800 ? 0.125 : 0.5; }
        var cap = new ReplicaCapacity(M.PrefillTokensPerSecond(200), M.MaxSequences, M.KvCacheTokens, M.DecodeSecondsPerToken);
        var ours = new Simulator(M, trace, new SimulationOptions { InitialReplicas = 1, InitialWarmReplicas = 1 })
            .Run(new TokenAwareScaler(new TokenAwareOptions { Capacity = cap, QueueDelayBudgetSeconds = 0.5, ColdStartSeconds = 30, WarmStartSeconds = 5, TargetPrefillUtilization = 0.7 }));
        var peak = new Simulator(M, trace, new SimulationOptions { InitialReplicas = 4 }).Run(new Fixed(4));
        Assert.True(ours.GpuHours < peak.GpuHours);
        Assert.True(ours.SloAttainment > 0.9, $"attainment {ours.SloAttainment}");
    }
}

public class TraceLoaderTests
{
    [Fact]
    public void Azure_csv_with_crlf_and_no_final_newline()
    {
        var p = Path.GetTempFileName();
        File.WriteAllText(p, "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6805900,374,44\r\n2023-11-16 18:15:50.9951690,396,109");
        var t = TraceLoader.Load(p);
        File.Delete(p);
        Assert.Equal(2, t.Count);
        Assert.Equal(0, t[0].ArrivalSeconds);
        Assert.Equal(4.314579, t[1].ArrivalSeconds, 6);
        Assert.Equal((396, 109), (t[1].ContextTokens, t[1].OutputTokens));
    }

    [Fact]
    public void Mooncake_jsonl_milliseconds_to_seconds()
    {
        var p = Path.ChangeExtension(Path.GetTempFileName(), ".jsonl");
        File.WriteAllText(p, "{\"timestamp\": 0, \"input_length\": 6758, \"output_length\": 500, \"hash_ids\": [0, 1]}\n{\"timestamp\": 3000, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": []}\n");
        var t = TraceLoader.Load(p);
        File.Delete(p);
        Assert.Equal([0.0, 3.0], t.Select(x => x.ArrivalSeconds));
        Assert.Equal(6758, t[0].ContextTokens);
    }

    [Fact]
    public void Real_trace_slices_load_sorted_when_present()
    {
        const string azure = "/work/shared/data/traces/AzureLLMInferenceTrace_conv.csv";
        const string moon = "/work/shared/data/traces/mooncake_conversation_trace.jsonl";
        if (!File.Exists(azure) || !File.Exists(moon)) return;   // data set lives outside the repository
        var a = TraceLoader.Load(azure, 300); var m = TraceLoader.Load(moon, 300);
        Assert.Equal(300, a.Count); Assert.Equal(300, m.Count);
        Assert.True(a.Zip(a.Skip(1)).All(p => p.First.ArrivalSeconds <= p.Second.ArrivalSeconds));
        Assert.True(m.All(r => r.ContextTokens > 0 && r.OutputTokens >= 0));
    }

    [Fact]
    public void Service_model_file_in_the_repository_loads_and_cites_sources()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "src/Neuro.Autoscaling/ServiceModels/llama3-70b-tp4-a100.json"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var m = ServiceModel.Load(Path.Combine(dir!.FullName, "src/Neuro.Autoscaling/ServiceModels/llama3-70b-tp4-a100.json"));
        Assert.Equal(4, m.GpusPerReplica);
        Assert.True(m.ColdStartSeconds > m.WarmStartSeconds && m.WarmStartSeconds > 0);
        Assert.Contains("gpu", m.Sources.Keys);
        // 1000-token prompt: 0.02 + 1000 x 2.263e-4 + 1e6 x 2.1e-9 = 0.2484 s
        Assert.Equal(0.2484, m.PrefillSeconds(1000), 3);
    }
}

public class OnlineForecastTests
{
    [Fact]
    public void Damped_holt_follows_a_level_and_bounds_a_trend()
    {
        var f = OnlineForecast.Holt(15);
        Assert.Equal(5.0, f(Enumerable.Repeat(5.0, 20).ToList(), 600), 9);
        // a ramp of +1 per step: the damped forecast 40 steps ahead adds at most trend·φ/(1−φ) = 9 steps' worth
        var ramp = Enumerable.Range(0, 100).Select(i => (double)i).ToList();
        var fc = f(ramp, 600);
        Assert.InRange(fc, 99, 99 + 9.01);
        Assert.Equal(0, f([10, 5, 1, 0, 0, 0], 600));   // never negative
    }
}

public class WarmupTests
{
    private sealed class Fixed(int n) : IScaler
    {
        public string Name => "fixed";
        public ScalingDecision Decide(ScalingSnapshot s) => new(n, "fixed");
    }

    [Fact]
    public void Warmup_excludes_early_requests_and_early_gpu_time()
    {
        var m = new ServiceModel { GpusPerReplica = 2, PrefillSecondsPerToken = 0.001, DecodeSecondsPerToken = 0.01, MaxSequences = 8, KvCacheTokens = 10_000, TtftSloSeconds = 1, TtftSloScale = 1 };
        // request 0 waits 5 s behind a 5-s prefill (misses the SLO) but arrives before the warm-up ends
        var trace = new[] { new TraceRequest(0, 5000, 1), new TraceRequest(0, 100, 1), new TraceRequest(1000, 100, 1) };
        var r = new Simulator(m, trace, new SimulationOptions { InitialReplicas = 1, WarmupSeconds = 600 }).Run(new Fixed(1));
        Assert.Equal(1, r.Requests);
        Assert.Equal(1.0, r.SloAttainment);
        Assert.Equal(2 * (1000.1 - 600) / 3600, r.GpuHours, 6);
        var all = new Simulator(m, trace, new SimulationOptions { InitialReplicas = 1 }).Run(new Fixed(1));
        Assert.Equal(3, all.Requests);
        Assert.Equal(2.0 / 3, all.SloAttainment, 9);
    }
}
