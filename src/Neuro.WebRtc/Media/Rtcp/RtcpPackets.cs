using System.Buffers.Binary;
using System.Text;

namespace Neuro.WebRtc.Media.Rtcp;

/// <summary>
/// One RTCP report block (RFC 3550 §6.4.1). <see cref="CumulativeLost"/> is the signed 24-bit field (duplicates can
/// make it negative).
/// </summary>
public readonly record struct RtcpReportBlock(
    uint Ssrc,
    byte FractionLost,
    int CumulativeLost,
    uint ExtendedHighestSequence,
    uint Jitter,
    uint LastSenderReport,
    uint DelaySinceLastSenderReport)
{
    public const int Length = 24;

    internal static RtcpReportBlock Read(ReadOnlySpan<byte> d)
    {
        var lost = (d[5] << 16) | (d[6] << 8) | d[7];
        if ((lost & 0x800000) != 0)
        {
            lost |= unchecked((int)0xFF000000);
        }

        return new RtcpReportBlock(
            BinaryPrimitives.ReadUInt32BigEndian(d),
            d[4],
            lost,
            BinaryPrimitives.ReadUInt32BigEndian(d[8..]),
            BinaryPrimitives.ReadUInt32BigEndian(d[12..]),
            BinaryPrimitives.ReadUInt32BigEndian(d[16..]),
            BinaryPrimitives.ReadUInt32BigEndian(d[20..]));
    }

    internal void Write(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32BigEndian(d, Ssrc);
        d[4] = FractionLost;
        // Clamp to the 24-bit signed range as RFC 3550 A.3 asks rather than wrapping.
        var lost = Math.Clamp(CumulativeLost, -0x800000, 0x7FFFFF);
        d[5] = (byte)(lost >> 16);
        d[6] = (byte)(lost >> 8);
        d[7] = (byte)lost;
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], ExtendedHighestSequence);
        BinaryPrimitives.WriteUInt32BigEndian(d[12..], Jitter);
        BinaryPrimitives.WriteUInt32BigEndian(d[16..], LastSenderReport);
        BinaryPrimitives.WriteUInt32BigEndian(d[20..], DelaySinceLastSenderReport);
    }
}

/// <summary>Base of the RTCP packet types we understand. Each packet knows its wire length and writes itself.</summary>
public abstract class RtcpPacket
{
    public const byte SenderReportType = 200;
    public const byte ReceiverReportType = 201;
    public const byte SdesType = 202;
    public const byte ByeType = 203;
    public const byte AppType = 204;
    public const byte TransportFeedbackType = 205; // RTPFB, RFC 4585 §6.2
    public const byte PayloadFeedbackType = 206;   // PSFB, RFC 4585 §6.3

    private protected RtcpPacket()
    {
    }

    public abstract int SerializedLength { get; }

    public abstract int WriteTo(Span<byte> destination);

    public byte[] ToArray()
    {
        var bytes = new byte[SerializedLength];
        WriteTo(bytes);
        return bytes;
    }

    private protected static void WriteHeader(Span<byte> d, int countOrFormat, byte packetType, int totalLength, int padding = 0)
    {
        d[0] = (byte)(0x80 | (padding > 0 ? 0x20 : 0) | (countOrFormat & 0x1F));
        d[1] = packetType;
        BinaryPrimitives.WriteUInt16BigEndian(d[2..], (ushort)(totalLength / 4 - 1));
    }

    private protected static void CheckSpace(Span<byte> destination, int needed)
    {
        if (destination.Length < needed)
        {
            throw new ArgumentException($"RTCP packet needs {needed} bytes", nameof(destination));
        }
    }
}

/// <summary>SR (RFC 3550 §6.4.1).</summary>
public sealed class RtcpSenderReport : RtcpPacket
{
    public uint Ssrc { get; init; }

    /// <summary>64-bit NTP timestamp (seconds since 1900 in the high word, fraction in the low word).</summary>
    public ulong NtpTimestamp { get; init; }

    public uint RtpTimestamp { get; init; }

    public uint PacketCount { get; init; }

    public uint OctetCount { get; init; }

    public IReadOnlyList<RtcpReportBlock> Reports { get; init; } = [];

    /// <summary>The middle 32 bits of the NTP timestamp, which receivers echo as LSR.</summary>
    public uint CompactNtp => (uint)(NtpTimestamp >> 16);

    public override int SerializedLength => 28 + RtcpReportBlock.Length * Reports.Count;

    public override int WriteTo(Span<byte> d)
    {
        var length = SerializedLength;
        CheckSpace(d, length);
        if (Reports.Count > 31)
        {
            throw new InvalidOperationException("an SR carries at most 31 report blocks");
        }

        WriteHeader(d, Reports.Count, SenderReportType, length);
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], Ssrc);
        BinaryPrimitives.WriteUInt64BigEndian(d[8..], NtpTimestamp);
        BinaryPrimitives.WriteUInt32BigEndian(d[16..], RtpTimestamp);
        BinaryPrimitives.WriteUInt32BigEndian(d[20..], PacketCount);
        BinaryPrimitives.WriteUInt32BigEndian(d[24..], OctetCount);
        for (var i = 0; i < Reports.Count; i++)
        {
            Reports[i].Write(d[(28 + RtcpReportBlock.Length * i)..]);
        }

        return length;
    }
}

/// <summary>RR (RFC 3550 §6.4.2).</summary>
public sealed class RtcpReceiverReport : RtcpPacket
{
    public uint Ssrc { get; init; }

    public IReadOnlyList<RtcpReportBlock> Reports { get; init; } = [];

    public override int SerializedLength => 8 + RtcpReportBlock.Length * Reports.Count;

    public override int WriteTo(Span<byte> d)
    {
        var length = SerializedLength;
        CheckSpace(d, length);
        if (Reports.Count > 31)
        {
            throw new InvalidOperationException("an RR carries at most 31 report blocks");
        }

        WriteHeader(d, Reports.Count, ReceiverReportType, length);
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], Ssrc);
        for (var i = 0; i < Reports.Count; i++)
        {
            Reports[i].Write(d[(8 + RtcpReportBlock.Length * i)..]);
        }

        return length;
    }
}

/// <summary>One SDES item (RFC 3550 §6.5): type 1 = CNAME, 2 = NAME, ...</summary>
public readonly record struct RtcpSdesItem(byte Type, string Text)
{
    public const byte Cname = 1;
}

public sealed record RtcpSdesChunk(uint Ssrc, IReadOnlyList<RtcpSdesItem> Items);

/// <summary>SDES (RFC 3550 §6.5).</summary>
public sealed class RtcpSdes : RtcpPacket
{
    public IReadOnlyList<RtcpSdesChunk> Chunks { get; init; } = [];

    public static RtcpSdes ForCname(uint ssrc, string cname) => new() { Chunks = [new RtcpSdesChunk(ssrc, [new RtcpSdesItem(RtcpSdesItem.Cname, cname)])] };

    private static int ChunkLength(RtcpSdesChunk chunk)
    {
        var n = 4;
        foreach (var item in chunk.Items)
        {
            n += 2 + Math.Min(255, Encoding.UTF8.GetByteCount(item.Text));
        }

        // A null item ends the list, then pad to a word: at least one zero octet is always present.
        return (n + 1 + 3) & ~3;
    }

    public override int SerializedLength
    {
        get
        {
            var n = 4;
            foreach (var c in Chunks)
            {
                n += ChunkLength(c);
            }

            return n;
        }
    }

    public override int WriteTo(Span<byte> d)
    {
        var length = SerializedLength;
        CheckSpace(d, length);
        if (Chunks.Count > 31)
        {
            throw new InvalidOperationException("an SDES packet carries at most 31 chunks");
        }

        d[..length].Clear();
        WriteHeader(d, Chunks.Count, SdesType, length);
        var offset = 4;
        foreach (var chunk in Chunks)
        {
            var start = offset;
            BinaryPrimitives.WriteUInt32BigEndian(d[offset..], chunk.Ssrc);
            offset += 4;
            foreach (var item in chunk.Items)
            {
                var text = Encoding.UTF8.GetBytes(item.Text);
                var n = Math.Min(255, text.Length);
                d[offset++] = item.Type;
                d[offset++] = (byte)n;
                text.AsSpan(0, n).CopyTo(d[offset..]);
                offset += n;
            }

            offset = start + ChunkLength(chunk);
        }

        return length;
    }
}

/// <summary>BYE (RFC 3550 §6.6).</summary>
public sealed class RtcpBye : RtcpPacket
{
    public IReadOnlyList<uint> Sources { get; init; } = [];

    public string? Reason { get; init; }

    private int ReasonBytes => Reason is null ? 0 : Math.Min(255, Encoding.UTF8.GetByteCount(Reason));

    public override int SerializedLength => 4 + 4 * Sources.Count + (Reason is null ? 0 : (1 + ReasonBytes + 3) & ~3);

    public override int WriteTo(Span<byte> d)
    {
        var length = SerializedLength;
        CheckSpace(d, length);
        if (Sources.Count > 31)
        {
            throw new InvalidOperationException("a BYE names at most 31 sources");
        }

        d[..length].Clear();
        WriteHeader(d, Sources.Count, ByeType, length);
        var offset = 4;
        foreach (var s in Sources)
        {
            BinaryPrimitives.WriteUInt32BigEndian(d[offset..], s);
            offset += 4;
        }

        if (Reason is not null)
        {
            var bytes = Encoding.UTF8.GetBytes(Reason);
            d[offset] = (byte)ReasonBytes;
            bytes.AsSpan(0, ReasonBytes).CopyTo(d[(offset + 1)..]);
        }

        return length;
    }
}

/// <summary>Generic NACK (RFC 4585 §6.2.1): RTPFB with FMT 1, a list of lost sequence numbers.</summary>
public sealed class RtcpNack : RtcpPacket
{
    public const int Format = 1;

    public uint SenderSsrc { get; init; }

    public uint MediaSsrc { get; init; }

    /// <summary>Lost sequence numbers; written as PID + BLP pairs, so 17 numbers in a row cost one FCI entry.</summary>
    public IReadOnlyList<ushort> LostSequenceNumbers { get; init; } = [];

    /// <summary>Groups the lost numbers into FCI entries (PID, BLP); the order of the input is kept for the PIDs.</summary>
    public static List<(ushort Pid, ushort Blp)> ToFci(IEnumerable<ushort> lost)
    {
        var entries = new List<(ushort Pid, ushort Blp)>();
        foreach (var seq in lost)
        {
            var merged = false;
            for (var i = 0; i < entries.Count; i++)
            {
                var distance = (ushort)(seq - entries[i].Pid);
                if (distance == 0)
                {
                    merged = true;
                    break;
                }

                if (distance <= 16)
                {
                    entries[i] = (entries[i].Pid, (ushort)(entries[i].Blp | (1 << (distance - 1))));
                    merged = true;
                    break;
                }
            }

            if (!merged)
            {
                entries.Add((seq, 0));
            }
        }

        return entries;
    }

    public override int SerializedLength => 12 + 4 * ToFci(LostSequenceNumbers).Count;

    public override int WriteTo(Span<byte> d)
    {
        var fci = ToFci(LostSequenceNumbers);
        var length = 12 + 4 * fci.Count;
        CheckSpace(d, length);
        WriteHeader(d, Format, TransportFeedbackType, length);
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], SenderSsrc);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], MediaSsrc);
        for (var i = 0; i < fci.Count; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(d[(12 + 4 * i)..], fci[i].Pid);
            BinaryPrimitives.WriteUInt16BigEndian(d[(14 + 4 * i)..], fci[i].Blp);
        }

        return length;
    }
}

/// <summary>Picture Loss Indication (RFC 4585 §6.3.1): PSFB with FMT 1 and no FCI.</summary>
public sealed class RtcpPli : RtcpPacket
{
    public const int Format = 1;

    public uint SenderSsrc { get; init; }

    public uint MediaSsrc { get; init; }

    public override int SerializedLength => 12;

    public override int WriteTo(Span<byte> d)
    {
        CheckSpace(d, 12);
        WriteHeader(d, Format, PayloadFeedbackType, 12);
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], SenderSsrc);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], MediaSsrc);
        return 12;
    }
}

/// <summary>Any RTCP packet we do not interpret (APP, XR, other feedback formats): kept as its raw bytes.</summary>
public sealed class RtcpUnknown : RtcpPacket
{
    public byte PacketType { get; init; }

    public int CountOrFormat { get; init; }

    /// <summary>The whole packet, header included.</summary>
    public ReadOnlyMemory<byte> Raw { get; init; }

    public override int SerializedLength => Raw.Length;

    public override int WriteTo(Span<byte> d)
    {
        CheckSpace(d, Raw.Length);
        Raw.Span.CopyTo(d);
        return Raw.Length;
    }
}
