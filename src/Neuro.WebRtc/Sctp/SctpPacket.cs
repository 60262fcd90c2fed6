using System.Buffers.Binary;

namespace Neuro.WebRtc.Sctp;

/// <summary>An SCTP packet: common header (RFC 9260 §3.1) and its chunks.</summary>
public sealed class SctpPacket
{
    public const int CommonHeaderLength = 12;

    public required ushort SourcePort { get; init; }
    public required ushort DestinationPort { get; init; }
    public required uint VerificationTag { get; init; }
    public required IReadOnlyList<SctpChunk> Chunks { get; init; }

    public int EncodedLength
    {
        get
        {
            int length = CommonHeaderLength;
            foreach (var chunk in Chunks) length += SctpChunk.Padded(chunk.ChunkLength);
            return length;
        }
    }

    /// <summary>Writes the packet with its CRC32c; returns the length written.</summary>
    public int Encode(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), VerificationTag);
        int offset = CommonHeaderLength;
        foreach (var chunk in Chunks) offset += chunk.WriteTo(destination.Slice(offset));
        Crc32c.Stamp(destination.Slice(0, offset));
        return offset;
    }

    public byte[] Encode()
    {
        var buffer = new byte[EncodedLength];
        Encode(buffer);
        return buffer;
    }

    /// <summary>
    /// Decodes and checks a packet. Every malformation (short header, bad checksum, chunk or parameter lengths that
    /// overrun, fields too short for their chunk type) yields false and a reason; nothing throws.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out SctpPacket packet, out string error)
    {
        packet = null!;
        if (data.Length < CommonHeaderLength + 4)
        {
            error = $"packet of {data.Length} bytes is shorter than a header and one chunk";
            return false;
        }
        if (!Crc32c.Verify(data))
        {
            error = "CRC32c checksum mismatch";
            return false;
        }
        var chunks = new List<SctpChunk>();
        int offset = CommonHeaderLength;
        while (offset < data.Length)
        {
            if (data.Length - offset < 4)
            {
                error = $"{data.Length - offset} trailing bytes after the last chunk";
                return false;
            }
            byte type = data[offset];
            byte flags = data[offset + 1];
            int length = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(offset + 2));
            if (length < 4 || offset + length > data.Length)
            {
                error = $"chunk type {type} at {offset} has length {length}, beyond the packet or below 4";
                return false;
            }
            var value = data.Slice(offset + 4, length - 4);
            var chunk = ParseChunk(type, flags, value, out error);
            if (chunk is null)
            {
                error = $"chunk type {type} at {offset}: {error}";
                return false;
            }
            chunks.Add(chunk);
            // The final chunk's padding may be missing when the sender trimmed the datagram; accept that.
            offset += Math.Min(SctpChunk.Padded(length), data.Length - offset);
        }
        packet = new SctpPacket
        {
            SourcePort = BinaryPrimitives.ReadUInt16BigEndian(data),
            DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(2)),
            VerificationTag = BinaryPrimitives.ReadUInt32BigEndian(data.Slice(4)),
            Chunks = chunks,
        };
        error = "";
        return true;
    }

    private static SctpChunk? ParseChunk(byte type, byte flags, ReadOnlySpan<byte> v, out string error)
    {
        error = "";
        switch ((SctpChunkType)type)
        {
            case SctpChunkType.Data:
                if (v.Length < 12) return Fail(out error, "DATA shorter than its 16-byte header");
                if (v.Length == 12) return Fail(out error, "DATA without user data");
                return new SctpDataChunk
                {
                    Tsn = BinaryPrimitives.ReadUInt32BigEndian(v),
                    StreamId = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(4)),
                    StreamSequence = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(6)),
                    PayloadProtocolId = BinaryPrimitives.ReadUInt32BigEndian(v.Slice(8)),
                    UserData = v.Slice(12).ToArray(),
                    Immediate = (flags & 0x08) != 0,
                    Unordered = (flags & 0x04) != 0,
                    Beginning = (flags & 0x02) != 0,
                    Ending = (flags & 0x01) != 0,
                };
            case SctpChunkType.Init:
            case SctpChunkType.InitAck:
                return ParseInit(type == (byte)SctpChunkType.InitAck, v, out error);
            case SctpChunkType.Sack:
            {
                if (v.Length < 12) return Fail(out error, "SACK shorter than 16 bytes");
                int gaps = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(8));
                int dups = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(10));
                if (v.Length < 12 + 4 * gaps + 4 * dups) return Fail(out error, "SACK shorter than its block counts");
                var gapList = new SctpGapAckBlock[gaps];
                for (int i = 0; i < gaps; i++)
                    gapList[i] = new SctpGapAckBlock(
                        BinaryPrimitives.ReadUInt16BigEndian(v.Slice(12 + 4 * i)),
                        BinaryPrimitives.ReadUInt16BigEndian(v.Slice(14 + 4 * i)));
                var dupList = new uint[dups];
                for (int i = 0; i < dups; i++)
                    dupList[i] = BinaryPrimitives.ReadUInt32BigEndian(v.Slice(12 + 4 * gaps + 4 * i));
                return new SctpSackChunk
                {
                    CumulativeTsnAck = BinaryPrimitives.ReadUInt32BigEndian(v),
                    AdvertisedReceiverWindow = BinaryPrimitives.ReadUInt32BigEndian(v.Slice(4)),
                    GapAckBlocks = gapList,
                    DuplicateTsns = dupList,
                };
            }
            case SctpChunkType.Heartbeat:
            case SctpChunkType.HeartbeatAck:
            {
                if (v.Length < 4) return Fail(out error, "HEARTBEAT without its info parameter");
                int plen = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(2));
                if (BinaryPrimitives.ReadUInt16BigEndian(v) != SctpHeartbeatChunk.ParamHeartbeatInfo || plen < 4 || plen > v.Length)
                    return Fail(out error, "HEARTBEAT info parameter malformed");
                return new SctpHeartbeatChunk
                {
                    IsAck = type == (byte)SctpChunkType.HeartbeatAck,
                    Info = v.Slice(4, plen - 4).ToArray(),
                };
            }
            case SctpChunkType.Abort:
            case SctpChunkType.Error:
            {
                var causes = ParseCauses(v, out error);
                if (causes is null) return null;
                return new SctpErrorChunk
                {
                    IsAbort = type == (byte)SctpChunkType.Abort,
                    TagReflected = (flags & 1) != 0,
                    Causes = causes,
                };
            }
            case SctpChunkType.Shutdown:
                if (v.Length < 4) return Fail(out error, "SHUTDOWN shorter than 8 bytes");
                return new SctpShutdownChunk { CumulativeTsnAck = BinaryPrimitives.ReadUInt32BigEndian(v) };
            case SctpChunkType.ShutdownAck:
            case SctpChunkType.CookieAck:
                return new SctpSimpleChunk((SctpChunkType)type);
            case SctpChunkType.ShutdownComplete:
                return new SctpSimpleChunk(SctpChunkType.ShutdownComplete, (flags & 1) != 0);
            case SctpChunkType.CookieEcho:
                if (v.Length == 0) return Fail(out error, "COOKIE ECHO without a cookie");
                return new SctpCookieEchoChunk { Cookie = v.ToArray() };
            case SctpChunkType.ForwardTsn:
            {
                if (v.Length < 4 || (v.Length - 4) % 4 != 0) return Fail(out error, "FORWARD TSN length not 8 + 4n");
                var streams = new (ushort, ushort)[(v.Length - 4) / 4];
                for (int i = 0; i < streams.Length; i++)
                    streams[i] = (BinaryPrimitives.ReadUInt16BigEndian(v.Slice(4 + 4 * i)),
                        BinaryPrimitives.ReadUInt16BigEndian(v.Slice(6 + 4 * i)));
                return new SctpForwardTsnChunk { NewCumulativeTsn = BinaryPrimitives.ReadUInt32BigEndian(v), Streams = streams };
            }
            case SctpChunkType.Reconfig:
                return ParseReconfig(v, out error);
            default:
                return new SctpUnknownChunk { RawType = type, RawFlags = flags, Value = v.ToArray() };
        }
    }

    private static SctpChunk? ParseInit(bool isAck, ReadOnlySpan<byte> v, out string error)
    {
        error = "";
        if (v.Length < 16) return Fail(out error, "INIT shorter than 20 bytes");
        uint tag = BinaryPrimitives.ReadUInt32BigEndian(v);
        ushort os = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(8));
        ushort mis = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(10));
        // RFC 9260 §3.3.2: a zero Initiate Tag or zero stream counts make the INIT invalid.
        if (tag == 0) return Fail(out error, "Initiate Tag is 0");
        if (os == 0 || mis == 0) return Fail(out error, "zero inbound or outbound streams");
        byte[]? cookie = null;
        bool forwardTsn = false;
        byte[] extensions = [];
        var unrecognized = new List<byte[]>();
        int offset = 16;
        while (offset < v.Length)
        {
            if (v.Length - offset < 4) return Fail(out error, "truncated parameter header");
            ushort ptype = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(offset));
            int plen = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(offset + 2));
            if (plen < 4 || offset + plen > v.Length) return Fail(out error, $"parameter {ptype} length {plen} overruns");
            var pval = v.Slice(offset + 4, plen - 4);
            switch (ptype)
            {
                case SctpInitChunk.ParamStateCookie:
                    cookie = pval.ToArray();
                    break;
                case SctpInitChunk.ParamForwardTsnSupported:
                    forwardTsn = true;
                    break;
                case SctpInitChunk.ParamSupportedExtensions:
                    extensions = pval.ToArray();
                    break;
                case SctpInitChunk.ParamUnrecognized:
                    // In INIT ACK: a parameter of our INIT the peer did not understand, echoed as a raw TLV.
                    unrecognized.Add(pval.ToArray());
                    break;
                case 5 or 6 or 9 or 11 or 12 or 0x8000:
                    // Addresses, cookie preservative, host name, address types, ECN: meaningless over DTLS or not
                    // implemented, and all of them are safe to skip silently.
                    break;
                default:
                    // Upper two bits (§3.2.1): 00 stop and discard, 01 stop and report, 10 skip, 11 skip and report.
                    int action = ptype >> 14;
                    if (action is 1 or 3) unrecognized.Add(v.Slice(offset, plen).ToArray());
                    if (action is 0 or 1)
                    {
                        offset = v.Length;
                        continue;
                    }
                    break;
            }
            offset += SctpChunk.Padded(plen);
        }
        if (isAck && cookie is null) return Fail(out error, "INIT ACK without a state cookie");
        return new SctpInitChunk
        {
            IsAck = isAck,
            InitiateTag = tag,
            AdvertisedReceiverWindow = BinaryPrimitives.ReadUInt32BigEndian(v.Slice(4)),
            OutboundStreams = os,
            InboundStreams = mis,
            InitialTsn = BinaryPrimitives.ReadUInt32BigEndian(v.Slice(12)),
            StateCookie = cookie,
            ForwardTsnSupported = forwardTsn,
            SupportedExtensions = extensions,
            UnrecognizedParameters = unrecognized,
        };
    }

    private static List<SctpErrorCause>? ParseCauses(ReadOnlySpan<byte> v, out string error)
    {
        error = "";
        var causes = new List<SctpErrorCause>();
        int offset = 0;
        while (offset < v.Length)
        {
            if (v.Length - offset < 4)
            {
                error = "truncated error cause";
                return null;
            }
            int clen = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(offset + 2));
            if (clen < 4 || offset + clen > v.Length)
            {
                error = $"error cause length {clen} overruns";
                return null;
            }
            causes.Add(new SctpErrorCause(
                (SctpErrorCauseCode)BinaryPrimitives.ReadUInt16BigEndian(v.Slice(offset)), v.Slice(offset + 4, clen - 4).ToArray()));
            offset += SctpChunk.Padded(clen);
        }
        return causes;
    }

    private static SctpChunk? ParseReconfig(ReadOnlySpan<byte> v, out string error)
    {
        error = "";
        SctpOutgoingResetRequest? reset = null;
        SctpReconfigResponse? response = null;
        var others = new List<uint>();
        int offset = 0;
        while (offset < v.Length)
        {
            if (v.Length - offset < 8) return Fail(out error, "truncated RE-CONFIG parameter");
            ushort ptype = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(offset));
            int plen = BinaryPrimitives.ReadUInt16BigEndian(v.Slice(offset + 2));
            if (plen < 8 || offset + plen > v.Length) return Fail(out error, $"RE-CONFIG parameter length {plen} overruns");
            var p = v.Slice(offset, plen);
            uint seq = BinaryPrimitives.ReadUInt32BigEndian(p.Slice(4));
            switch (ptype)
            {
                case SctpReconfigChunk.ParamOutgoingReset:
                {
                    if (plen < 16 || (plen - 16) % 2 != 0) return Fail(out error, "outgoing reset request malformed");
                    var streams = new ushort[(plen - 16) / 2];
                    for (int i = 0; i < streams.Length; i++) streams[i] = BinaryPrimitives.ReadUInt16BigEndian(p.Slice(16 + 2 * i));
                    reset = new SctpOutgoingResetRequest(seq, BinaryPrimitives.ReadUInt32BigEndian(p.Slice(8)),
                        BinaryPrimitives.ReadUInt32BigEndian(p.Slice(12)), streams);
                    break;
                }
                case SctpReconfigChunk.ParamResponse:
                    if (plen < 12) return Fail(out error, "re-configuration response shorter than 12 bytes");
                    response = new SctpReconfigResponse(seq, BinaryPrimitives.ReadUInt32BigEndian(p.Slice(8)));
                    break;
                default:
                    others.Add(seq);
                    break;
            }
            offset += SctpChunk.Padded(plen);
        }
        return new SctpReconfigChunk { OutgoingReset = reset, Response = response, OtherRequests = others };
    }

    private static SctpChunk? Fail(out string error, string message)
    {
        error = message;
        return null;
    }
}
