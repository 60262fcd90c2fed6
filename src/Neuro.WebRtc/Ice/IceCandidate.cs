using System.Globalization;
using System.Net;
using System.Text;

namespace Neuro.WebRtc.Ice;

public enum IceCandidateType { Host, ServerReflexive, PeerReflexive, Relay }

/// <summary>
/// An ICE candidate (RFC 8445 §5.1, SDP grammar of RFC 8839 §5.1). The address may be an mDNS name we cannot resolve;
/// <see cref="EndPoint"/> is then null and the candidate is never paired.
/// </summary>
public sealed record IceCandidate(
    string Foundation,
    int Component,
    string Transport,
    uint Priority,
    string Address,
    int Port,
    IceCandidateType Type,
    string? RelatedAddress = null,
    int? RelatedPort = null,
    string? TcpType = null)
{
    public IPEndPoint? EndPoint => IPAddress.TryParse(Address, out var ip) ? new IPEndPoint(ip, Port) : null;

    /// <summary>RFC 8445 §5.1.2.1 with the recommended type preferences (host 126, prflx 110, srflx 100, relay 0).</summary>
    public static uint ComputePriority(IceCandidateType type, int localPreference, int component) =>
        (uint)((TypePreference(type) << 24) + (localPreference << 8) + (256 - component));

    public static int TypePreference(IceCandidateType type) => type switch
    {
        IceCandidateType.Host => 126,
        IceCandidateType.PeerReflexive => 110,
        IceCandidateType.ServerReflexive => 100,
        _ => 0,
    };

    /// <summary>Parses the value of <c>a=candidate:</c>, with or without its <c>candidate:</c> prefix.</summary>
    public static bool TryParse(string? text, out IceCandidate? candidate)
    {
        candidate = null;
        if (text is null || text.Length > 1024) return false;
        if (text.StartsWith("candidate:", StringComparison.Ordinal)) text = text["candidate:".Length..];
        string[] p = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (p.Length < 8 || p[6] != "typ" || p[0].Length is 0 or > 32) return false;
        if (!int.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out int component) || component is < 1 or > 256) return false;
        if (!uint.TryParse(p[3], NumberStyles.None, CultureInfo.InvariantCulture, out uint priority)) return false;
        if (!int.TryParse(p[5], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535) return false;
        IceCandidateType type;
        switch (p[7])
        {
            case "host": type = IceCandidateType.Host; break;
            case "srflx": type = IceCandidateType.ServerReflexive; break;
            case "prflx": type = IceCandidateType.PeerReflexive; break;
            case "relay": type = IceCandidateType.Relay; break;
            default: return false;
        }
        string? raddr = null, tcptype = null;
        int? rport = null;
        for (int i = 8; i + 1 < p.Length; i += 2)
        {
            switch (p[i])
            {
                case "raddr": raddr = p[i + 1]; break;
                case "rport":
                    if (!int.TryParse(p[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int rp) || rp > 65535) return false;
                    rport = rp;
                    break;
                case "tcptype": tcptype = p[i + 1]; break;
            }
        }
        candidate = new IceCandidate(p[0], component, p[2].ToLowerInvariant(), priority, p[4], port, type, raddr, rport, tcptype);
        return true;
    }

    /// <summary>The <c>a=candidate:</c> value (without the <c>candidate:</c> prefix).</summary>
    public string ToSdpValue()
    {
        var sb = new StringBuilder();
        sb.Append(Foundation).Append(' ').Append(Component.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(Transport.ToUpperInvariant())
          .Append(' ').Append(Priority.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(Address).Append(' ')
          .Append(Port.ToString(CultureInfo.InvariantCulture)).Append(" typ ").Append(Type switch
          {
              IceCandidateType.Host => "host",
              IceCandidateType.ServerReflexive => "srflx",
              IceCandidateType.PeerReflexive => "prflx",
              _ => "relay",
          });
        if (RelatedAddress is not null) sb.Append(" raddr ").Append(RelatedAddress);
        if (RelatedPort is not null) sb.Append(" rport ").Append(RelatedPort.Value.ToString(CultureInfo.InvariantCulture));
        if (TcpType is not null) sb.Append(" tcptype ").Append(TcpType);
        return sb.ToString();
    }

    public override string ToString() => "candidate:" + ToSdpValue();
}
