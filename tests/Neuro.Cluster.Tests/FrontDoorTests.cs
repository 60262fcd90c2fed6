using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Testing;
using Neuro.FrontDoor.V1;
using Neuro.SampleHost;

namespace Neuro.Cluster.Tests;

/// <summary>Black-box tests of the front door through the real host on a loopback port: REST (JSON transcoding) and gRPC.</summary>
public sealed class FrontDoorTests(NeuroHostFixture host) : IClassFixture<NeuroHostFixture>
{
    private HttpClient Http => host.Http;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ReadJson(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    private async Task<string> CreateSessionAsync()
    {
        var response = await Http.PostAsync("/api/v1/sessions", Json("{}"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await ReadJson(response)).GetProperty("session_id").GetString()!;
    }

    private async Task<int> TurnCountAsync(string id) =>
        (await ReadJson(await Http.GetAsync($"/api/v1/sessions/{id}"))).GetProperty("turns").GetArrayLength();

    [Fact]
    public async Task Health_reports_the_cluster()
    {
        var response = await Http.GetAsync("/api/v1/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadJson(response);
        Assert.Equal("ok", body.GetProperty("status").GetString());
        Assert.Equal(1, body.GetProperty("active_silos").GetInt32());
        Assert.Equal(host.ClusterId, body.GetProperty("cluster_id").GetString());
    }

    [Fact]
    public async Task Rest_session_round_trip()
    {
        var created = await Http.PostAsync("/api/v1/sessions", Json("""{"session_id":"rest-trip-1","model":"tiny","idle_ttl_seconds":600}"""));
        var session = await ReadJson(created);
        Assert.Equal("rest-trip-1", session.GetProperty("session_id").GetString());
        Assert.Equal("tiny", session.GetProperty("model").GetString());

        var turn = await Http.PostAsync("/api/v1/sessions/rest-trip-1/turns", Json("""{"role":"user","content":"hello there","prompt_tokens":3}"""));
        Assert.Equal(HttpStatusCode.OK, turn.StatusCode);
        Assert.Equal(1, (await ReadJson(turn)).GetProperty("seq").GetInt64());
        await Http.PostAsync("/api/v1/sessions/rest-trip-1/turns", Json("""{"role":"assistant","content":"hi","completion_tokens":1}"""));

        var fetched = await ReadJson(await Http.GetAsync("/api/v1/sessions/rest-trip-1"));
        Assert.Equal(["hello there", "hi"], fetched.GetProperty("turns").EnumerateArray().Select(t => t.GetProperty("content").GetString()));
        Assert.Equal("3", fetched.GetProperty("prompt_tokens").ToString());
    }

    [Fact]
    public async Task Unknown_session_is_404_problem_details()
    {
        foreach (var response in new[]
                 {
                     await Http.GetAsync("/api/v1/sessions/never-made"),
                     await Http.PostAsync("/api/v1/sessions/never-made/turns", Json("""{"role":"user","content":"x"}""")),
                 })
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await ReadJson(response);
            Assert.Equal(404, problem.GetProperty("status").GetInt32());
            Assert.Equal("session_id", problem.GetProperty("field").GetString());
        }
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetAsync("/api/v1/sessions/never-made")).StatusCode); // a 404 created nothing
    }

    [Theory]
    [InlineData("""{"role":"user","content":""}""", "content")]
    [InlineData("""{"role":"user"}""", "content")]
    [InlineData("""{"role":"wizard","content":"x"}""", "role")]
    [InlineData("""{"role":"user","content":"x","prompt_tokens":-5}""", "prompt_tokens")]
    [InlineData("""{"role":"user","content":"x",""", "body")]
    [InlineData("""{"role":"user","content":"x","prompt_tokens":"lots"}""", "body")]
    public async Task Bad_turn_is_400_naming_the_field_and_stores_nothing(string body, string field)
    {
        var id = await CreateSessionAsync();
        var response = await Http.PostAsync($"/api/v1/sessions/{id}/turns", Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await ReadJson(response);
        Assert.Equal(field, problem.GetProperty("field").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _));
        Assert.Equal(0, await TurnCountAsync(id));
    }

    [Fact]
    public async Task Oversized_turn_is_4xx_and_stores_nothing()
    {
        var id = await CreateSessionAsync();
        var justOver = await Http.PostAsync($"/api/v1/sessions/{id}/turns", JsonContent.Create(new { role = "user", content = new string('a', 32 * 1024 + 1) }));
        Assert.Equal(HttpStatusCode.BadRequest, justOver.StatusCode);
        Assert.Equal("content", (await ReadJson(justOver)).GetProperty("field").GetString());

        var huge = await Http.PostAsync($"/api/v1/sessions/{id}/turns", JsonContent.Create(new { role = "user", content = new string('a', 3 * 1024 * 1024) }));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.Equal(0, await TurnCountAsync(id));
    }

    [Fact]
    public async Task Bad_session_id_is_400()
    {
        var response = await Http.PostAsync("/api/v1/sessions", Json("""{"session_id":"no spaces allowed"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("session_id", (await ReadJson(response)).GetProperty("field").GetString());
    }

    [Fact]
    public async Task Grpc_session_round_trip_and_errors()
    {
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var sessions = new Sessions.SessionsClient(channel);
        var session = await sessions.CreateSessionAsync(new CreateSessionRequest { Pool = "chat" });
        var turn = await sessions.AppendTurnAsync(new AppendTurnRequest { SessionId = session.SessionId, Role = "user", Content = "via grpc", PromptTokens = 4 });
        var fetched = await sessions.GetSessionAsync(new GetSessionRequest { SessionId = session.SessionId });

        Assert.Equal(1, turn.Seq);
        Assert.Equal("via grpc", fetched.Turns.Single().Content);
        Assert.Equal("chat", fetched.Pool);

        var invalid = await Assert.ThrowsAsync<RpcException>(async () =>
            await sessions.AppendTurnAsync(new AppendTurnRequest { SessionId = session.SessionId, Role = "user", Content = "" }));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Equal("content", invalid.Trailers.GetValue("neuro-field"));
        var missing = await Assert.ThrowsAsync<RpcException>(async () =>
            await sessions.GetSessionAsync(new GetSessionRequest { SessionId = "nobody-home" }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);

        var health = await new Health.HealthClient(channel).CheckAsync(new HealthRequest());
        Assert.Equal("ok", health.Status);
    }

    [Fact]
    public async Task Metrics_include_ours_and_orleans()
    {
        var id = await CreateSessionAsync();
        await Http.PostAsync($"/api/v1/sessions/{id}/turns", Json("""{"role":"user","content":"count me"}"""));
        var text = await Http.GetStringAsync("/api/v1/metrics");
        Assert.Matches(@"(?m)^neuro_session_turns [1-9]", text);
        Assert.Contains("microsoft_orleans_", text);
    }

    [Fact]
    public async Task OpenApi_document_lists_every_rest_endpoint()
    {
        var doc = await ReadJson(await Http.GetAsync("/api/v1/openapi.json"));
        Assert.Equal("3.0.3", doc.GetProperty("openapi").GetString());
        var paths = doc.GetProperty("paths");
        foreach (var (path, verbs) in new[]
                 {
                     ("/api/v1/health", new[] { "get" }),
                     ("/api/v1/sessions", ["post"]),
                     ("/api/v1/sessions/{session_id}", ["get"]),
                     ("/api/v1/sessions/{session_id}/turns", ["post"]),
                     ("/api/v1/sessions/{session_id}/turns:stream", ["post"]),
                     ("/api/v1/tasks", ["get", "post"]),
                     ("/api/v1/tasks/{task_id}", ["get", "put", "delete"]),
                     ("/api/v1/tasks/{task_id}/steps", ["get"]),
                     ("/api/v1/tasks/{task_id}/steps/{step}/screenshot", ["get"]),
                 })
        {
            Assert.True(paths.TryGetProperty(path, out var item), path);
            Assert.Equal(verbs.Order(), item.EnumerateObject().Select(p => p.Name).Order());
        }
        var create = doc.GetProperty("components").GetProperty("schemas").GetProperty("neuro.v1.CreateTaskRequest").GetProperty("properties");
        Assert.True(create.TryGetProperty("max_steps", out _));
        Assert.True(create.TryGetProperty("callback_url", out _));
        Assert.True(paths.GetProperty("/api/v1/sessions/{session_id}/turns:stream").GetProperty("post").GetProperty("responses").GetProperty("200")
            .GetProperty("content").TryGetProperty("text/event-stream", out _));
        var list = paths.GetProperty("/api/v1/tasks").GetProperty("get").GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString());
        Assert.Contains("page_token", list);
    }

    [Fact]
    public async Task Dashboard_is_served_by_the_dev_cluster()
    {
        var response = await Http.GetAsync("/dashboard");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Orleans Dashboard", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Front_door_runs_alone_as_an_orleans_client()
    {
        await using var frontDoor = NeuroHostFixture.Build(new Dictionary<string, string?>
        {
            ["Neuro:Role"] = "frontdoor",
            ["Neuro:GatewayPort"] = host.GatewayPort.ToString(),
            ["Neuro:ClusterId"] = host.ClusterId,
        });
        await frontDoor.StartAsync();
        using var http = new HttpClient { BaseAddress = NeuroHostFixture.RestAddress(frontDoor) };

        var health = await ReadJson(await http.GetAsync("/api/v1/health"));
        Assert.Equal(1, health.GetProperty("active_silos").GetInt32());
        var created = await ReadJson(await http.PostAsync("/api/v1/sessions", Json("""{"session_id":"through-the-client"}""")));
        Assert.Equal("through-the-client", created.GetProperty("session_id").GetString());
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync("/api/v1/sessions/through-the-client")).StatusCode); // seen by the silo's own front door
        await frontDoor.StopAsync();
    }

    [Fact]
    public async Task Client_sdk_watches_a_task_to_completion()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        Neuro.Client.NeuroClientExtensions.AddNeuroClient(builder.Services, o => (o.GatewayPort, o.ClusterId) = (host.GatewayPort, host.ClusterId));
        using var app = builder.Build();
        await app.StartAsync();
        var neuro = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Neuro.Client.INeuroClient>(app.Services);

        var submitted = await neuro.SubmitTaskAsync(new Neuro.Abstractions.AgentTaskSpec("say hi", Width: 640, Height: 480,
            Actions: ["""{"action": "HOVER", "value": null, "position": [0.5, 0.5]}""", """{"action": "ANSWER", "value": "hi", "position": null}"""]));
        var seen = new List<string>();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var view in neuro.WatchTaskAsync(submitted.TaskId, TimeSpan.FromMilliseconds(20), limit.Token))
        {
            seen.Add(view.Status);
        }
        Assert.Equal("completed", seen[^1]);
        Assert.Equal("hi", (await neuro.GetTaskAsync(submitted.TaskId))!.Answer);
        Assert.Equal(2, (await neuro.GetTaskStepsAsync(submitted.TaskId)).Count);
        await app.StopAsync();
    }

    [Fact]
    public async Task Sample_host_app_uses_the_client_sdk()
    {
        var output = new StringWriter();
        var exit = await SampleApp.RunAsync([$"--Neuro:Client:GatewayPort={host.GatewayPort}", $"--Neuro:Client:ClusterId={host.ClusterId}"], output);
        Assert.Equal(0, exit);
        Assert.Contains("2 turns, 9+2 tokens", output.ToString());
        Assert.Contains("#2 assistant: Paris.", output.ToString());
    }
}
