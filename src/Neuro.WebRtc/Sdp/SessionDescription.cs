using System.Globalization;
using System.Text;

namespace Neuro.WebRtc.Sdp;

/// <summary>Why an SDP text was rejected: the 1-based line and what was wrong with it.</summary>
public sealed record SdpParseError(int Line, string Message)
{
    public override string ToString() => $"SDP line {Line}: {Message}";
}

/// <summary>Thrown by <see cref="SessionDescription.Parse"/>; <see cref="SessionDescription.TryParse"/> returns the same error instead.</summary>
public sealed class SdpParseException(SdpParseError error) : FormatException(error.ToString())
{
    public SdpParseError Error { get; } = error;
}

/// <summary>One <c>a=</c> line: <c>a=name</c> (flag, <see cref="Value"/> null) or <c>a=name:value</c>.</summary>
public sealed record SdpAttribute(string Name, string? Value)
{
    public override string ToString() => Value is null ? $"a={Name}" : $"a={Name}:{Value}";
}

/// <summary>The DTLS role an endpoint offers or takes (RFC 4145/8842 <c>a=setup</c>).</summary>
public enum SetupRole { ActPass, Active, Passive }

/// <summary>A certificate fingerprint (<c>a=fingerprint:sha-256 AB:CD:…</c>).</summary>
public sealed record CertificateFingerprint(string Algorithm, byte[] Value)
{
    public static bool TryParse(string text, out CertificateFingerprint? fingerprint)
    {
        fingerprint = null;
        int space = text.IndexOf(' ');
        if (space <= 0) return false;
        string hex = text[(space + 1)..].Trim();
        string[] parts = hex.Split(':');
        if (parts.Length is 0 or > 64) return false;
        var value = new byte[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value[i])) return false;
        }
        fingerprint = new CertificateFingerprint(text[..space].ToLowerInvariant(), value);
        return true;
    }

    public bool Matches(CertificateFingerprint other) =>
        string.Equals(Algorithm, other.Algorithm, StringComparison.OrdinalIgnoreCase) && Value.AsSpan().SequenceEqual(other.Value);

    public override string ToString() => $"{Algorithm} {Convert.ToHexString(Value).Chunk(2).Select(c => new string(c)).Aggregate((a, b) => a + ":" + b)}";
}

/// <summary><c>a=rtpmap:96 VP8/90000</c> or <c>a=rtpmap:111 opus/48000/2</c>.</summary>
public sealed record RtpMap(int PayloadType, string EncodingName, int ClockRate, int Channels);

/// <summary>
/// One m= section. Attributes keep their order so that a description round-trips; the typed properties read them.
/// </summary>
public sealed class MediaDescription
{
    public MediaDescription(string kind, int port, string protocol, IEnumerable<string> formats)
    {
        Kind = kind;
        Port = port;
        Protocol = protocol;
        Formats = formats.ToList();
    }

    /// <summary><c>video</c>, <c>audio</c> or <c>application</c>.</summary>
    public string Kind { get; }
    public int Port { get; set; }
    public string Protocol { get; }
    /// <summary>Payload types for RTP media; <c>webrtc-datachannel</c> for the data channel section.</summary>
    public List<string> Formats { get; }
    public string? Connection { get; set; }
    public List<SdpAttribute> Attributes { get; } = [];

    public string? Mid => Attribute("mid");
    public string? IceUfrag => Attribute("ice-ufrag");
    public string? IcePwd => Attribute("ice-pwd");
    public bool RtcpMux => HasAttribute("rtcp-mux");
    public bool EndOfCandidates => HasAttribute("end-of-candidates");
    public string? Direction => Attributes.Select(a => a.Name).FirstOrDefault(n => n is "sendrecv" or "sendonly" or "recvonly" or "inactive");
    /// <summary>RFC 8841 <c>a=sctp-port</c>, or the legacy <c>a=sctpmap:5000 webrtc-datachannel …</c> still sent by some stacks.</summary>
    public int? SctpPort =>
        int.TryParse(Attribute("sctp-port"), NumberStyles.None, CultureInfo.InvariantCulture, out int p) ? p
        : Attribute("sctpmap") is { } map && int.TryParse(map.Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out int legacy) ? legacy
        : null;
    public long? MaxMessageSize => long.TryParse(Attribute("max-message-size"), NumberStyles.None, CultureInfo.InvariantCulture, out long s) ? s : null;

    public SetupRole? Setup => Attribute("setup") switch
    {
        "actpass" => SetupRole.ActPass,
        "active" => SetupRole.Active,
        "passive" => SetupRole.Passive,
        _ => null,
    };

    public CertificateFingerprint? Fingerprint =>
        Attribute("fingerprint") is { } f && CertificateFingerprint.TryParse(f, out var fp) ? fp : null;

    public IEnumerable<RtpMap> RtpMaps
    {
        get
        {
            foreach (var a in Attributes)
            {
                if (a.Name != "rtpmap" || a.Value is null) continue;
                if (SessionDescription.TryParseRtpMap(a.Value, out var map)) yield return map!;
            }
        }
    }

    /// <summary>The <c>a=fmtp</c> parameters of one payload type, or null.</summary>
    public string? Fmtp(int payloadType) => ValuesFor("fmtp", payloadType).FirstOrDefault();

    /// <summary>The <c>a=rtcp-fb</c> values of one payload type (e.g. <c>nack</c>, <c>nack pli</c>).</summary>
    public IEnumerable<string> RtcpFeedback(int payloadType) => ValuesFor("rtcp-fb", payloadType);

    /// <summary>The distinct SSRCs of <c>a=ssrc</c> lines (RFC 5576): which streams the peer will send in this section.</summary>
    public IEnumerable<uint> Ssrcs => Attributes
        .Where(a => a.Name == "ssrc" && a.Value is not null)
        .Select(a => uint.TryParse(a.Value!.Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint ssrc) ? (uint?)ssrc : null)
        .OfType<uint>()
        .Distinct();

    public IEnumerable<Ice.IceCandidate> Candidates
    {
        get
        {
            foreach (var a in Attributes)
            {
                if (a.Name == "candidate" && a.Value is not null && Ice.IceCandidate.TryParse(a.Value, out var c)) yield return c!;
            }
        }
    }

    public string? Attribute(string name) => Attributes.FirstOrDefault(a => a.Name == name)?.Value;
    public bool HasAttribute(string name) => Attributes.Any(a => a.Name == name);
    public void Add(string name, string? value = null) => Attributes.Add(new SdpAttribute(name, value));

    private IEnumerable<string> ValuesFor(string name, int payloadType)
    {
        string prefix = payloadType.ToString(CultureInfo.InvariantCulture) + " ";
        foreach (var a in Attributes)
        {
            if (a.Name == name && a.Value is not null && a.Value.StartsWith(prefix, StringComparison.Ordinal)) yield return a.Value[prefix.Length..];
        }
    }

    internal void Write(StringBuilder sb)
    {
        sb.Append("m=").Append(Kind).Append(' ').Append(Port.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(Protocol);
        foreach (var f in Formats) sb.Append(' ').Append(f);
        sb.Append("\r\n");
        if (Connection is not null) sb.Append("c=").Append(Connection).Append("\r\n");
        foreach (var a in Attributes) sb.Append(a).Append("\r\n");
    }
}

/// <summary>
/// An SDP session description (RFC 8866) with the JSEP subset WebRTC uses. Parsing is total: any input yields either a
/// description or an <see cref="SdpParseError"/>.
/// </summary>
public sealed class SessionDescription
{
    /// <summary>Longest SDP accepted; real offers are a few KiB, so anything this large is garbage or an attack.</summary>
    public const int MaxLength = 256 * 1024;

    public string Origin { get; set; } = "- 0 0 IN IP4 127.0.0.1";
    public string SessionName { get; set; } = "-";
    public string Timing { get; set; } = "0 0";
    public List<SdpAttribute> Attributes { get; } = [];
    public List<MediaDescription> Media { get; } = [];

    /// <summary>The mids of the first <c>a=group:BUNDLE</c>, or empty.</summary>
    public IReadOnlyList<string> BundleGroup =>
        Attributes.FirstOrDefault(a => a.Name == "group" && a.Value is not null && a.Value.StartsWith("BUNDLE", StringComparison.Ordinal))?.Value!
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToArray() ?? [];

    public string? Attribute(string name) => Attributes.FirstOrDefault(a => a.Name == name)?.Value;
    public bool HasAttribute(string name) => Attributes.Any(a => a.Name == name);
    public void Add(string name, string? value = null) => Attributes.Add(new SdpAttribute(name, value));

    /// <summary>A media-level attribute, falling back to the session level (where JSEP allows ice-ufrag, fingerprint, setup).</summary>
    public string? AttributeFor(MediaDescription media, string name) => media.Attribute(name) ?? Attribute(name);

    public string? IceUfrag(MediaDescription m) => AttributeFor(m, "ice-ufrag");
    public string? IcePwd(MediaDescription m) => AttributeFor(m, "ice-pwd");

    public CertificateFingerprint? Fingerprint(MediaDescription m) =>
        AttributeFor(m, "fingerprint") is { } f && CertificateFingerprint.TryParse(f, out var fp) ? fp : null;

    public SetupRole? Setup(MediaDescription m) => m.Setup ?? (Attribute("setup") switch
    {
        "actpass" => SetupRole.ActPass,
        "active" => SetupRole.Active,
        "passive" => SetupRole.Passive,
        _ => null,
    });

    public static SessionDescription Parse(string text) =>
        TryParse(text, out var sd, out var error) ? sd! : throw new SdpParseException(error!);

    public static bool TryParse(string? text, out SessionDescription? description, out SdpParseError? error)
    {
        description = null;
        error = null;
        if (text is null) { error = new SdpParseError(0, "no text"); return false; }
        if (text.Length > MaxLength) { error = new SdpParseError(0, $"longer than {MaxLength} characters"); return false; }
        var sd = new SessionDescription();
        MediaDescription? media = null;
        bool sawVersion = false, sawOrigin = false;
        int lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            if (line.Length < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z')
            {
                error = new SdpParseError(lineNo, "expected <type>=<value>");
                return false;
            }
            char type = line[0];
            string value = line[2..];
            if (!sawVersion)
            {
                if (type != 'v' || value != "0") { error = new SdpParseError(lineNo, "must start with v=0"); return false; }
                sawVersion = true;
                continue;
            }
            switch (type)
            {
                case 'o':
                    if (value.Split(' ').Length != 6) { error = new SdpParseError(lineNo, "o= needs 6 fields"); return false; }
                    sd.Origin = value;
                    sawOrigin = true;
                    break;
                case 's': sd.SessionName = value; break;
                case 't': sd.Timing = value; break;
                case 'c':
                    if (media is not null) media.Connection = value;
                    break;
                case 'm':
                    if (!TryParseMediaLine(value, out media)) { error = new SdpParseError(lineNo, "malformed m= line"); return false; }
                    sd.Media.Add(media!);
                    break;
                case 'a':
                    if (!TryParseAttribute(value, out var attribute, out string? why)) { error = new SdpParseError(lineNo, why!); return false; }
                    if (media is null) sd.Attributes.Add(attribute!); else media.Attributes.Add(attribute!);
                    break;
                default:
                    // b=, i=, u=, e=, p=, z=, k=, r= carry nothing WebRTC needs; RFC 8866 says to ignore unknown types.
                    break;
            }
        }
        if (!sawVersion) { error = new SdpParseError(lineNo, "empty description"); return false; }
        if (!sawOrigin) { error = new SdpParseError(lineNo, "no o= line"); return false; }
        description = sd;
        return true;
    }

    private static bool TryParseMediaLine(string value, out MediaDescription? media)
    {
        media = null;
        string[] parts = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 4) return false;
        string portText = parts[1];
        int slash = portText.IndexOf('/');
        if (slash >= 0) portText = portText[..slash];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535) return false;
        media = new MediaDescription(parts[0], port, parts[2], parts.Skip(3));
        return true;
    }

    private static bool TryParseAttribute(string value, out SdpAttribute? attribute, out string? why)
    {
        attribute = null;
        why = null;
        int colon = value.IndexOf(':');
        string name = colon < 0 ? value : value[..colon];
        string? v = colon < 0 ? null : value[(colon + 1)..];
        if (name.Length == 0 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            why = "malformed attribute name";
            return false;
        }
        // The attributes we act on are validated here, so a description that parsed can be used without further checks.
        switch (name)
        {
            case "candidate" when v is null || !Ice.IceCandidate.TryParse(v, out _):
                why = "malformed candidate";
                return false;
            case "fingerprint" when v is null || !CertificateFingerprint.TryParse(v, out _):
                why = "malformed fingerprint";
                return false;
            case "rtpmap" when v is null || !TryParseRtpMap(v, out _):
                why = "malformed rtpmap";
                return false;
            case "setup" when v is not ("actpass" or "active" or "passive" or "holdconn"):
                why = "unknown setup role";
                return false;
            case "ice-ufrag" or "ice-pwd" or "mid" when string.IsNullOrEmpty(v):
                why = $"{name} without a value";
                return false;
        }
        attribute = new SdpAttribute(name, v);
        return true;
    }

    internal static bool TryParseRtpMap(string value, out RtpMap? map)
    {
        map = null;
        int space = value.IndexOf(' ');
        if (space <= 0) return false;
        if (!int.TryParse(value.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out int pt) || pt > 127) return false;
        string[] enc = value[(space + 1)..].Split('/');
        if (enc.Length is < 2 or > 3 || enc[0].Length == 0) return false;
        if (!int.TryParse(enc[1], NumberStyles.None, CultureInfo.InvariantCulture, out int rate) || rate <= 0) return false;
        int channels = 1;
        if (enc.Length == 3 && (!int.TryParse(enc[2], NumberStyles.None, CultureInfo.InvariantCulture, out channels) || channels is <= 0 or > 255)) return false;
        map = new RtpMap(pt, enc[0], rate, channels);
        return true;
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("v=0\r\n");
        sb.Append("o=").Append(Origin).Append("\r\n");
        sb.Append("s=").Append(SessionName).Append("\r\n");
        sb.Append("t=").Append(Timing).Append("\r\n");
        foreach (var a in Attributes) sb.Append(a).Append("\r\n");
        foreach (var m in Media) m.Write(sb);
        return sb.ToString();
    }
}
