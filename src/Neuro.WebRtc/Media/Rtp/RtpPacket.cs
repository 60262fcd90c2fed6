using System.Buffers.Binary;

namespace Neuro.WebRtc.Media.Rtp;

/// <summary>One RFC 8285 header extension element: a local id (1-14 one-byte form, 1-255 two-byte form) and its data.</summary>
public sealed record RtpHeaderExtension(int Id, byte[] Data);

/// <summary>
/// An RTP packet (RFC 3550 §5.1) with RFC 8285 header extensions. Parsing copies nothing but the extension elements:
/// <see cref="Payload"/> is a slice of the buffer handed to <see cref="Parse"/>, so the caller must not reuse that buffer
/// while the packet is alive.
/// </summary>
public sealed class RtpPacket
{
    public const int FixedHeaderLength = 12;

    /// <summary>"defined by profile" value announcing RFC 8285 one-byte elements.</summary>
    public const ushort OneByteExtensionProfile = 0xBEDE;

    /// <summary>Two-byte elements: 0x100 in the top 12 bits, the low 4 bits are "appbits" which we ignore.</summary>
    public const ushort TwoByteExtensionProfile = 0x1000;

    public bool Marker { get; init; }

    public byte PayloadType { get; init; }

    public ushort SequenceNumber { get; init; }

    public uint Timestamp { get; init; }

    public uint Ssrc { get; init; }

    public IReadOnlyList<uint> Csrcs { get; init; } = [];

    /// <summary>The "defined by profile" field of the extension header, or null when the X bit is clear.</summary>
    public ushort? ExtensionProfile { get; init; }

    /// <summary>Parsed elements when <see cref="ExtensionProfile"/> is one of the RFC 8285 forms; empty otherwise.</summary>
    public IReadOnlyList<RtpHeaderExtension> Extensions { get; init; } = [];

    /// <summary>The extension body as received, kept for profiles RFC 8285 does not describe.</summary>
    public ReadOnlyMemory<byte> RawExtension { get; init; }

    public ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>Padding octets to append when building (the last one holds the count), or the count that was stripped.</summary>
    public int PaddingLength { get; init; }

    public RtpHeaderExtension? FindExtension(int id)
    {
        foreach (var e in Extensions)
        {
            if (e.Id == id)
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>Cheap check used to demultiplex RTP from RTCP on an rtcp-mux transport (RFC 5761 §4).</summary>
    public static bool LooksLikeRtcp(ReadOnlySpan<byte> data) =>
        data.Length >= 2 && (data[0] >> 6) == 2 && data[1] >= 192 && data[1] <= 223;

    public static ParseResult<RtpPacket> Parse(ReadOnlyMemory<byte> buffer)
    {
        var data = buffer.Span;
        if (data.Length < FixedHeaderLength)
        {
            return ParseResult<RtpPacket>.Fail($"RTP packet of {data.Length} bytes is shorter than the fixed header");
        }

        if (data[0] >> 6 != 2)
        {
            return ParseResult<RtpPacket>.Fail($"RTP version {data[0] >> 6} is not 2");
        }

        var hasPadding = (data[0] & 0x20) != 0;
        var hasExtension = (data[0] & 0x10) != 0;
        var csrcCount = data[0] & 0x0F;
        var offset = FixedHeaderLength + 4 * csrcCount;
        if (offset > data.Length)
        {
            return ParseResult<RtpPacket>.Fail($"RTP CSRC list ({csrcCount} entries) runs past the packet");
        }

        var csrcs = new uint[csrcCount];
        for (var i = 0; i < csrcCount; i++)
        {
            csrcs[i] = BinaryPrimitives.ReadUInt32BigEndian(data[(FixedHeaderLength + 4 * i)..]);
        }

        ushort? profile = null;
        ReadOnlyMemory<byte> rawExtension = default;
        IReadOnlyList<RtpHeaderExtension> extensions = [];
        if (hasExtension)
        {
            if (offset + 4 > data.Length)
            {
                return ParseResult<RtpPacket>.Fail("RTP extension header runs past the packet");
            }

            profile = BinaryPrimitives.ReadUInt16BigEndian(data[offset..]);
            var words = BinaryPrimitives.ReadUInt16BigEndian(data[(offset + 2)..]);
            offset += 4;
            if (offset + 4 * words > data.Length)
            {
                return ParseResult<RtpPacket>.Fail($"RTP extension of {words} words runs past the packet");
            }

            rawExtension = buffer.Slice(offset, 4 * words);
            offset += 4 * words;
            if (profile == OneByteExtensionProfile || (profile & 0xFFF0) == TwoByteExtensionProfile)
            {
                var error = ParseElements(rawExtension.Span, profile == OneByteExtensionProfile, out var list);
                if (error is not null)
                {
                    return ParseResult<RtpPacket>.Fail(error);
                }

                extensions = list;
            }
        }

        var end = data.Length;
        var paddingLength = 0;
        if (hasPadding)
        {
            paddingLength = data[^1];
            if (paddingLength == 0 || offset + paddingLength > data.Length)
            {
                return ParseResult<RtpPacket>.Fail($"RTP padding count {paddingLength} is invalid");
            }

            end -= paddingLength;
        }

        return ParseResult<RtpPacket>.Success(new RtpPacket
        {
            Marker = (data[1] & 0x80) != 0,
            PayloadType = (byte)(data[1] & 0x7F),
            SequenceNumber = BinaryPrimitives.ReadUInt16BigEndian(data[2..]),
            Timestamp = BinaryPrimitives.ReadUInt32BigEndian(data[4..]),
            Ssrc = BinaryPrimitives.ReadUInt32BigEndian(data[8..]),
            Csrcs = csrcs,
            ExtensionProfile = profile,
            RawExtension = rawExtension,
            Extensions = extensions,
            Payload = buffer[offset..end],
            PaddingLength = paddingLength,
        });
    }

    private static string? ParseElements(ReadOnlySpan<byte> body, bool oneByte, out List<RtpHeaderExtension> list)
    {
        list = [];
        var i = 0;
        while (i < body.Length)
        {
            if (body[i] == 0)
            {
                i++; // padding between elements (RFC 8285 §4.2 / §4.3)
                continue;
            }

            int id, length;
            if (oneByte)
            {
                id = body[i] >> 4;
                length = (body[i] & 0x0F) + 1;
                if (id == 15)
                {
                    break; // reserved id: the rest of the block must be ignored
                }

                i += 1;
            }
            else
            {
                if (i + 2 > body.Length)
                {
                    return "RTP two-byte extension element header is truncated";
                }

                id = body[i];
                length = body[i + 1];
                i += 2;
            }

            if (i + length > body.Length)
            {
                return $"RTP extension element {id} of {length} bytes runs past the extension block";
            }

            list.Add(new RtpHeaderExtension(id, body.Slice(i, length).ToArray()));
            i += length;
        }

        return null;
    }

    /// <summary>Bytes <see cref="WriteTo"/> needs.</summary>
    public int SerializedLength => FixedHeaderLength + 4 * Csrcs.Count + ExtensionBlockLength() + Payload.Length + PaddingLength;

    public byte[] ToArray()
    {
        var bytes = new byte[SerializedLength];
        WriteTo(bytes);
        return bytes;
    }

    /// <summary>Writes the packet and returns its length. Extensions are written in one-byte form when every element fits.</summary>
    public int WriteTo(Span<byte> destination)
    {
        if (Csrcs.Count > 15)
        {
            throw new InvalidOperationException("RTP allows at most 15 CSRCs");
        }

        if (PaddingLength is < 0 or > 255)
        {
            throw new InvalidOperationException("RTP padding must be 0-255 bytes");
        }

        var length = SerializedLength;
        if (destination.Length < length)
        {
            throw new ArgumentException($"RTP packet needs {length} bytes", nameof(destination));
        }

        var hasExtension = ExtensionBlockLength() > 0;
        destination[0] = (byte)(0x80 | (PaddingLength > 0 ? 0x20 : 0) | (hasExtension ? 0x10 : 0) | Csrcs.Count);
        destination[1] = (byte)((Marker ? 0x80 : 0) | (PayloadType & 0x7F));
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], SequenceNumber);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], Timestamp);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Ssrc);
        var offset = FixedHeaderLength;
        foreach (var csrc in Csrcs)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination[offset..], csrc);
            offset += 4;
        }

        if (hasExtension)
        {
            offset += WriteExtensionBlock(destination[offset..]);
        }

        Payload.Span.CopyTo(destination[offset..]);
        offset += Payload.Length;
        if (PaddingLength > 0)
        {
            destination.Slice(offset, PaddingLength).Clear();
            offset += PaddingLength;
            destination[offset - 1] = (byte)PaddingLength;
        }

        return offset;
    }

    private bool UseOneByteForm()
    {
        foreach (var e in Extensions)
        {
            if (e.Id is < 1 or > 14 || e.Data.Length is < 1 or > 16)
            {
                return false;
            }
        }

        return true;
    }

    private int ExtensionBlockLength()
    {
        if (Extensions.Count == 0)
        {
            return ExtensionProfile is null ? 0 : 4 + Pad4(RawExtension.Length);
        }

        var body = 0;
        var oneByte = UseOneByteForm();
        foreach (var e in Extensions)
        {
            body += (oneByte ? 1 : 2) + e.Data.Length;
        }

        return 4 + Pad4(body);
    }

    private int WriteExtensionBlock(Span<byte> destination)
    {
        var total = ExtensionBlockLength();
        destination[..total].Clear();
        if (Extensions.Count == 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination, ExtensionProfile!.Value);
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)((total - 4) / 4));
            RawExtension.Span.CopyTo(destination[4..]);
            return total;
        }

        var oneByte = UseOneByteForm();
        BinaryPrimitives.WriteUInt16BigEndian(destination, oneByte ? OneByteExtensionProfile : TwoByteExtensionProfile);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)((total - 4) / 4));
        var offset = 4;
        foreach (var e in Extensions)
        {
            if (oneByte)
            {
                destination[offset++] = (byte)((e.Id << 4) | (e.Data.Length - 1));
            }
            else
            {
                if (e.Id is < 1 or > 255 || e.Data.Length > 255)
                {
                    throw new InvalidOperationException($"RTP extension {e.Id} with {e.Data.Length} bytes cannot be encoded");
                }

                destination[offset++] = (byte)e.Id;
                destination[offset++] = (byte)e.Data.Length;
            }

            e.Data.CopyTo(destination[offset..]);
            offset += e.Data.Length;
        }

        return total;
    }

    private static int Pad4(int n) => (n + 3) & ~3;

    public override string ToString() =>
        $"RTP pt={PayloadType} seq={SequenceNumber} ts={Timestamp} ssrc={Ssrc:x8} m={(Marker ? 1 : 0)} payload={Payload.Length}";
}
