using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Neuro.Abstractions;
using Neuro.FrontDoor.V1;

namespace Neuro.FrontDoor;

/// <summary>The Sessions API: a thin translation between the wire messages and <see cref="ISessionGrain"/>.
/// Validation lives in the grain (one place for every face: gRPC, REST, and the client SDK).</summary>
internal sealed class SessionsService(IGrainFactory grains) : Sessions.SessionsBase
{
    [Microsoft.AspNetCore.Authorization.Authorize(Policy = NeuroRoles.CanSubmit)]
    public override async Task<V1.Session> CreateSession(CreateSessionRequest request, ServerCallContext context)
    {
        if (request.IdleTtlSeconds < 0)
        {
            throw NeuroRequestException.Invalid("idle_ttl_seconds", "must be 0 (the default) or positive");
        }
        var id = string.IsNullOrEmpty(request.SessionId) ? Guid.NewGuid().ToString("N") : request.SessionId;
        AgentSessionSpec? agent = null;
        if (request.Agent is { } a)
        {
            var (width, height) = TasksService.Resolution(a.ScreenResolution, "agent.screen_resolution");
            agent = new AgentSessionSpec(a.Mode.Length == 0 ? "web" : a.Mode, width, height, NullIfEmpty(a.StartUrl),
                a.Pool.Length == 0 ? "default" : a.Pool, NeuroRoles.TenantOf(context.GetHttpContext().User));
        }
        var snapshot = await grains.GetGrain<ISessionGrain>(id).OpenAsync(new SessionOpenRequest(
            NullIfEmpty(request.Pool), NullIfEmpty(request.Model),
            request.IdleTtlSeconds > 0 ? TimeSpan.FromSeconds(request.IdleTtlSeconds) : null, agent));
        return ToMessage(snapshot);
    }

    public override async Task<V1.Session> GetSession(GetSessionRequest request, ServerCallContext context)
    {
        var snapshot = await grains.GetGrain<ISessionGrain>(RequireId(request.SessionId)).GetAsync()
            ?? throw NeuroRequestException.NotFound("session_id", $"session '{request.SessionId}' does not exist");
        return ToMessage(snapshot);
    }

    [Microsoft.AspNetCore.Authorization.Authorize(Policy = NeuroRoles.CanSubmit)]
    public override async Task<V1.Turn> AppendTurn(AppendTurnRequest request, ServerCallContext context)
    {
        var input = new TurnInput(request.Role, request.Content, request.PromptTokens, request.CompletionTokens);
        var ack = await grains.GetGrain<ISessionGrain>(RequireId(request.SessionId)).AppendTurnAsync(input);
        return ToMessage(input.Stored(ack));
    }

    internal static string RequireId(string id) =>
        string.IsNullOrEmpty(id) ? throw NeuroRequestException.Invalid("session_id", "must not be empty") : id;

    [Microsoft.AspNetCore.Authorization.Authorize(Policy = NeuroRoles.CanSubmit)]
    public override async Task StreamTurn(StreamTurnRequest request, IServerStreamWriter<TokenChunk> responseStream, ServerCallContext context)
    {
        var chunks = grains.GetGrain<ISessionGrain>(RequireId(request.SessionId)).GenerateAsync(ToGenerate(request), context.CancellationToken);
        await foreach (var chunk in chunks.WithCancellation(context.CancellationToken))
        {
            await responseStream.WriteAsync(ToMessage(chunk), context.CancellationToken);
        }
    }

    internal static GenerateRequest ToGenerate(StreamTurnRequest r) =>
        new(r.Content, r.MaxTokens == 0 ? 64 : r.MaxTokens, r.Temperature, r.Seed, r.Stop.Count == 0 ? null : r.Stop.ToArray());

    internal static TokenChunk ToMessage(GeneratedChunk c) => new()
    {
        Index = c.Index, Text = c.Text, TokenId = c.TokenId, FinishReason = c.FinishReason ?? "", Seq = c.Seq ?? 0, PrefillTokens = c.PrefillTokens ?? 0,
    };

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    private static V1.Session ToMessage(SessionSnapshot s)
    {
        var message = new V1.Session
        {
            SessionId = s.SessionId,
            Pool = s.Pool ?? "",
            Model = s.Model ?? "",
            CreatedAt = Timestamp.FromDateTimeOffset(s.CreatedAt),
            LastActivityAt = Timestamp.FromDateTimeOffset(s.LastActivityAt),
            ExpiresAt = Timestamp.FromDateTimeOffset(s.ExpiresAt),
            PromptTokens = s.PromptTokens,
            CompletionTokens = s.CompletionTokens,
            Silo = s.Silo,
        };
        message.Turns.AddRange(s.Turns.Select(ToMessage));
        if (s.Agent is { } a)
        {
            message.Agent = new AgentSession { Mode = a.Mode, ScreenResolution = $"{a.Width}x{a.Height}", StartUrl = a.StartUrl ?? "", Pool = a.Pool };
        }
        return message;
    }

    private static V1.Turn ToMessage(Abstractions.Turn t) => new()
    {
        Seq = t.Seq,
        Role = t.Role,
        Content = t.Content,
        PromptTokens = t.PromptTokens,
        CompletionTokens = t.CompletionTokens,
        CreatedAt = Timestamp.FromDateTimeOffset(t.CreatedAt),
    };
}
