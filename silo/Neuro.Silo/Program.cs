using Neuro.Silo;

var app = NeuroHost.Build(args);
app.Lifetime.ApplicationStarted.Register(() =>
{
    var rest = app.Configuration["Kestrel:Endpoints:Rest:Url"];
    var grpc = app.Configuration["Kestrel:Endpoints:Grpc:Url"];
    // Logged, not printed: with JSON logs every stdout line stays one JSON object.
    app.Logger.LogInformation("Neuro is up. REST: {Rest}/api/v1/health  gRPC (h2c): {Grpc}  metrics: {Rest}/api/v1/metrics  dashboard: {Rest}/dashboard", rest, grpc, rest, rest);
});
await app.RunAsync();
