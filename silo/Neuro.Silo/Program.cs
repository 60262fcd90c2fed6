using Neuro.Silo;

var app = NeuroHost.Build(args);
app.Lifetime.ApplicationStarted.Register(() =>
{
    var rest = app.Configuration["Kestrel:Endpoints:Rest:Url"];
    var grpc = app.Configuration["Kestrel:Endpoints:Grpc:Url"];
    Console.WriteLine($"Neuro is up. REST: {rest}/api/v1/health  gRPC (h2c): {grpc}  metrics: {rest}/api/v1/metrics  dashboard: {rest}/dashboard");
});
await app.RunAsync();
