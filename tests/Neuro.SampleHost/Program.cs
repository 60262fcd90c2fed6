using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Neuro.Abstractions;
using Neuro.Client;

namespace Neuro.SampleHost;

/// <summary>A host app using the client SDK: open a session, add two turns, read the history back.
/// Run it against the dev cluster: <c>dotnet run --project tests/Neuro.SampleHost</c>
/// (options: <c>--Neuro:Client:GatewayPort=30000</c>, <c>--Neuro:Client:Cluster=Redis --Neuro:Client:Redis=host:6379</c>).</summary>
public static class SampleApp
{
    public static async Task<int> Main(string[] args) => await RunAsync(args, Console.Out);

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddNeuroClient(o => builder.Configuration.GetSection(NeuroClientOptions.Section).Bind(o));
        using var host = builder.Build();
        await host.StartAsync();

        var neuro = host.Services.GetRequiredService<INeuroClient>();
        var session = await neuro.OpenSessionAsync($"sample-{Guid.NewGuid():N}");
        await neuro.AppendTurnAsync(session.SessionId, new TurnInput("user", "What is the capital of France?", PromptTokens: 9));
        await neuro.AppendTurnAsync(session.SessionId, new TurnInput("assistant", "Paris.", CompletionTokens: 2));

        var history = await neuro.GetSessionAsync(session.SessionId)
            ?? throw new InvalidOperationException("the session vanished");
        output.WriteLine($"session {history.SessionId} on silo {history.Silo}: {history.Turns.Count} turns, {history.PromptTokens}+{history.CompletionTokens} tokens");
        foreach (var turn in history.Turns)
        {
            output.WriteLine($"  #{turn.Seq} {turn.Role}: {turn.Content}");
        }
        await host.StopAsync();
        return 0;
    }
}
