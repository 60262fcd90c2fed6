using Neuro.Silo;

var app = NeuroHost.Build(args);
app.Lifetime.ApplicationStarted.Register(() =>
{
    foreach (var url in app.Urls)
    {
        Console.WriteLine($"Neuro front door: {url}/api/v1/health  (REST + gRPC; metrics at {url}/api/v1/metrics, dashboard at {url}/dashboard)");
    }
});
await app.RunAsync();
