using System.Net;
using System.Net.Sockets;

namespace Neuro.Webhooks;

/// <summary>Host name → addresses. <see cref="Dns"/> in production; tests pass a stand-in for DNS to play a rebinding
/// attack, which a real resolver here cannot.</summary>
public delegate Task<IPAddress[]> HostResolver(string host, CancellationToken cancellationToken);

public sealed class CallbackRefusedException(string message) : Exception(message);

/// <summary>
/// Decides whether a callback URL may be called (server-side request forgery guard). A URL is refused when it is not
/// plain http(s), carries credentials, or when any address its host resolves to is loopback, private (RFC 1918, CGNAT,
/// IPv6 ULA), link-local (which holds the cloud metadata services), unspecified, multicast or otherwise reserved —
/// unless an allowed network of the configuration contains it. The same check runs on submit and again on every
/// connection the delivery opens, so a name that resolves elsewhere later (DNS rebinding) is caught when it matters.
/// </summary>
public sealed class CallbackUrlGuard
{
    public const int MaxUrlLength = 2048;

    private static readonly IPNetwork[] Internal =
    [
        IPNetwork.Parse("0.0.0.0/8"), IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("100.64.0.0/10"), IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"), IPNetwork.Parse("172.16.0.0/12"), IPNetwork.Parse("192.0.0.0/24"), IPNetwork.Parse("192.0.2.0/24"),
        IPNetwork.Parse("192.168.0.0/16"), IPNetwork.Parse("198.18.0.0/15"), IPNetwork.Parse("198.51.100.0/24"), IPNetwork.Parse("203.0.113.0/24"),
        IPNetwork.Parse("224.0.0.0/4"), IPNetwork.Parse("240.0.0.0/4"),
        IPNetwork.Parse("::/128"), IPNetwork.Parse("::1/128"), IPNetwork.Parse("64:ff9b::/96"), IPNetwork.Parse("100::/64"),
        IPNetwork.Parse("2001:db8::/32"), IPNetwork.Parse("fc00::/7"), IPNetwork.Parse("fe80::/10"), IPNetwork.Parse("ff00::/8"),
    ];

    private readonly IPNetwork[] _allowed;
    private readonly HostResolver _resolve;

    public CallbackUrlGuard(IEnumerable<string> allowedNetworks, HostResolver? resolve = null)
    {
        _allowed = allowedNetworks.Select(n => IPNetwork.TryParse(n, out var net)
            ? net
            : throw new ArgumentException($"Neuro:Webhooks:AllowedNetworks: '{n}' is not a CIDR network such as 10.0.0.0/8")).ToArray();
        _resolve = resolve ?? ((host, ct) => Dns.GetHostAddressesAsync(host, ct));
    }

    /// <summary>Why the URL's form is unacceptable, or null. Checks nothing on the network.</summary>
    public static string? ShapeProblem(string url, out Uri? uri)
    {
        uri = null;
        if (url.Length > MaxUrlLength)
        {
            return $"must be at most {MaxUrlLength} characters";
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https"))
        {
            return "must be an absolute http:// or https:// URL";
        }
        if (parsed.UserInfo.Length > 0)
        {
            return "must not carry credentials";
        }
        if (parsed.HostNameType is UriHostNameType.Unknown || parsed.Host.Length == 0)
        {
            return "must name a host";
        }
        uri = parsed;
        return null;
    }

    /// <summary>Why an address may not be called, or null when it may.</summary>
    public string? AddressProblem(IPAddress address)
    {
        // An IPv4 address written as IPv6 (::ffff:10.0.0.1) is the IPv4 address for routing purposes.
        var a = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        if (_allowed.Any(n => n.Contains(a)))
        {
            return null;
        }
        return Internal.Any(n => n.Contains(a))
            ? $"resolves to {a}, an internal address (loopback, private, link-local, metadata or reserved); add its network to Neuro:Webhooks:AllowedNetworks to allow it"
            : null;
    }

    /// <summary>Resolves the URL's host and checks every address; the addresses that may be dialled, or the refusal.</summary>
    public async Task<IPAddress[]> CheckAsync(string url, CancellationToken cancellationToken = default)
    {
        if (ShapeProblem(url, out var uri) is { } shape)
        {
            throw new CallbackRefusedException(shape);
        }
        return await CheckHostAsync(uri!.IdnHost, cancellationToken);
    }

    public async Task<IPAddress[]> CheckHostAsync(string host, CancellationToken cancellationToken = default)
    {
        IPAddress[] addresses;
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = await _resolve(host, cancellationToken);
            }
            catch (SocketException e)
            {
                throw new CallbackRefusedException($"host '{host}' does not resolve ({e.SocketErrorCode})");
            }
        }
        if (addresses.Length == 0)
        {
            throw new CallbackRefusedException($"host '{host}' does not resolve");
        }
        foreach (var address in addresses)
        {
            if (AddressProblem(address) is { } problem)
            {
                throw new CallbackRefusedException(problem);
            }
        }
        return addresses;
    }
}
