using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Neuro.Agents.Tests;

/// <summary>A STAND-IN for an OpenAI-compatible chat-completions server (vLLM/OpenAI), not a model: an HttpListener on a
/// free 127.0.0.1 port that records every request and answers with whatever the test's handler says.</summary>
public sealed class ChatCompletionsStandIn : IAsyncDisposable
{
    public sealed record Received(JsonObject Body, string? Authorization, string Path, string? ContentType);

    public sealed record Reply(int Status, string Body, TimeSpan Delay = default, string? RetryAfter = null);

    private readonly HttpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly Func<int, Received, Reply> _handler;
    private int _count;

    public ConcurrentQueue<Received> Requests { get; } = new();

    public string BaseUrl { get; }

    /// <param name="handler">Gets the 1-based request number and the request, returns the reply.</param>
    public ChatCompletionsStandIn(Func<int, Received, Reply> handler)
    {
        _handler = handler;
        for (var tries = 0; ; tries++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                _listener = listener;
                BaseUrl = $"http://127.0.0.1:{port}";
                break;
            }
            catch (HttpListenerException) when (tries < 5)
            {
                listener.Close();
            }
        }
        _loop = Task.Run(LoopAsync);
    }

    public static string Completion(string content) =>
        new JsonObject
        {
            ["id"] = "chatcmpl-standin",
            ["object"] = "chat.completion",
            ["choices"] = new JsonArray
            {
                new JsonObject { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content }, ["finish_reason"] = "stop" },
            },
        }.ToJsonString();

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(ctx));
        }
    }

    private async Task HandleAsync(HttpListenerContext ctx)
    {
        try
        {
            using var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8);
            var text = await reader.ReadToEndAsync();
            var received = new Received(JsonNode.Parse(text)!.AsObject(), ctx.Request.Headers["Authorization"], ctx.Request.Url!.AbsolutePath, ctx.Request.ContentType);
            Requests.Enqueue(received);
            var reply = _handler(Interlocked.Increment(ref _count), received);
            if (reply.Delay > TimeSpan.Zero)
            {
                await Task.Delay(reply.Delay, _stop.Token);
            }
            ctx.Response.StatusCode = reply.Status;
            ctx.Response.ContentType = "application/json";
            if (reply.RetryAfter is { } ra)
            {
                ctx.Response.Headers["Retry-After"] = ra;
            }
            var bytes = Encoding.UTF8.GetBytes(reply.Body);
            ctx.Response.ContentLength64 = bytes.Length;
            await ctx.Response.OutputStream.WriteAsync(bytes);
            ctx.Response.Close();
        }
        catch (Exception)
        {
            // the client went away (cancellation test) or the stand-in is stopping
            try { ctx.Response.Abort(); } catch (Exception) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Close();
        try { await _loop; } catch (Exception) { }
        _stop.Dispose();
    }
}

public sealed class OpenAiPolicyTests(Xunit.Abstractions.ITestOutputHelper testOutput)
{
    private static readonly byte[] TinyPng = PngDownscaler.Encode(new PngDownscaler.Image(4, 3, 3, 2, Enumerable.Range(0, 36).Select(i => (byte)(i * 7)).ToArray()));

    private static OpenAiPolicyOptions Options(ChatCompletionsStandIn server, string? key = null, int retries = 3) => new()
    {
        BaseUrl = server.BaseUrl,
        ApiKey = key,
        Model = "stand-in/showui",
        MaxRetries = retries,
        InitialBackoff = TimeSpan.FromMilliseconds(20),
        MaxBackoff = TimeSpan.FromMilliseconds(100),
        RequestTimeout = TimeSpan.FromSeconds(10),
    };

    private static AgentContext Context(AgentMode mode = AgentMode.Web, IReadOnlyList<AgentStep>? history = null) =>
        new("find the weather in Paris", mode, history ?? [], TinyPng, 4, 3);

    private static JsonArray ContentOf(JsonObject body) => body["messages"]![0]!["content"]!.AsArray();

    private static IEnumerable<string> Texts(JsonObject body) =>
        ContentOf(body).Where(p => (string?)p!["type"] == "text").Select(p => (string)p!["text"]!);

    [Fact]
    public async Task Request_has_model_prompt_task_history_and_the_screenshot_as_a_png_data_url()
    {
        await using var server = new ChatCompletionsStandIn((_, _) => new(200, ChatCompletionsStandIn.Completion("{'action': 'ANSWER', 'value': 'sunny', 'position': None}")));
        using var policy = new OpenAiPolicy(Options(server, key: "sk-test-123"));
        var history = new List<AgentStep>
        {
            new(1, "{'action':'CLICK','value':None,'position':[0.5,0.25]}", new AgentAction("CLICK", null, new ScreenPoint(0.5, 0.25)), null, TimeSpan.Zero, TimeSpan.Zero, null),
            new(2, "gibberish", null, "not a JSON or Python dict: gibberish", TimeSpan.Zero, TimeSpan.Zero, null),
            new(3, "x", new AgentAction("INPUT", "paris weather", new ScreenPoint(0.1, 0.2)), null, TimeSpan.Zero, TimeSpan.Zero, null),
        };

        var output = await policy.NextAsync(Context(history: history), CancellationToken.None);

        Assert.Equal("{'action': 'ANSWER', 'value': 'sunny', 'position': None}", output);
        var r = Assert.Single(server.Requests);
        Assert.Equal("/v1/chat/completions", r.Path);
        Assert.StartsWith("application/json", r.ContentType);
        Assert.Equal("Bearer sk-test-123", r.Authorization);
        Assert.Equal("stand-in/showui", (string?)r.Body["model"]);
        Assert.Equal(0.0, (double)r.Body["temperature"]!);
        Assert.Equal(128, (int)r.Body["max_tokens"]!);
        var messages = r.Body["messages"]!.AsArray();
        Assert.Equal("user", (string?)Assert.Single(messages)!["role"]);

        var texts = Texts(r.Body).ToList();
        Assert.Contains("navigate the website screen", texts[0]);
        Assert.Contains("SELECT_TEXT", texts[0]);
        Assert.Contains("{'action': 'ACTION_TYPE', 'value': 'element', 'position': [x,y]}", texts[0]);
        Assert.Contains("0-1", texts[0]);
        Assert.Equal("Task: find the weather in Paris", texts[1]);
        Assert.Equal("Step 1: {'action': 'CLICK', 'value': None, 'position': [0.5, 0.25]}", texts[2]);
        Assert.StartsWith("Step 2: invalid output \"gibberish\"", texts[3]);
        Assert.Equal("Step 3: {'action': 'INPUT', 'value': 'paris weather', 'position': [0.1, 0.2]}", texts[4]);

        var content = ContentOf(r.Body);
        var image = content[^1]!;
        Assert.Equal("image_url", (string?)image["type"]);
        var url = (string)image["image_url"]!["url"]!;
        Assert.StartsWith("data:image/png;base64,", url);
        Assert.Equal(TinyPng, Convert.FromBase64String(url["data:image/png;base64,".Length..]));
        Assert.Equal(6, content.Count); // prompt, task, 3 history items, image — in that order
    }

    [Fact]
    public async Task Phone_mode_prompt_and_no_auth_header_without_a_key()
    {
        await using var server = new ChatCompletionsStandIn((_, _) => new(200, ChatCompletionsStandIn.Completion("{\"action\":\"TAP\",\"value\":null,\"position\":[0.2,0.8]}")));
        using var policy = new OpenAiPolicy(Options(server));
        await policy.NextAsync(Context(AgentMode.Phone), CancellationToken.None);
        var r = Assert.Single(server.Requests);
        Assert.Null(r.Authorization);
        var prompt = Texts(r.Body).First();
        Assert.Contains("navigate the smartphone screen", prompt);
        Assert.Contains("SWIPE", prompt);
        Assert.DoesNotContain("SELECT_TEXT", prompt);
    }

    [Fact]
    public async Task Returned_content_is_passed_through_and_parses()
    {
        const string ModelText = "{'action': 'INPUT', 'value': 'weather paris', 'position': [0.49, 0.42]}, {'action': 'ENTER', 'value': None, 'position': None}";
        await using var server = new ChatCompletionsStandIn((_, _) => new(200, ChatCompletionsStandIn.Completion(ModelText)));
        using var policy = new OpenAiPolicy(Options(server));
        var output = await policy.NextAsync(Context(), CancellationToken.None);
        Assert.Equal(ModelText, output);
        var parsed = ActionParser.Parse(output, AgentMode.Web);
        Assert.True(parsed.Ok, parsed.Error);
        Assert.Equal("INPUT", parsed.Action!.Kind);
        Assert.Equal("weather paris", parsed.Action.Value);
        Assert.Equal(new ScreenPoint(0.49, 0.42), parsed.Action.Position);
    }

    [Fact]
    public async Task A_500_is_retried_then_the_success_is_returned()
    {
        await using var server = new ChatCompletionsStandIn((n, _) => n == 1
            ? new(500, """{"error":{"message":"engine hiccup"}}""")
            : new(200, ChatCompletionsStandIn.Completion("{'action': 'ENTER', 'value': None, 'position': None}")));
        var log = new ConcurrentQueue<string>();
        var options = Options(server, key: "sk-secret-do-not-log");
        options.Log = log.Enqueue;
        using var policy = new OpenAiPolicy(options);
        var output = await policy.NextAsync(Context(), CancellationToken.None);
        Assert.Equal("{'action': 'ENTER', 'value': None, 'position': None}", output);
        Assert.Equal(2, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.Equal("Bearer sk-secret-do-not-log", r.Authorization));
        Assert.Contains(log, l => l.Contains("HTTP 500"));
        Assert.DoesNotContain(log, l => l.Contains("sk-secret"));
    }

    [Fact]
    public async Task Gives_up_after_the_retry_budget_of_503s_with_a_clear_error()
    {
        await using var server = new ChatCompletionsStandIn((_, _) => new(503, """{"error":"model is loading"}""", RetryAfter: "0"));
        var options = Options(server, key: "sk-secret-do-not-log", retries: 2);
        using var policy = new OpenAiPolicy(options);
        var e = await Assert.ThrowsAsync<OpenAiPolicyException>(() => policy.NextAsync(Context(), CancellationToken.None));
        Assert.Equal(3, server.Requests.Count); // first try + 2 retries, then no more
        Assert.Equal(503, e.StatusCode);
        Assert.Equal(3, e.Attempts);
        Assert.Contains("after 3 attempt", e.Message);
        Assert.Contains("503", e.Message);
        Assert.Contains("model is loading", e.Message);
        Assert.DoesNotContain("sk-secret", e.ToString());
    }

    [Fact]
    public async Task A_400_is_not_retried_and_the_error_carries_the_body()
    {
        await using var server = new ChatCompletionsStandIn((_, _) => new(400, """{"error":{"message":"The model `nope` does not exist."}}"""));
        using var policy = new OpenAiPolicy(Options(server, key: "sk-secret-do-not-log"));
        var e = await Assert.ThrowsAsync<OpenAiPolicyException>(() => policy.NextAsync(Context(), CancellationToken.None));
        Assert.Single(server.Requests);
        Assert.Equal(400, e.StatusCode);
        Assert.Equal(1, e.Attempts);
        Assert.Contains("does not exist", e.Message);
        Assert.Contains("not retried", e.Message);
        Assert.DoesNotContain("sk-secret", e.ToString());
    }

    [Fact]
    public async Task A_slow_attempt_times_out_and_is_retried_within_the_budget()
    {
        await using var server = new ChatCompletionsStandIn((n, _) => n == 1
            ? new(200, ChatCompletionsStandIn.Completion("late"), Delay: TimeSpan.FromSeconds(5))
            : new(200, ChatCompletionsStandIn.Completion("{'action': 'ENTER', 'value': None, 'position': None}")));
        var options = Options(server);
        // Long enough that the prompt second attempt fits even on a loaded CI box (300 ms once did not), far below the
        // first attempt's 5 s, so the policy must give up on that one and retry.
        options.RequestTimeout = TimeSpan.FromSeconds(1);
        using var policy = new OpenAiPolicy(options);
        var clock = Stopwatch.StartNew();
        var output = await policy.NextAsync(Context(), CancellationToken.None);
        Assert.Equal("{'action': 'ENTER', 'value': None, 'position': None}", output);
        Assert.Equal(2, server.Requests.Count);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4.5), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Cancellation_aborts_an_in_flight_request_at_once()
    {
        await using var server = new ChatCompletionsStandIn((_, _) => new(200, ChatCompletionsStandIn.Completion("late"), Delay: TimeSpan.FromSeconds(10)));
        using var policy = new OpenAiPolicy(Options(server));
        using var cancel = new CancellationTokenSource();
        var call = policy.NextAsync(Context(), cancel.Token);
        // Wait until the stand-in has the request, so the cancel hits an in-flight HTTP call.
        var wait = Stopwatch.StartNew();
        while (server.Requests.IsEmpty && wait.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(10);
        }
        Assert.Single(server.Requests);
        var clock = Stopwatch.StartNew();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        // Typically a few ms; what matters is that it is not the 10 s the stand-in holds the reply for. The bound is loose
        // because a loaded 2-core CI box once took over 400 ms to schedule the continuation.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed.TotalMilliseconds} ms");
        testOutput.WriteLine($"cancel → OperationCanceledException in {clock.Elapsed.TotalMilliseconds:F1} ms");
        await Task.Delay(100);
        Assert.Single(server.Requests); // cancellation is not retried
    }

    [Fact]
    public async Task Connection_refused_is_retried_then_reported_without_a_status()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop(); // nothing listens there now
        using var policy = new OpenAiPolicy(new OpenAiPolicyOptions
        {
            BaseUrl = $"http://127.0.0.1:{port}", MaxRetries = 2, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(50),
        });
        var e = await Assert.ThrowsAsync<OpenAiPolicyException>(() => policy.NextAsync(Context(), CancellationToken.None));
        Assert.Null(e.StatusCode);
        Assert.Equal(3, e.Attempts);
        Assert.IsType<HttpRequestException>(e.InnerException);
    }

    [Fact]
    public async Task A_200_without_content_is_a_clear_error()
    {
        await using var server = new ChatCompletionsStandIn((_, _) => new(200, """{"choices":[]}"""));
        using var policy = new OpenAiPolicy(Options(server));
        var e = await Assert.ThrowsAsync<OpenAiPolicyException>(() => policy.NextAsync(Context(), CancellationToken.None));
        Assert.Contains("choices[0].message.content", e.Message);
    }

    [Theory]
    [InlineData("http://h:8000", "http://h:8000/v1/chat/completions")]
    [InlineData("http://h:8000/", "http://h:8000/v1/chat/completions")]
    [InlineData("https://api.example.com/v1", "https://api.example.com/v1/chat/completions")]
    [InlineData("http://h/proxy/", "http://h/proxy/v1/chat/completions")]
    public void Endpoint_from_base_url(string baseUrl, string expected) =>
        Assert.Equal(expected, OpenAiPolicy.ChatCompletionsUri(baseUrl).ToString());

    [Fact]
    public void Downscaling_keeps_the_aspect_and_the_pixels_average()
    {
        // 40x20: left half red, right half blue (RGB). Budget 200 px → 20x10.
        var pixels = new byte[40 * 20 * 3];
        for (var y = 0; y < 20; y++)
        {
            for (var x = 0; x < 40; x++)
            {
                var o = (y * 40 + x) * 3;
                (pixels[o], pixels[o + 1], pixels[o + 2]) = x < 20 ? ((byte)255, (byte)0, (byte)0) : ((byte)0, (byte)0, (byte)255);
            }
        }
        var png = PngDownscaler.Encode(new PngDownscaler.Image(40, 20, 3, 2, pixels));
        var result = PngDownscaler.Downscale(png, 200);
        Assert.True(result.Resized);
        Assert.Equal((20, 10), (result.Width, result.Height));
        Assert.Equal((20, 10), PngDownscaler.ReadSize(result.Png));
        Assert.True(PngDownscaler.TryDecode(result.Png, out var decoded, out var why), why);
        Assert.Equal(new byte[] { 255, 0, 0 }, decoded.Pixels[..3]);
        Assert.Equal(new byte[] { 0, 0, 255 }, decoded.Pixels[^3..]);

        var small = PngDownscaler.Downscale(png, 10_000);
        Assert.False(small.Resized);
        Assert.Same(png, small.Png);
    }
}

/// <summary>The OpenAI policy driving real headless Chromium through the agent loop, with the stand-in server playing
/// the model's part from a script. Also checks that the PNG the policy re-encodes after downscaling is one a browser can
/// decode, with the right size and colours.</summary>
public sealed class OpenAiPolicyChromiumTests : IAsyncLifetime
{
    private const string Page = """
        <html><body style="margin:0">
        <div style="position:absolute;left:0;top:0;width:400px;height:600px;background:#ff0000"></div>
        <div style="position:absolute;left:400px;top:0;width:400px;height:600px;background:#0000ff"></div>
        <input id="q" style="position:absolute;left:100px;top:100px;width:400px;height:40px">
        </body></html>
        """;

    private ChromiumEnvironment _browser = null!;

    public async Task InitializeAsync()
    {
        _browser = await ChromiumEnvironment.LaunchAsync(new ChromiumOptions { Width = 800, Height = 600 });
        await _browser.NavigateAsync("data:text/html;charset=utf-8," + Uri.EscapeDataString(Page));
    }

    public async Task DisposeAsync() => await _browser.DisposeAsync();

    [Fact]
    public async Task Agent_loop_with_the_model_policy_types_into_the_page_and_answers()
    {
        var script = new[]
        {
            "{'action': 'INPUT', 'value': 'orleans agents', 'position': [0.375, 0.2]}",
            "{'action': 'ANSWER', 'value': 'typed it', 'position': None}",
        };
        await using var server = new ChatCompletionsStandIn((n, _) => new(200, ChatCompletionsStandIn.Completion(script[Math.Min(n, script.Length) - 1])));
        using var policy = new OpenAiPolicy(new OpenAiPolicyOptions
        {
            BaseUrl = server.BaseUrl,
            Model = "stand-in/showui",
            MaxPixels = 120_000, // 800x600 = 480,000 → downscaled to 400x300
        });

        var result = await AgentLoop.RunAsync(new AgentRun("type orleans agents into the box", MaxSteps: 5, Timeout: TimeSpan.FromSeconds(60)), _browser, policy, CancellationToken.None);

        Assert.True(result.Outcome == AgentOutcome.Completed, $"{result.Outcome}: {result.Error}");
        Assert.Equal("typed it", result.Answer);
        Assert.Equal(2, result.Steps.Count);
        Assert.Equal("orleans agents", await _browser.EvaluateAsync("document.getElementById('q').value"));

        var requests = server.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Contains("Task: type orleans agents into the box", requests[0].Body.ToJsonString());
        var secondTexts = requests[1].Body["messages"]![0]!["content"]!.AsArray().Where(p => (string?)p!["type"] == "text").Select(p => (string)p!["text"]!).ToList();
        Assert.Contains("Step 1: {'action': 'INPUT', 'value': 'orleans agents', 'position': [0.375, 0.2]}", secondTexts);

        // The screenshot sent was downscaled within the budget and is a PNG the browser itself decodes, same colours.
        var url = (string)requests[1].Body["messages"]![0]!["content"]!.AsArray()[^1]!["image_url"]!["url"]!;
        Assert.Equal((400, 300), PngDownscaler.ReadSize(Convert.FromBase64String(url["data:image/png;base64,".Length..])));
        // EvaluateAsync returns values, not promises: start the decode, then poll for its result.
        var js = $$"""
            (() => { window.__decoded = null; const img = new Image(); img.onload = () => {
              const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
              const g = c.getContext('2d'); g.drawImage(img, 0, 0);
              const l = g.getImageData(20, 280, 1, 1).data, r = g.getImageData(380, 280, 1, 1).data;
              window.__decoded = img.naturalWidth + 'x' + img.naturalHeight + ' ' + [l[0], l[1], l[2]].join(',') + ' ' + [r[0], r[1], r[2]].join(',');
            }; img.onerror = () => { window.__decoded = 'decode error'; }; img.src = {{JsonSerializer.Serialize(url)}}; return 'started'; })()
            """;
        Assert.Equal("started", await _browser.EvaluateAsync(js));
        string? decoded = null;
        for (var wait = Stopwatch.StartNew(); decoded is null && wait.Elapsed < TimeSpan.FromSeconds(5);)
        {
            await Task.Delay(20);
            decoded = await _browser.EvaluateAsync("window.__decoded");
        }
        Assert.Equal("400x300 255,0,0 0,0,255", decoded);
    }
}
