using System.Buffers.Binary;
using System.Text;

namespace Neuro.WebRtc.Media.Rtcp;

/// <summary>
/// Parses and builds compound RTCP packets (RFC 3550 §6.1). We accept reduced-size RTCP (RFC 5506: a lone feedback
/// packet) because browsers send it when they negotiate rtcp-rsize; so the first packet need not be an SR/RR.
/// </summary>
public static class RtcpCompound
{
    public static ParseResult<IReadOnlyList<RtcpPacket>> Parse(ReadOnlyMemory<byte> buffer)
    {
        var packets = new List<RtcpPacket>();
        var offset = 0;
        while (offset < buffer.Length)
        {
            var data = buffer.Span[offset..];
            if (data.Length < 4)
            {
                return Fail($"RTCP packet at offset {offset} is shorter than its header");
            }

            if (data[0] >> 6 != 2)
            {
                return Fail($"RTCP version {data[0] >> 6} at offset {offset} is not 2");
            }

            var length = 4 * (BinaryPrimitives.ReadUInt16BigEndian(data[2..]) + 1);
            if (length > data.Length)
            {
                return Fail($"RTCP packet at offset {offset} claims {length} bytes, {data.Length} remain");
            }

            var packetMemory = buffer.Slice(offset, length);
            var bodyLength = length;
            if ((data[0] & 0x20) != 0)
            {
                // Padding may only end the compound packet (RFC 3550 A.2).
                if (offset + length != buffer.Length)
                {
                    return Fail("RTCP padding bit set on a packet that is not the last one");
                }

                var pad = data[length - 1];
                if (pad == 0 || pad > length - 4)
                {
                    return Fail($"RTCP padding count {pad} is invalid");
                }

                bodyLength -= pad;
            }

            var result = ParseOne(packetMemory[..bodyLength], packetMemory, data[0] & 0x1F, data[1]);
            if (!result.Ok)
            {
                return Fail(result.Error);
            }

            packets.Add(result.Value);
            offset += length;
        }

        if (packets.Count == 0)
        {
            return Fail("empty RTCP packet");
        }

        return ParseResult<IReadOnlyList<RtcpPacket>>.Success(packets);
    }

    public static byte[] Build(params IReadOnlyList<RtcpPacket> packets)
    {
        var length = 0;
        foreach (var p in packets)
        {
            length += p.SerializedLength;
        }

        var bytes = new byte[length];
        var offset = 0;
        foreach (var p in packets)
        {
            offset += p.WriteTo(bytes.AsSpan(offset));
        }

        return bytes;
    }

    private static ParseResult<IReadOnlyList<RtcpPacket>> Fail(string error) => ParseResult<IReadOnlyList<RtcpPacket>>.Fail(error);

    private static ParseResult<RtcpPacket> ParseOne(ReadOnlyMemory<byte> memory, ReadOnlyMemory<byte> whole, int count, byte type)
    {
        var d = memory.Span;
        switch (type)
        {
            case RtcpPacket.SenderReportType:
            {
                if (d.Length < 28 + RtcpReportBlock.Length * count)
                {
                    return ParseResult<RtcpPacket>.Fail($"SR with {count} report blocks is {d.Length} bytes long");
                }

                return ParseResult<RtcpPacket>.Success(new RtcpSenderReport
                {
                    Ssrc = BinaryPrimitives.ReadUInt32BigEndian(d[4..]),
                    NtpTimestamp = BinaryPrimitives.ReadUInt64BigEndian(d[8..]),
                    RtpTimestamp = BinaryPrimitives.ReadUInt32BigEndian(d[16..]),
                    PacketCount = BinaryPrimitives.ReadUInt32BigEndian(d[20..]),
                    OctetCount = BinaryPrimitives.ReadUInt32BigEndian(d[24..]),
                    Reports = ReadBlocks(d[28..], count),
                });
            }

            case RtcpPacket.ReceiverReportType:
            {
                if (d.Length < 8 + RtcpReportBlock.Length * count)
                {
                    return ParseResult<RtcpPacket>.Fail($"RR with {count} report blocks is {d.Length} bytes long");
                }

                return ParseResult<RtcpPacket>.Success(new RtcpReceiverReport
                {
                    Ssrc = BinaryPrimitives.ReadUInt32BigEndian(d[4..]),
                    Reports = ReadBlocks(d[8..], count),
                });
            }

            case RtcpPacket.SdesType:
                return ParseSdes(d, count);

            case RtcpPacket.ByeType:
            {
                if (d.Length < 4 + 4 * count)
                {
                    return ParseResult<RtcpPacket>.Fail($"BYE with {count} sources is {d.Length} bytes long");
                }

                var sources = new uint[count];
                for (var i = 0; i < count; i++)
                {
                    sources[i] = BinaryPrimitives.ReadUInt32BigEndian(d[(4 + 4 * i)..]);
                }

                string? reason = null;
                var at = 4 + 4 * count;
                if (at < d.Length)
                {
                    var n = d[at];
                    if (at + 1 + n > d.Length)
                    {
                        return ParseResult<RtcpPacket>.Fail("BYE reason runs past the packet");
                    }

                    reason = Encoding.UTF8.GetString(d.Slice(at + 1, n));
                }

                return ParseResult<RtcpPacket>.Success(new RtcpBye { Sources = sources, Reason = reason });
            }

            case RtcpPacket.TransportFeedbackType when count == RtcpNack.Format:
            {
                if (d.Length < 12)
                {
                    return ParseResult<RtcpPacket>.Fail("generic NACK is shorter than 12 bytes");
                }

                var lost = new List<ushort>();
                for (var at = 12; at + 4 <= d.Length; at += 4)
                {
                    var pid = BinaryPrimitives.ReadUInt16BigEndian(d[at..]);
                    var blp = BinaryPrimitives.ReadUInt16BigEndian(d[(at + 2)..]);
                    lost.Add(pid);
                    for (var bit = 0; bit < 16; bit++)
                    {
                        if ((blp & (1 << bit)) != 0)
                        {
                            lost.Add((ushort)(pid + bit + 1));
                        }
                    }
                }

                return ParseResult<RtcpPacket>.Success(new RtcpNack
                {
                    SenderSsrc = BinaryPrimitives.ReadUInt32BigEndian(d[4..]),
                    MediaSsrc = BinaryPrimitives.ReadUInt32BigEndian(d[8..]),
                    LostSequenceNumbers = lost,
                });
            }

            case RtcpPacket.PayloadFeedbackType when count == RtcpPli.Format:
            {
                if (d.Length < 12)
                {
                    return ParseResult<RtcpPacket>.Fail("PLI is shorter than 12 bytes");
                }

                return ParseResult<RtcpPacket>.Success(new RtcpPli
                {
                    SenderSsrc = BinaryPrimitives.ReadUInt32BigEndian(d[4..]),
                    MediaSsrc = BinaryPrimitives.ReadUInt32BigEndian(d[8..]),
                });
            }

            default:
                // Kept whole, padding included, so that writing it back reproduces a valid packet.
                return ParseResult<RtcpPacket>.Success(new RtcpUnknown { PacketType = type, CountOrFormat = count, Raw = whole });
        }
    }

    private static RtcpReportBlock[] ReadBlocks(ReadOnlySpan<byte> d, int count)
    {
        var blocks = new RtcpReportBlock[count];
        for (var i = 0; i < count; i++)
        {
            blocks[i] = RtcpReportBlock.Read(d[(RtcpReportBlock.Length * i)..]);
        }

        return blocks;
    }

    private static ParseResult<RtcpPacket> ParseSdes(ReadOnlySpan<byte> d, int count)
    {
        var chunks = new List<RtcpSdesChunk>(count);
        var offset = 4;
        for (var c = 0; c < count; c++)
        {
            if (offset + 4 > d.Length)
            {
                return ParseResult<RtcpPacket>.Fail($"SDES chunk {c} runs past the packet");
            }

            var ssrc = BinaryPrimitives.ReadUInt32BigEndian(d[offset..]);
            offset += 4;
            var items = new List<RtcpSdesItem>();
            while (true)
            {
                if (offset >= d.Length)
                {
                    return ParseResult<RtcpPacket>.Fail($"SDES chunk {c} has no terminating null item");
                }

                var itemType = d[offset];
                if (itemType == 0)
                {
                    // The null item, then zero padding up to the next word boundary.
                    offset = (offset + 4) & ~3;
                    break;
                }

                if (offset + 2 > d.Length || offset + 2 + d[offset + 1] > d.Length)
                {
                    return ParseResult<RtcpPacket>.Fail($"SDES item in chunk {c} runs past the packet");
                }

                var n = d[offset + 1];
                items.Add(new RtcpSdesItem(itemType, Encoding.UTF8.GetString(d.Slice(offset + 2, n))));
                offset += 2 + n;
            }

            chunks.Add(new RtcpSdesChunk(ssrc, items));
        }

        return ParseResult<RtcpPacket>.Success(new RtcpSdes { Chunks = chunks });
    }
}
