using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace Neuro.Webhooks;

/// <summary>One webhook to deliver: where, what, and the id receivers use to drop duplicates (the same on every retry).</summary>
public sealed record WebhookMessage(string Url, string Event, string DeliveryId, byte[] Body);

/// <summary>How a delivery ended: delivered (2xx) or not, after how many attempts, and the last status or error.</summary>
public sealed record WebhookResult(bool Delivered, int Attempts, int? StatusCode, string? Error);

/// <summary>
/// Delivers webhooks over one HTTP pipeline: the standard retry (exponential backoff with jitter on 5xx, 408, 429 and
/// connection failures) and a per-attempt timeout from Microsoft.Extensions.Http.Resilience, on a socket handler
/// whose connect step resolves the host itself and dials only addresses the <see cref="CallbackUrlGuard"/> admits —
/// the re-check at delivery time that defeats DNS rebinding. Redirects are not followed.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    private static readonly HttpRequestOptionsKey<StrongBox<int>> AttemptsKey = new("neuro.webhook.attempts");

    private readonly HttpClient _http;
    private readonly string _secret;
    private readonly TimeProvider _time;

    public WebhookSender(WebhookOptions options, CallbackUrlGuard guard, TimeProvider? time = null)
    {
        _secret = options.SigningSecret is { Length: > 0 } s ? s : throw new ArgumentException("Neuro:Webhooks:SigningSecret is required to send webhooks");
        _time = time ?? TimeProvider.System;
        var sockets = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false, // a proxy would dial on our behalf, past the address check
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectCallback = async (context, cancellationToken) =>
            {
                var addresses = await guard.CheckHostAsync(context.DnsEndPoint.Host, cancellationToken);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var retry = new HttpRetryStrategyOptions
        {
            MaxRetryAttempts = Math.Max(0, options.MaxAttempts - 1),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = options.InitialBackoff,
            MaxDelay = options.MaxBackoff,
            ShouldRetryAfterHeader = true,
            // A refused address stays refused: retrying would only hammer the resolver.
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is not { } e ? HttpClientResiliencePredicates.IsTransient(args.Outcome) : !IsRefusal(e) && HttpClientResiliencePredicates.IsTransient(args.Outcome)),
        };
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(retry)
            .AddTimeout(options.AttemptTimeout)
            .Build();
#pragma warning disable EXTEXP0001 // ResilienceHandler over a pipeline we build ourselves: no DI container needed here
        var handler = new ResilienceHandler(pipeline) { InnerHandler = new AttemptCounter { InnerHandler = sockets } };
#pragma warning restore EXTEXP0001
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public async Task<WebhookResult> SendAsync(WebhookMessage message, CancellationToken cancellationToken = default)
    {
        var attempts = new StrongBox<int>();
        using var request = new HttpRequestMessage(HttpMethod.Post, message.Url) { Content = new ByteArrayContent(message.Body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(_secret, timestamp, message.Body));
        request.Headers.Add(WebhookSignature.DeliveryHeader, message.DeliveryId);
        request.Headers.Add(WebhookSignature.EventHeader, message.Event);
        request.Options.Set(AttemptsKey, attempts);
        try
        {
            using var response = await _http.SendAsync(request, cancellationToken);
            var code = (int)response.StatusCode;
            return response.IsSuccessStatusCode
                ? new WebhookResult(true, attempts.Value, code, null)
                : new WebhookResult(false, attempts.Value, code, $"receiver answered {code} {response.ReasonPhrase}");
        }
        catch (Exception e) when (e is HttpRequestException or Polly.Timeout.TimeoutRejectedException or CallbackRefusedException)
        {
            var refusal = FindRefusal(e);
            return new WebhookResult(false, attempts.Value, null, refusal?.Message ?? e.Message);
        }
    }

    private static bool IsRefusal(Exception e) => FindRefusal(e) is not null;

    private static CallbackRefusedException? FindRefusal(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is CallbackRefusedException refused)
            {
                return refused;
            }
        }
        return null;
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Counts the attempts the retry makes, for the delivery status shown on the task.</summary>
    private sealed class AttemptCounter : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Options.TryGetValue(AttemptsKey, out var attempts))
            {
                Interlocked.Increment(ref attempts.Value);
            }
            return base.SendAsync(request, cancellationToken);
        }
    }
}
