using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Neuro.WebRtc.Ice;

public enum StunClass : ushort { Request = 0x0000, Indication = 0x0010, SuccessResponse = 0x0100, ErrorResponse = 0x0110 }

/// <summary>STUN attribute types used by ICE (RFC 8489 §18.3, RFC 8445 §16.1).</summary>
public static class StunAttributeType
{
    public const ushort MappedAddress = 0x0001;
    public const ushort Username = 0x0006;
    public const ushort MessageIntegrity = 0x0008;
    public const ushort ErrorCode = 0x0009;
    public const ushort UnknownAttributes = 0x000A;
    public const ushort XorMappedAddress = 0x0020;
    public const ushort Priority = 0x0024;
    public const ushort UseCandidate = 0x0025;
    public const ushort Software = 0x8022;
    public const ushort Fingerprint = 0x8028;
    public const ushort IceControlled = 0x8029;
    public const ushort IceControlling = 0x802A;
}

public sealed record StunAttribute(ushort Type, byte[] Value);

/// <summary>
/// A STUN message (RFC 8489). <see cref="TryParse"/> is total and keeps the raw bytes so MESSAGE-INTEGRITY and
/// FINGERPRINT can be checked over exactly what was received.
/// </summary>
public sealed class StunMessage
{
    public const uint MagicCookie = 0x2112A442;
    public const ushort BindingMethod = 0x0001;
    private const uint FingerprintXor = 0x5354554e;
    private const int HeaderLength = 20;

    public StunMessage(StunClass messageClass, ushort method, byte[]? transactionId = null)
    {
        Class = messageClass;
        Method = method;
        TransactionId = transactionId ?? RandomNumberGenerator.GetBytes(12);
        if (TransactionId.Length != 12) throw new ArgumentException("a transaction id is 12 bytes", nameof(transactionId));
    }

    public StunClass Class { get; }
    public ushort Method { get; }
    public byte[] TransactionId { get; }
    public List<StunAttribute> Attributes { get; } = [];

    /// <summary>The bytes this message was parsed from (null for one being built).</summary>
    public byte[]? Raw { get; private set; }
    private int _integrityOffset = -1;
    private int _fingerprintOffset = -1;

    public bool HasIntegrity => _integrityOffset >= 0;
    public bool HasFingerprint => _fingerprintOffset >= 0;

    /// <summary>RFC 7983: STUN packets start with a byte in 0..3 on a multiplexed socket.</summary>
    public static bool IsStun(ReadOnlySpan<byte> packet) =>
        packet.Length >= HeaderLength && packet[0] < 4 && BinaryPrimitives.ReadUInt32BigEndian(packet[4..]) == MagicCookie;

    public StunAttribute? Get(ushort type) => Attributes.FirstOrDefault(a => a.Type == type);
    public bool Has(ushort type) => Attributes.Any(a => a.Type == type);

    public string? Username => Get(StunAttributeType.Username) is { } a ? Encoding.UTF8.GetString(a.Value) : null;

    public uint? Priority => Get(StunAttributeType.Priority) is { Value.Length: 4 } a ? BinaryPrimitives.ReadUInt32BigEndian(a.Value) : null;

    public ulong? IceControlling => Get(StunAttributeType.IceControlling) is { Value.Length: 8 } a ? BinaryPrimitives.ReadUInt64BigEndian(a.Value) : null;

    public ulong? IceControlled => Get(StunAttributeType.IceControlled) is { Value.Length: 8 } a ? BinaryPrimitives.ReadUInt64BigEndian(a.Value) : null;

    /// <summary>The error code of an error response (e.g. 487 Role Conflict), or null.</summary>
    public int? ErrorCode => Get(StunAttributeType.ErrorCode) is { Value.Length: >= 4 } a ? (a.Value[2] & 0x7) * 100 + a.Value[3] : null;

    public IPEndPoint? XorMappedAddress
    {
        get
        {
            var a = Get(StunAttributeType.XorMappedAddress);
            if (a is null || a.Value.Length < 8) return null;
            int port = BinaryPrimitives.ReadUInt16BigEndian(a.Value.AsSpan(2)) ^ (int)(MagicCookie >> 16);
            Span<byte> mask = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32BigEndian(mask, MagicCookie);
            TransactionId.CopyTo(mask[4..]);
            if (a.Value[1] == 1 && a.Value.Length == 8)
            {
                Span<byte> ip = stackalloc byte[4];
                for (int i = 0; i < 4; i++) ip[i] = (byte)(a.Value[4 + i] ^ mask[i]);
                return new IPEndPoint(new IPAddress(ip), port);
            }
            if (a.Value[1] == 2 && a.Value.Length == 20)
            {
                Span<byte> ip = stackalloc byte[16];
                for (int i = 0; i < 16; i++) ip[i] = (byte)(a.Value[4 + i] ^ mask[i]);
                return new IPEndPoint(new IPAddress(ip), port);
            }
            return null;
        }
    }

    public StunMessage AddUsername(string username) => Add(StunAttributeType.Username, Encoding.UTF8.GetBytes(username));

    public StunMessage AddPriority(uint priority)
    {
        var v = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(v, priority);
        return Add(StunAttributeType.Priority, v);
    }

    public StunMessage AddRole(bool controlling, ulong tieBreaker)
    {
        var v = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(v, tieBreaker);
        return Add(controlling ? StunAttributeType.IceControlling : StunAttributeType.IceControlled, v);
    }

    public StunMessage AddUseCandidate() => Add(StunAttributeType.UseCandidate, []);

    public StunMessage AddErrorCode(int code, string reason)
    {
        byte[] text = Encoding.UTF8.GetBytes(reason);
        var v = new byte[4 + text.Length];
        v[2] = (byte)(code / 100);
        v[3] = (byte)(code % 100);
        text.CopyTo(v, 4);
        return Add(StunAttributeType.ErrorCode, v);
    }

    public StunMessage AddXorMappedAddress(IPEndPoint endPoint)
    {
        byte[] ip = endPoint.Address.GetAddressBytes();
        var v = new byte[4 + ip.Length];
        v[1] = (byte)(endPoint.AddressFamily == AddressFamily.InterNetwork ? 1 : 2);
        BinaryPrimitives.WriteUInt16BigEndian(v.AsSpan(2), (ushort)(endPoint.Port ^ (int)(MagicCookie >> 16)));
        Span<byte> mask = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(mask, MagicCookie);
        TransactionId.CopyTo(mask[4..]);
        for (int i = 0; i < ip.Length; i++) v[4 + i] = (byte)(ip[i] ^ mask[i]);
        return Add(StunAttributeType.XorMappedAddress, v);
    }

    public StunMessage Add(ushort type, byte[] value)
    {
        Attributes.Add(new StunAttribute(type, value));
        return this;
    }

    /// <summary>
    /// Encodes the message, appending MESSAGE-INTEGRITY (HMAC-SHA1 with the short-term password as key) when
    /// <paramref name="integrityKey"/> is given, then FINGERPRINT when asked, in the order RFC 8489 §14 requires.
    /// </summary>
    public byte[] Encode(byte[]? integrityKey, bool fingerprint)
    {
        int bodyLength = Attributes.Sum(a => 4 + Padded(a.Value.Length));
        int total = HeaderLength + bodyLength + (integrityKey is null ? 0 : 24) + (fingerprint ? 8 : 0);
        var buffer = new byte[total];
        var span = buffer.AsSpan();
        BinaryPrimitives.WriteUInt16BigEndian(span, EncodeType(Class, Method));
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], MagicCookie);
        TransactionId.CopyTo(span[8..]);
        int offset = HeaderLength;
        foreach (var a in Attributes)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[offset..], a.Type);
            BinaryPrimitives.WriteUInt16BigEndian(span[(offset + 2)..], (ushort)a.Value.Length);
            a.Value.CopyTo(span[(offset + 4)..]);
            offset += 4 + Padded(a.Value.Length);
        }
        if (integrityKey is not null)
        {
            // The length field covers the MESSAGE-INTEGRITY attribute itself while the HMAC is computed.
            BinaryPrimitives.WriteUInt16BigEndian(span[2..], (ushort)(offset + 24 - HeaderLength));
            byte[] mac = HMACSHA1.HashData(integrityKey, span[..offset]);
            BinaryPrimitives.WriteUInt16BigEndian(span[offset..], StunAttributeType.MessageIntegrity);
            BinaryPrimitives.WriteUInt16BigEndian(span[(offset + 2)..], 20);
            mac.CopyTo(span[(offset + 4)..]);
            offset += 24;
        }
        if (fingerprint)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[2..], (ushort)(offset + 8 - HeaderLength));
            uint crc = Crc32.Compute(span[..offset]) ^ FingerprintXor;
            BinaryPrimitives.WriteUInt16BigEndian(span[offset..], StunAttributeType.Fingerprint);
            BinaryPrimitives.WriteUInt16BigEndian(span[(offset + 2)..], 4);
            BinaryPrimitives.WriteUInt32BigEndian(span[(offset + 4)..], crc);
            offset += 8;
        }
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], (ushort)(offset - HeaderLength));
        return buffer;
    }

    /// <summary>Checks MESSAGE-INTEGRITY of a parsed message against the short-term password; false when absent.</summary>
    public bool VerifyIntegrity(byte[] key)
    {
        if (Raw is null || _integrityOffset < 0) return false;
        var copy = Raw.AsSpan(0, _integrityOffset).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(2), (ushort)(_integrityOffset + 24 - HeaderLength));
        byte[] mac = HMACSHA1.HashData(key, copy);
        return CryptographicOperations.FixedTimeEquals(mac, Raw.AsSpan(_integrityOffset + 4, 20));
    }

    /// <summary>Checks FINGERPRINT of a parsed message; false when absent.</summary>
    public bool VerifyFingerprint()
    {
        if (Raw is null || _fingerprintOffset < 0) return false;
        var copy = Raw.AsSpan(0, _fingerprintOffset).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(2), (ushort)(_fingerprintOffset + 8 - HeaderLength));
        uint expected = Crc32.Compute(copy) ^ FingerprintXor;
        return BinaryPrimitives.ReadUInt32BigEndian(Raw.AsSpan(_fingerprintOffset + 4)) == expected;
    }

    public static StunMessage Parse(ReadOnlySpan<byte> packet) =>
        TryParse(packet, out var m, out string? error) ? m! : throw new FormatException("STUN: " + error);

    public static bool TryParse(ReadOnlySpan<byte> packet, out StunMessage? message, out string? error)
    {
        message = null;
        if (packet.Length < HeaderLength) { error = "shorter than the 20-byte header"; return false; }
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(packet);
        if ((type & 0xC000) != 0) { error = "the top two bits are not zero"; return false; }
        int length = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        if ((length & 3) != 0) { error = "length is not a multiple of 4"; return false; }
        if (HeaderLength + length != packet.Length) { error = "length does not match the packet"; return false; }
        if (BinaryPrimitives.ReadUInt32BigEndian(packet[4..]) != MagicCookie) { error = "no magic cookie"; return false; }
        var m = new StunMessage((StunClass)(type & 0x0110), (ushort)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2)),
            packet.Slice(8, 12).ToArray()) { Raw = packet.ToArray() };
        int offset = HeaderLength;
        while (offset < packet.Length)
        {
            if (packet.Length - offset < 4) { error = "truncated attribute header"; return false; }
            ushort atype = BinaryPrimitives.ReadUInt16BigEndian(packet[offset..]);
            int alen = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..]);
            if (offset + 4 + alen > packet.Length) { error = "attribute runs past the end"; return false; }
            if (m._fingerprintOffset >= 0) { error = "attribute after FINGERPRINT"; return false; }
            if (m._integrityOffset >= 0 && atype != StunAttributeType.Fingerprint) { error = "attribute after MESSAGE-INTEGRITY"; return false; }
            if (atype == StunAttributeType.MessageIntegrity)
            {
                if (alen != 20) { error = "MESSAGE-INTEGRITY is not 20 bytes"; return false; }
                m._integrityOffset = offset;
            }
            else if (atype == StunAttributeType.Fingerprint)
            {
                if (alen != 4) { error = "FINGERPRINT is not 4 bytes"; return false; }
                m._fingerprintOffset = offset;
            }
            m.Attributes.Add(new StunAttribute(atype, packet.Slice(offset + 4, alen).ToArray()));
            offset += 4 + Padded(alen);
        }
        if (offset != packet.Length) { error = "padding runs past the end"; return false; }
        message = m;
        error = null;
        return true;
    }

    private static ushort EncodeType(StunClass c, ushort method) =>
        (ushort)((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | (ushort)c);

    private static int Padded(int length) => (length + 3) & ~3;
}

/// <summary>CRC-32 (ISO-HDLC, the zlib one) as STUN's FINGERPRINT uses it.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return table;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFF;
    }
}
