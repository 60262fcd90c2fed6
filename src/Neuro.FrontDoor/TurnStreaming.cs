using System.Text.Json;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Neuro.Abstractions;
using Neuro.FrontDoor.V1;

namespace Neuro.FrontDoor;

/// <summary>
/// <c>POST /api/v1/sessions/{session_id}/turns:stream</c>: the REST face of <c>Sessions/StreamTurn</c>, as server-sent
/// events (<c>event: token</c> per token, <c>event: done</c> last). JSON transcoding has no SSE, so this endpoint reads
/// the same request message and calls the same grain method. Refusals before the first token are problem details; a
/// client that goes away cancels the enumeration, which stops generation within one decode step. Tokens are written
/// as the grain yields them and flushed one by one; Orleans pulls the grain's stream in batches on demand, so a slow
/// reader holds back generation instead of growing a buffer.
/// </summary>
internal static class TurnStreaming
{
    public static void MapTurnStreaming(this IEndpointRouteBuilder app) =>
        app.MapPost("/api/v1/sessions/{session_id}/turns:stream", HandleAsync)
            .RequireAuthorization(NeuroRoles.CanSubmit).RequireRateLimiting(SecurityExtensions.RateLimitPolicy);

    private static async Task HandleAsync(HttpContext context, string session_id, IGrainFactory grains)
    {
        StreamTurnRequest request;
        try
        {
            using var reader = new StreamReader(context.Request.Body);
            request = JsonParser.Default.Parse<StreamTurnRequest>(await reader.ReadToEndAsync(context.RequestAborted));
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            Refuse(context, NeuroRequestException.Invalid("body", $"not a valid request: {e.Message}"));
            return;
        }
        request.SessionId = session_id;
        var cancel = context.RequestAborted;
        IAsyncEnumerator<GeneratedChunk>? chunks = null;
        try
        {
            bool more;
            try
            {
                chunks = grains.GetGrain<ISessionGrain>(SessionsService.RequireId(session_id))
                    .GenerateAsync(SessionsService.ToGenerate(request), cancel).GetAsyncEnumerator(cancel);
                more = await chunks.MoveNextAsync(); // refusals (no session, bad field) arrive here, before any byte is sent
            }
            catch (NeuroRequestException e)
            {
                Refuse(context, e);
                return;
            }
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            context.Response.Headers["X-Accel-Buffering"] = "no"; // tell proxies not to hold the stream back
            for (; more; more = await chunks.MoveNextAsync())
            {
                var chunk = chunks.Current;
                var kind = chunk.FinishReason is null ? "token" : "done";
                await context.Response.WriteAsync($"event: {kind}\ndata: {Data(chunk)}\n\n", cancel);
                await context.Response.Body.FlushAsync(cancel);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // The client left; the grain saw the same cancellation and stopped generating.
        }
        catch (NeuroRequestException e) when (context.Response.HasStarted)
        {
            await context.Response.WriteAsync($"event: error\ndata: {JsonSerializer.Serialize(new { field = e.Field, detail = e.Message })}\n\n", CancellationToken.None);
        }
        finally
        {
            if (chunks is not null)
            {
                await chunks.DisposeAsync();
            }
        }
    }

    /// <summary>A TokenChunk as the rest of the REST API writes messages: snake_case, 64-bit integers as numbers.</summary>
    private static string Data(GeneratedChunk c) => c.FinishReason is null
        ? JsonSerializer.Serialize(new { index = c.Index, text = c.Text, token_id = c.TokenId })
        : JsonSerializer.Serialize(new { index = c.Index, text = c.Text, token_id = c.TokenId, finish_reason = c.FinishReason, seq = c.Seq, prefill_tokens = c.PrefillTokens });

    private static void Refuse(HttpContext context, NeuroRequestException e)
    {
        context.Items[NeuroErrorInterceptor.ItemKey] = e; // the problem-details middleware writes the body
        context.Response.StatusCode = ErrorMapping.For(e.Kind).Http;
    }
}
