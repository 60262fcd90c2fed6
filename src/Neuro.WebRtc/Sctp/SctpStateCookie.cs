using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Neuro.WebRtc.Sctp;

/// <summary>
/// The state cookie of INIT ACK (RFC 9260 §5.1.3): everything needed to build the association when COOKIE ECHO comes
/// back, so the server keeps no state for an INIT. An HMAC-SHA256 under a per-association secret makes forged or
/// altered cookies detectable; a timestamp bounds their life.
/// </summary>
internal sealed record SctpStateCookie(
    uint LocalTag,
    uint PeerTag,
    uint LocalInitialTsn,
    uint PeerInitialTsn,
    uint PeerReceiverWindow,
    ushort OutboundStreams,
    ushort InboundStreams,
    bool PeerForwardTsn,
    bool PeerReconfig,
    long CreatedUnixMs)
{
    private const byte Version = 1;
    private const int BodyLength = 1 + 4 * 5 + 2 * 2 + 1 + 8;
    private const int MacLength = 32;
    public const int Length = BodyLength + MacLength;

    public byte[] Seal(ReadOnlySpan<byte> secret)
    {
        var cookie = new byte[Length];
        var b = cookie.AsSpan();
        b[0] = Version;
        BinaryPrimitives.WriteUInt32BigEndian(b.Slice(1), LocalTag);
        BinaryPrimitives.WriteUInt32BigEndian(b.Slice(5), PeerTag);
        BinaryPrimitives.WriteUInt32BigEndian(b.Slice(9), LocalInitialTsn);
        BinaryPrimitives.WriteUInt32BigEndian(b.Slice(13), PeerInitialTsn);
        BinaryPrimitives.WriteUInt32BigEndian(b.Slice(17), PeerReceiverWindow);
        BinaryPrimitives.WriteUInt16BigEndian(b.Slice(21), OutboundStreams);
        BinaryPrimitives.WriteUInt16BigEndian(b.Slice(23), InboundStreams);
        b[25] = (byte)((PeerForwardTsn ? 1 : 0) | (PeerReconfig ? 2 : 0));
        BinaryPrimitives.WriteInt64BigEndian(b.Slice(26), CreatedUnixMs);
        HMACSHA256.HashData(secret, b.Slice(0, BodyLength), b.Slice(BodyLength));
        return cookie;
    }

    /// <summary>Null when the cookie is malformed or its MAC does not verify (forged or altered).</summary>
    public static SctpStateCookie? Open(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> cookie)
    {
        if (cookie.Length != Length || cookie[0] != Version) return null;
        Span<byte> mac = stackalloc byte[MacLength];
        HMACSHA256.HashData(secret, cookie.Slice(0, BodyLength), mac);
        // Constant time so the check does not leak how many MAC bytes an attacker guessed right.
        if (!CryptographicOperations.FixedTimeEquals(mac, cookie.Slice(BodyLength))) return null;
        return new SctpStateCookie(
            BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(1)),
            BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(5)),
            BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(9)),
            BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(13)),
            BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(17)),
            BinaryPrimitives.ReadUInt16BigEndian(cookie.Slice(21)),
            BinaryPrimitives.ReadUInt16BigEndian(cookie.Slice(23)),
            (cookie[25] & 1) != 0,
            (cookie[25] & 2) != 0,
            BinaryPrimitives.ReadInt64BigEndian(cookie.Slice(26)));
    }
}
