// Benchmark CLI entry point: one sub-command per benchmark, each printing ours vs baseline vs limit side by side.
try
{
    return args.FirstOrDefault() switch
    {
        "sessions" => await Neuro.Benchmarks.Sessions.SessionBenchmark.RunAsync(args[1..]),
        "tasks" => await Neuro.Benchmarks.Tasks.TaskSubmitBenchmark.RunAsync(args[1..]),
        "neko" => await Neuro.Benchmarks.Neko.NekoBenchmark.RunAsync(args[1..]),
        "gpu-trace" => Neuro.Benchmarks.GpuTrace.GpuTraceCommand.Run(args[1..]),
        "forecast" => Neuro.Benchmarks.Autoscaling.ForecastCommand.Run(args[1..]),
        "autoscale" => Neuro.Benchmarks.Autoscaling.AutoscaleCommand.Run(args[1..]),
        "synth-trace" => Neuro.Benchmarks.Autoscaling.SynthTraceCommand.Run(args[1..]),
        "inference" => await Neuro.Benchmarks.Inference.InferenceBenchmark.RunAsync(args[1..]),
        _ => Usage(),
    };
}
catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or ArgumentException or FormatException)
{
    // bad input (a missing data file, a malformed rate file or option): say what, not a stack trace
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

static int Usage()
{
    Console.Error.WriteLine("usage: Neuro.Benchmarks <sessions|tasks|neko|gpu-trace|forecast|autoscale|synth-trace|inference> [options]");
    return 2;
}
