using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Neuro.Webhooks;

/// <summary>
/// The signature a receiver checks: <c>X-Neuro-Signature: v1=hex(HMAC-SHA256(secret, "{timestamp}.{body}"))</c> with
/// <c>X-Neuro-Timestamp</c> in Unix seconds. Signing the timestamp lets receivers refuse replays older than their
/// tolerance (we suggest 5 minutes); the version prefix leaves room to rotate the scheme.
/// </summary>
public static class WebhookSignature
{
    public const string SignatureHeader = "X-Neuro-Signature";
    public const string TimestampHeader = "X-Neuro-Timestamp";
    public const string DeliveryHeader = "X-Neuro-Delivery";
    public const string EventHeader = "X-Neuro-Event";

    public static string Sign(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        return "v1=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed));
    }

    /// <summary>Constant-time check of a received signature, with a replay window.</summary>
    public static bool Verify(string secret, string? signature, string? timestamp, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        if (signature is null || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var ts)
            || Math.Abs(now.ToUnixTimeSeconds() - ts) > tolerance.TotalSeconds)
        {
            return false;
        }
        var expected = Encoding.ASCII.GetBytes(Sign(secret, ts, body));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(signature));
    }
}
