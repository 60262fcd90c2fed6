namespace Neuro.Webhooks;

/// <summary>Bound from <c>Neuro:Webhooks</c>.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Neuro:Webhooks";

    /// <summary>Key of the HMAC-SHA256 signature receivers verify. Without one, tasks with a callback_url are refused:
    /// an unsigned webhook would let anyone who finds the receiver forge task results.</summary>
    public string? SigningSecret { get; set; }

    /// <summary>Networks (CIDR, e.g. "10.20.0.0/16" or "127.0.0.1/32") a callback may reach even though they are
    /// loopback, private, link-local or otherwise internal. Empty by default: only public addresses.</summary>
    public List<string> AllowedNetworks { get; set; } = [];

    /// <summary>Attempts per delivery, the first included.</summary>
    public int MaxAttempts { get; set; } = 6;

    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(60);

    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Deliveries in flight at once on one silo.</summary>
    public int Concurrency { get; set; } = 8;
}
