using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Neuro.Agents;

/// <summary>Settings of <see cref="OpenAiPolicy"/>: where the OpenAI-compatible server is (vLLM, SGLang, OpenAI itself),
/// which model, and how hard to try.</summary>
public sealed class OpenAiPolicyOptions
{
    /// <summary>Server root, e.g. <c>http://127.0.0.1:8000</c>. Requests go to <c>{BaseUrl}/v1/chat/completions</c>; a base
    /// URL that already ends in <c>/v1</c> is accepted too (it is not doubled).</summary>
    public string BaseUrl { get; set; } = "http://127.0.0.1:8000";

    /// <summary>Sent as <c>Authorization: Bearer …</c> when set; never logged, never put in exception messages.</summary>
    public string? ApiKey { get; set; }

    public string Model { get; set; } = "showlab/ShowUI-2B";

    public double Temperature { get; set; }

    public int MaxTokens { get; set; } = 128;

    /// <summary>Each HTTP attempt is abandoned (and retried) after this long.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Retries after the first attempt for 408, 429, 5xx, timeouts and connection failures. 0 = try once.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>Backoff before retry k (1-based) is <c>InitialBackoff · 2^(k-1)</c> with ±20 % jitter, capped at
    /// <see cref="MaxBackoff"/>; a <c>Retry-After</c> header from the server wins (also capped).</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Screenshots with more pixels than this are downscaled (aspect kept) before sending. ShowUI's recommended
    /// maximum is 1344·28·28. Null or 0 sends the screenshot as is.</summary>
    public long? MaxPixels { get; set; } = 1344L * 28 * 28;

    /// <summary>Only the last this-many steps go into the prompt's action history (bounded prompt on long tasks).</summary>
    public int MaxHistorySteps { get; set; } = 30;

    /// <summary>Diagnostics (retries, give-ups, skipped downscaling). The API key never appears in these lines.</summary>
    public Action<string>? Log { get; set; }
}

/// <summary>The policy call failed for good: a 4xx other than 408/429, retries used up, or an unusable response.</summary>
public sealed class OpenAiPolicyException(string message, int? statusCode, int attempts, string? responseExcerpt, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>HTTP status of the last response, or null when the last attempt got none (timeout, connection refused).</summary>
    public int? StatusCode { get; } = statusCode;

    public int Attempts { get; } = attempts;

    public string? ResponseExcerpt { get; } = responseExcerpt;
}

/// <summary>A vision-language model behind an OpenAI-compatible chat-completions endpoint (ShowUI, UI-TARS, Qwen-VL served
/// by vLLM, …). Each step sends one user message in ShowUI's navigation layout — system prompt with the action space and
/// output format, the task, the action history, the screenshot as a PNG data URL — and returns the model's text for
/// <see cref="ActionParser"/>.</summary>
public sealed class OpenAiPolicy : IAgentPolicy, IDisposable
{
    private const int ExcerptChars = 500;

    private readonly OpenAiPolicyOptions _options;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly Uri _endpoint;

    /// <param name="http">Optional client to share (its <see cref="HttpClient.Timeout"/> should be infinite or longer
    /// than <see cref="OpenAiPolicyOptions.RequestTimeout"/>; the per-attempt timeout is applied here).</param>
    public OpenAiPolicy(OpenAiPolicyOptions options, HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxRetries);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxTokens, 1);
        if (options.RequestTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "RequestTimeout must be positive");
        }
        _options = options;
        _endpoint = ChatCompletionsUri(options.BaseUrl);
        _ownsHttp = http is null;
        _http = http ?? new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
    }

    public static Uri ChatCompletionsUri(string baseUrl)
    {
        if (!Uri.TryCreate(baseUrl?.TrimEnd('/'), UriKind.Absolute, out var root) || root.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"BaseUrl '{baseUrl}' is not an absolute http(s) URL", nameof(baseUrl));
        }
        var path = root.AbsolutePath.TrimEnd('/');
        var suffix = path.EndsWith("/v1", StringComparison.Ordinal) ? "/chat/completions" : "/v1/chat/completions";
        return new UriBuilder(root) { Path = path + suffix }.Uri;
    }

    public async Task<string> NextAsync(AgentContext context, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var body = BuildRequest(context).ToJsonString();
        var attempts = 0;
        while (true)
        {
            attempts++;
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(_options.RequestTimeout);
            string failure;
            int? status = null;
            string? excerpt = null;
            TimeSpan? retryAfter = null;
            Exception? inner = null;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint)
                {
                    Content = new StringContent(body, Encoding.UTF8, "application/json"),
                };
                if (!string.IsNullOrEmpty(_options.ApiKey))
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.ApiKey);
                }
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attempt.Token);
                var text = await response.Content.ReadAsStringAsync(attempt.Token);
                status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode)
                {
                    return ReadContent(text, attempts);
                }
                excerpt = Excerpt(text);
                retryAfter = RetryAfter(response);
                failure = $"HTTP {status} {response.ReasonPhrase}";
                if (!IsRetryable(response.StatusCode))
                {
                    throw new OpenAiPolicyException(
                        $"chat completions at {_endpoint} refused the request: {failure} (not retried): {excerpt}", status, attempts, excerpt);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw; // the caller cancelled: stop now, no retry
            }
            catch (OperationCanceledException e)
            {
                failure = $"no response within {_options.RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s";
                inner = e;
            }
            catch (HttpRequestException e)
            {
                failure = $"request failed: {e.Message}";
                inner = e;
            }
            if (attempts > _options.MaxRetries)
            {
                _options.Log?.Invoke($"openai-policy: giving up after {attempts} attempts: {failure}");
                throw new OpenAiPolicyException(
                    $"chat completions at {_endpoint} failed after {attempts} attempt(s); last: {failure}{(excerpt is null ? "" : ": " + excerpt)}",
                    status, attempts, excerpt, inner);
            }
            var delay = Backoff(attempts, retryAfter);
            _options.Log?.Invoke($"openai-policy: attempt {attempts} failed ({failure}); retrying in {delay.TotalMilliseconds:F0} ms");
            await Task.Delay(delay, cancellationToken);
        }
    }

    private static bool IsRetryable(HttpStatusCode code) =>
        code is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)code >= 500;

    private TimeSpan Backoff(int attempt, TimeSpan? retryAfter)
    {
        var max = _options.MaxBackoff;
        if (retryAfter is { } ra)
        {
            return ra < TimeSpan.Zero ? TimeSpan.Zero : ra > max ? max : ra;
        }
        var exp = _options.InitialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 20));
        var jittered = exp * (0.8 + 0.4 * Random.Shared.NextDouble());
        return TimeSpan.FromMilliseconds(Math.Min(jittered, max.TotalMilliseconds));
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }
        if (header?.Date is { } date)
        {
            return date - DateTimeOffset.UtcNow;
        }
        return null;
    }

    private string ReadContent(string text, int attempts)
    {
        try
        {
            var root = JsonNode.Parse(text);
            var content = root is JsonObject o && o["choices"] is JsonArray { Count: > 0 } choices && choices[0] is JsonObject choice
                ? choice["message"]?["content"]
                : null;
            switch (content)
            {
                case JsonValue v when v.TryGetValue<string>(out var s):
                    return s;
                case JsonArray parts:
                    // Some servers return content as a list of parts: join the text ones.
                    return string.Concat(parts.Select(p => p?["type"]?.GetValue<string>() == "text" ? p["text"]?.GetValue<string>() : null));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new OpenAiPolicyException($"chat completions at {_endpoint} returned a body that is not valid JSON: {Excerpt(text)}", 200, attempts, Excerpt(text), e);
        }
        throw new OpenAiPolicyException($"chat completions at {_endpoint} returned no choices[0].message.content: {Excerpt(text)}", 200, attempts, Excerpt(text));
    }

    private static string Excerpt(string text)
    {
        var t = text.ReplaceLineEndings(" ").Trim();
        return t.Length <= ExcerptChars ? t : t[..ExcerptChars] + "…";
    }

    /// <summary>The chat-completions request body for one step (public for inspection and tests).</summary>
    public JsonObject BuildRequest(AgentContext context)
    {
        var content = new JsonArray
        {
            TextPart(SystemPrompt(context.Mode)),
            TextPart($"Task: {context.Task}"),
        };
        var history = context.History;
        var skip = Math.Max(0, history.Count - Math.Max(0, _options.MaxHistorySteps));
        foreach (var step in history.Skip(skip))
        {
            content.Add(TextPart(HistoryLine(step)));
        }
        var image = context.Screenshot;
        if (_options.MaxPixels is > 0 and var max)
        {
            var scaled = PngDownscaler.Downscale(image, max);
            if (scaled.Skipped is { } why)
            {
                _options.Log?.Invoke($"openai-policy: screenshot sent at full size ({why})");
            }
            image = scaled.Png;
        }
        content.Add(new JsonObject
        {
            ["type"] = "image_url",
            ["image_url"] = new JsonObject { ["url"] = "data:image/png;base64," + Convert.ToBase64String(image) },
        });
        return new JsonObject
        {
            ["model"] = _options.Model,
            ["messages"] = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = content } },
            ["temperature"] = _options.Temperature,
            ["max_tokens"] = _options.MaxTokens,
            ["stream"] = false,
        };
    }

    private static JsonObject TextPart(string text) => new() { ["type"] = "text", ["text"] = text };

    /// <summary>One earlier step as the model sees it: the action it took (normalised to the output format), or what it
    /// wrote when that could not be parsed.</summary>
    public static string HistoryLine(AgentStep step)
    {
        if (step.Action is { } a)
        {
            return $"Step {step.Number}: {FormatAction(a)}";
        }
        var raw = step.ModelOutput.Length <= 200 ? step.ModelOutput : step.ModelOutput[..200] + "…";
        return $"Step {step.Number}: invalid output {JsonSerializer.Serialize(raw)} ({step.Error})";
    }

    public static string FormatAction(AgentAction a)
    {
        static string P(ScreenPoint p) => $"[{Num(p.X)}, {Num(p.Y)}]";
        static string Num(double d) => Math.Round(d, 4).ToString("0.####", CultureInfo.InvariantCulture);
        var value = a.Value is null ? "None" : "'" + a.Value.Replace("\\", "\\\\").Replace("'", "\\'") + "'";
        var position = a.Position is not { } p ? "None" : a.End is { } e ? $"[{P(p)}, {P(e)}]" : P(p);
        return $"{{'action': '{a.Kind}', 'value': {value}, 'position': {position}}}";
    }

    /// <summary>ShowUI's navigation prompt (in our words): the app being navigated, the action space, the output format.</summary>
    public static string SystemPrompt(AgentMode mode)
    {
        var app = mode == AgentMode.Phone ? "smartphone" : "website";
        var actions = mode == AgentMode.Phone
            ? """
              1. INPUT: type a string into an element. value: the text to type; position: [x,y] of the element.
              2. SWIPE: swipe the screen. value: None; position: [[x1,y1],[x2,y2]] (start and end).
              3. TAP: tap an element. value: None; position: [x,y].
              4. ANSWER: finish and report. value: the answer or the status (e.g. 'task complete'); position: None.
              5. ENTER: press the enter key. value: None; position: None.
              """
            : """
              1. CLICK: click an element. value: None; position: [x,y].
              2. INPUT: type a string into an element. value: the text to type; position: [x,y] of the element.
              3. SELECT: select a value of an element. value: None; position: [x,y].
              4. HOVER: hover over an element. value: None; position: [x,y].
              5. ANSWER: answer the question or report that the task is done. value: the answer; position: None.
              6. ENTER: press the enter key. value: None; position: None.
              7. SCROLL: scroll the screen. value: the direction ('up', 'down', 'left' or 'right'); position: None.
              8. SELECT_TEXT: select text by dragging. value: None; position: [[x1,y1],[x2,y2]] (start and end).
              9. COPY: copy text. value: the text to copy; position: None.
              """;
        return $"""
            You are an assistant trained to navigate the {app} screen. Given a task instruction, a screen observation and an action history sequence, output the next action and wait for the next observation.
            Here is the action space:
            {actions}
            Format the action as a dictionary with the following keys:
            {"{'action': 'ACTION_TYPE', 'value': 'element', 'position': [x,y]}"}
            If value or position is not applicable, set it as None. Position might be [[x1,y1],[x2,y2]] if the action requires a start and end position.
            Position represents the relative coordinates on the screenshot and should be scaled to a range of 0-1.
            Output exactly one such dictionary. Do NOT output extra keys or commentary.
            """;
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }
}
