// Benchmark CLI entry point: one sub-command per benchmark, each printing ours vs baseline vs limit side by side.
return args.FirstOrDefault() switch
{
    "sessions" => await Neuro.Benchmarks.Sessions.SessionBenchmark.RunAsync(args[1..]),
    "tasks" => await Neuro.Benchmarks.Tasks.TaskSubmitBenchmark.RunAsync(args[1..]),
    "neko" => await Neuro.Benchmarks.Neko.NekoBenchmark.RunAsync(args[1..]),
    "gpu-trace" => Neuro.Benchmarks.GpuTrace.GpuTraceCommand.Run(args[1..]),
    "forecast" => Neuro.Benchmarks.Autoscaling.ForecastCommand.Run(args[1..]),
    "autoscale" => Neuro.Benchmarks.Autoscaling.AutoscaleCommand.Run(args[1..]),
    "inference" => await Neuro.Benchmarks.Inference.InferenceBenchmark.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Neuro.Benchmarks <sessions|tasks|neko|gpu-trace|forecast|autoscale|inference> [options]");
    return 2;
}
