using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Neuro.Cluster.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Neuro.Cluster.Tests;

/// <summary>Token streaming from the session grain through the front door, on the dev cluster's generated model (real
/// ONNX Runtime sessions): server-sent events over REST and server streaming over gRPC, the warm KV cache of a follow-up
/// turn, recomputation after the session moves, and cancellation.</summary>
public sealed class StreamingTests(NeuroHostFixture host, ITestOutputHelper output) : IClassFixture<NeuroHostFixture>
{
    private HttpClient Http => host.Http;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private sealed record Event(string Kind, JsonElement Data, TimeSpan At);

    private async Task<string> OpenAsync(string model = "tiny-random")
    {
        var id = $"chat-{Guid.NewGuid():N}";
        var opened = await Http.PostAsync("/api/v1/sessions", Json($$"""{"session_id": "{{id}}", "model": "{{model}}"}"""));
        Assert.Equal(HttpStatusCode.OK, opened.StatusCode);
        return id;
    }

    /// <summary>Reads the SSE stream as it arrives; <paramref name="stopAfter"/> tokens, then hangs up.</summary>
    private async Task<List<Event>> StreamAsync(string sessionId, string body, int? stopAfter = null)
    {
        // A client that hangs up must really close the connection: by default HttpClient drains up to 1 MB of an unread
        // response on dispose to reuse the connection, which would keep the stream (and the generation) going.
        using var hangingUp = stopAfter is null ? null
            : new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = Http.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/sessions/{sessionId}/turns:stream") { Content = Json(body) };
        using var response = await (hangingUp ?? Http).SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<Event>();
        var clock = Stopwatch.StartNew();
        string? kind = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                kind = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add(new Event(kind!, JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone(), clock.Elapsed));
                if (stopAfter is { } n && events.Count >= n)
                {
                    break; // disposing the response closes the connection mid-stream
                }
            }
        }
        return events;
    }

    private async Task<JsonElement[]> TurnsAsync(string sessionId) =>
        JsonDocument.Parse(await Http.GetStringAsync($"/api/v1/sessions/{sessionId}")).RootElement.GetProperty("turns").EnumerateArray().ToArray();

    [Fact]
    public async Task Tokens_stream_as_events_and_the_answer_is_stored_as_a_turn()
    {
        var id = await OpenAsync();
        var events = await StreamAsync(id, """{"content": "hello there", "max_tokens": 40}""");

        var tokens = events.Where(e => e.Kind == "token").ToArray();
        var done = Assert.Single(events, e => e.Kind == "done");
        Assert.Same(done, events[^1]);
        Assert.Equal(40, tokens.Length);
        Assert.Equal(Enumerable.Range(0, 40), tokens.Select(t => t.Data.GetProperty("index").GetInt32()));
        Assert.Equal("length", done.Data.GetProperty("finish_reason").GetString());
        // Turn 1 prefills the whole prompt: the template around the user's text, one byte per token.
        Assert.Equal(Encoding.UTF8.GetByteCount("<|user|>\nhello there\n<|assistant|>\n"), done.Data.GetProperty("prefill_tokens").GetInt32());

        var turns = await TurnsAsync(id);
        Assert.Equal(["user", "assistant"], turns.Select(t => t.GetProperty("role").GetString()));
        Assert.Equal(string.Concat(tokens.Select(t => t.Data.GetProperty("text").GetString())), turns[1].GetProperty("content").GetString());
        Assert.Equal(40, turns[1].GetProperty("completion_tokens").GetInt32());
        Assert.Equal(done.Data.GetProperty("seq").GetInt64(), turns[1].GetProperty("seq").GetInt64());

        var metrics = await Http.GetStringAsync("/api/v1/metrics");
        Assert.Matches(@"(?m)^gen_ai_server_time_to_first_token_count\{.*gen_ai_request_model=""tiny-random"".*\} [1-9]", metrics);
        Assert.Matches(@"(?m)^gen_ai_client_token_usage_count\{.*gen_ai_token_type=""output"".*\} [1-9]", metrics);
    }

    [Fact]
    public async Task A_follow_up_prefills_only_its_new_tokens_and_after_a_move_the_cache_is_rebuilt_with_the_same_answer()
    {
        var warm = await OpenAsync();
        var moved = await OpenAsync();
        foreach (var id in new[] { warm, moved })
        {
            await StreamAsync(id, """{"content": "first question", "max_tokens": 30}""");
        }
        // The second session's activation goes away (as when its silo is lost): the next call activates it afresh from the store.
        await host.App.Services.GetRequiredService<IGrainFactory>().GetGrain<Neuro.Abstractions.ISessionGrain>(moved)
            .AsReference<Orleans.Core.Internal.IGrainManagementExtension>().DeactivateOnIdle();
        await Task.Delay(200);

        var second = Encoding.UTF8.GetByteCount("<|user|>\nand then?\n<|assistant|>\n");
        var warmDone = (await StreamAsync(warm, """{"content": "and then?", "max_tokens": 30}"""));
        var movedDone = (await StreamAsync(moved, """{"content": "and then?", "max_tokens": 30}"""));
        var history = Encoding.UTF8.GetByteCount("<|user|>\nfirst question\n<|assistant|>\n") + 30;

        // Warm: only the new prompt plus the previous answer's last token. Moved: the whole conversation, recomputed.
        Assert.Equal(second + 1, warmDone[^1].Data.GetProperty("prefill_tokens").GetInt32());
        Assert.Equal(history + second, movedDone[^1].Data.GetProperty("prefill_tokens").GetInt32());
        // Greedy decoding over the same context: the same answer either way.
        static string Text(List<Event> e) => string.Concat(e.Where(x => x.Kind == "token").Select(x => x.Data.GetProperty("token_id").GetInt32() + ","));
        Assert.Equal(Text(warmDone), Text(movedDone));
    }

    [Fact]
    public async Task Hanging_up_stops_generation_and_keeps_what_was_produced()
    {
        var id = await OpenAsync();
        // The most a turn may ask for: the dev model decodes thousands of tokens a second, so only a prompt stop after
        // the hang-up keeps the answer far short of it.
        var events = await StreamAsync(id, """{"content": "go on for a while", "max_tokens": 4096}""", stopAfter: 3);
        Assert.Equal(3, events.Count);

        // The answer stops growing soon after the hang-up, far short of the 4096 tokens asked for.
        JsonElement[] turns = [];
        var last = -1;
        for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(20); await Task.Delay(200))
        {
            turns = await TurnsAsync(id);
            if (turns.Length == 2)
            {
                var now = turns[1].GetProperty("completion_tokens").GetInt32();
                if (now == last)
                {
                    break;
                }
                last = now;
            }
        }
        Assert.Equal(2, turns.Length);
        var produced = turns[1].GetProperty("completion_tokens").GetInt32();
        output.WriteLine($"{produced} of 4096 tokens produced before generation stopped");
        // a few tens when the hang-up closes the connection; the bound leaves room for a loaded machine
        Assert.InRange(produced, 3, 1000);
        // The session is usable again right away.
        var next = await StreamAsync(id, """{"content": "short", "max_tokens": 5}""");
        Assert.Equal("length", next[^1].Data.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Grpc_server_streaming_delivers_the_same_tokens_and_honours_cancellation()
    {
        var id = await OpenAsync();
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var client = new Neuro.FrontDoor.V1.Sessions.SessionsClient(channel);
        using var call = client.StreamTurn(new Neuro.FrontDoor.V1.StreamTurnRequest { SessionId = id, Content = "hi", MaxTokens = 12 });
        var chunks = new List<Neuro.FrontDoor.V1.TokenChunk>();
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            chunks.Add(chunk);
        }
        Assert.Equal(13, chunks.Count);
        Assert.Equal("length", chunks[^1].FinishReason);

        using var cancel = new CancellationTokenSource();
        using var long_ = client.StreamTurn(new Neuro.FrontDoor.V1.StreamTurnRequest { SessionId = id, Content = "long", MaxTokens = 1900 }, cancellationToken: cancel.Token);
        Assert.True(await long_.ResponseStream.MoveNext(CancellationToken.None));
        cancel.Cancel();
        var e = await Assert.ThrowsAsync<RpcException>(async () => { while (await long_.ResponseStream.MoveNext(CancellationToken.None)) { } });
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
    }

    [Fact]
    public async Task Refusals_come_before_any_event_as_problem_details()
    {
        var noModel = $"plain-{Guid.NewGuid():N}";
        await Http.PostAsync("/api/v1/sessions", Json($$"""{"session_id": "{{noModel}}"}"""));
        var unknownModel = await OpenAsync("no-such-model");
        var cases = new (string Session, string Body, HttpStatusCode Status, string Field)[]
        {
            ("never-opened", """{"content": "x"}""", HttpStatusCode.NotFound, "session_id"),
            (noModel, """{"content": "x"}""", HttpStatusCode.BadRequest, "model"),
            (unknownModel, """{"content": "x"}""", HttpStatusCode.NotFound, "model"),
            (unknownModel, """{"content": "x", "max_tokens": 99999}""", HttpStatusCode.BadRequest, "max_tokens"),
            (noModel, """{"content": "x", """, HttpStatusCode.BadRequest, "body"),
            ("bad id!", """{"content": "x"}""", HttpStatusCode.BadRequest, "session_id"),
        };
        foreach (var (session, body, status, field) in cases)
        {
            var response = await Http.PostAsync($"/api/v1/sessions/{Uri.EscapeDataString(session)}/turns:stream", Json(body));
            Assert.Equal(status, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(field, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("field").GetString());
        }
        Assert.Empty(await TurnsAsync(noModel)); // nothing stored by a refused call
    }
}
