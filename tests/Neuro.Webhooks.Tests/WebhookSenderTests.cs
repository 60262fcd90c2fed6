using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Neuro.Testing;

namespace Neuro.Webhooks.Tests;

/// <summary>Deliveries to real HTTP receivers on loopback (admitted by the allow-list, as an operator would for an
/// in-cluster receiver).</summary>
public sealed class WebhookSenderTests
{
    private const string Secret = "test-signing-secret";

    private sealed record Received(string? Signature, string? Timestamp, string? Delivery, string? Event, byte[] Body);

    private static async Task<(LocalSite Site, ConcurrentQueue<Received> Seen)> Receiver(Func<int, int> statusForAttempt, string host = "127.0.0.1")
    {
        var seen = new ConcurrentQueue<Received>();
        var site = await LocalSite.StartAsync(app => app.MapPost("/hook", async (HttpContext c) =>
        {
            using var body = new MemoryStream();
            await c.Request.Body.CopyToAsync(body);
            seen.Enqueue(new Received(c.Request.Headers[WebhookSignature.SignatureHeader], c.Request.Headers[WebhookSignature.TimestampHeader],
                c.Request.Headers[WebhookSignature.DeliveryHeader], c.Request.Headers[WebhookSignature.EventHeader], body.ToArray()));
            return Results.StatusCode(statusForAttempt(seen.Count));
        }), host);
        return (site, seen);
    }

    private static WebhookOptions Fast(int attempts = 4) => new()
    {
        SigningSecret = Secret, MaxAttempts = attempts, InitialBackoff = TimeSpan.FromMilliseconds(20),
        MaxBackoff = TimeSpan.FromMilliseconds(100), AttemptTimeout = TimeSpan.FromSeconds(5),
    };

    private static WebhookMessage Message(string url) =>
        new(url, "task.completed", "task_42", Encoding.UTF8.GetBytes("""{"task_id":"task_42","status":"completed"}"""));

    [Fact]
    public async Task A_500_is_retried_and_every_attempt_is_signed_with_the_same_delivery_id()
    {
        var (site, seen) = await Receiver(attempt => attempt == 1 ? 500 : 204);
        await using var _ = site;
        using var sender = new WebhookSender(Fast(), new CallbackUrlGuard(["127.0.0.1/32"]));

        var result = await sender.SendAsync(Message(site.Url + "/hook"));

        Assert.Equal(new WebhookResult(true, 2, 204, null), result);
        Assert.Equal(2, seen.Count);
        foreach (var r in seen)
        {
            Assert.True(WebhookSignature.Verify(Secret, r.Signature, r.Timestamp, r.Body, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)));
            Assert.False(WebhookSignature.Verify("another-secret", r.Signature, r.Timestamp, r.Body, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)));
            Assert.Equal("task_42", r.Delivery);
            Assert.Equal("task.completed", r.Event);
        }
        // A changed body or an old timestamp does not verify.
        var first = seen.First();
        Assert.False(WebhookSignature.Verify(Secret, first.Signature, first.Timestamp, [.. first.Body, (byte)' '], DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify(Secret, first.Signature, first.Timestamp, first.Body, DateTimeOffset.UtcNow.AddMinutes(10), TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public async Task A_receiver_that_keeps_failing_gets_the_configured_attempts_then_the_failure_is_reported()
    {
        var (site, seen) = await Receiver(_ => 503);
        await using var _ = site;
        using var sender = new WebhookSender(Fast(attempts: 3), new CallbackUrlGuard(["127.0.0.1/32"]));

        var result = await sender.SendAsync(Message(site.Url + "/hook"));

        Assert.False(result.Delivered);
        Assert.Equal(3, result.Attempts);
        Assert.Equal(503, result.StatusCode);
        Assert.Equal(3, seen.Count);
    }

    [Fact]
    public async Task A_400_is_not_retried()
    {
        var (site, seen) = await Receiver(_ => 400);
        await using var _ = site;
        using var sender = new WebhookSender(Fast(), new CallbackUrlGuard(["127.0.0.1/32"]));
        var result = await sender.SendAsync(Message(site.Url + "/hook"));
        Assert.Equal(new WebhookResult(false, 1, 400, "receiver answered 400 Bad Request"), result);
        Assert.Single(seen);
    }

    [Fact]
    public async Task A_name_that_rebinds_to_a_refused_address_after_the_submit_check_is_never_dialled()
    {
        // The receiver listens on 127.0.0.2, which the allow-list (127.0.0.1/32) does not admit.
        var (site, seen) = await Receiver(_ => 200, host: "127.0.0.2");
        await using var _ = site;
        var port = new Uri(site.Url).Port;
        // A stand-in for a hostile DNS server: the first answer passes the submit-time check, later ones point inside.
        var lookups = 0;
        var guard = new CallbackUrlGuard(["127.0.0.1/32"], (_, _) =>
            Task.FromResult(new[] { IPAddress.Parse(Interlocked.Increment(ref lookups) == 1 ? "127.0.0.1" : "127.0.0.2") }));
        var url = $"http://hooks.rebind.test:{port}/hook";
        Assert.NotEmpty(await guard.CheckAsync(url)); // what the submit sees
        using var sender = new WebhookSender(Fast(), guard);

        var result = await sender.SendAsync(Message(url));

        Assert.False(result.Delivered);
        Assert.Contains("127.0.0.2", result.Error);
        Assert.Equal(1, result.Attempts); // a refusal is final, not retried
        Assert.Empty(seen);
    }

    [Fact]
    public async Task Redirects_are_not_followed()
    {
        var (target, seen) = await Receiver(_ => 200);
        await using var __ = target;
        await using var site = await LocalSite.StartAsync(app => app.MapPost("/hook", () => Results.Redirect(target.Url + "/hook", permanent: false, preserveMethod: true)));
        using var sender = new WebhookSender(Fast(), new CallbackUrlGuard(["127.0.0.1/32"]));
        var result = await sender.SendAsync(Message(site.Url + "/hook"));
        Assert.False(result.Delivered);
        Assert.Equal(307, result.StatusCode);
        Assert.Empty(seen);
    }

    [Fact]
    public void A_sender_without_a_signing_secret_is_refused() =>
        Assert.Throws<ArgumentException>(() => new WebhookSender(new WebhookOptions(), new CallbackUrlGuard([])));
}
