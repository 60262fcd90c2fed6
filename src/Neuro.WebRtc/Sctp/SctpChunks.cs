using System.Buffers.Binary;

namespace Neuro.WebRtc.Sctp;

/// <summary>Chunk type codes (RFC 9260 §3.2, RFC 3758, RFC 6525).</summary>
public enum SctpChunkType : byte
{
    Data = 0,
    Init = 1,
    InitAck = 2,
    Sack = 3,
    Heartbeat = 4,
    HeartbeatAck = 5,
    Abort = 6,
    Shutdown = 7,
    ShutdownAck = 8,
    Error = 9,
    CookieEcho = 10,
    CookieAck = 11,
    ShutdownComplete = 14,
    Reconfig = 130,
    ForwardTsn = 192,
}

/// <summary>Error cause codes (RFC 9260 §3.3.10).</summary>
public enum SctpErrorCauseCode : ushort
{
    InvalidStreamIdentifier = 1,
    MissingMandatoryParameter = 2,
    StaleCookie = 3,
    OutOfResource = 4,
    UnrecognizedChunkType = 6,
    InvalidMandatoryParameter = 7,
    UnrecognizedParameters = 8,
    NoUserData = 9,
    CookieReceivedWhileShuttingDown = 10,
    UserInitiatedAbort = 12,
    ProtocolViolation = 13,
}

/// <summary>One error cause inside ABORT or ERROR: the code and its raw information bytes.</summary>
public sealed record SctpErrorCause(SctpErrorCauseCode Code, byte[] Info)
{
    internal int EncodedLength => 4 + Info.Length;

    public override string ToString() =>
        Code is SctpErrorCauseCode.UserInitiatedAbort or SctpErrorCauseCode.ProtocolViolation
            ? $"{Code}: {System.Text.Encoding.UTF8.GetString(Info)}"
            : Code.ToString();
}

/// <summary>A decoded chunk. Subclasses know their value layout; the packet codec adds headers and padding.</summary>
public abstract class SctpChunk
{
    public abstract SctpChunkType Type { get; }

    /// <summary>The flags byte as it goes on the wire.</summary>
    internal abstract byte Flags { get; }

    /// <summary>Length of the value after the 4-byte chunk header, before padding.</summary>
    internal abstract int ValueLength { get; }

    internal abstract void WriteValue(Span<byte> destination);

    /// <summary>Header + value, without the trailing padding (this is what the chunk length field holds).</summary>
    internal int ChunkLength => 4 + ValueLength;

    internal static int Padded(int length) => (length + 3) & ~3;

    /// <summary>Writes header, value and zero padding; returns the bytes used including padding.</summary>
    internal int WriteTo(Span<byte> destination)
    {
        int length = ChunkLength;
        destination[0] = (byte)Type;
        destination[1] = Flags;
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), checked((ushort)length));
        WriteValue(destination.Slice(4, ValueLength));
        int padded = Padded(length);
        destination.Slice(length, padded - length).Clear();
        return padded;
    }

    internal static void WriteCauses(Span<byte> destination, IReadOnlyList<SctpErrorCause> causes)
    {
        int offset = 0;
        foreach (var cause in causes)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(offset), (ushort)cause.Code);
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(offset + 2), (ushort)cause.EncodedLength);
            cause.Info.CopyTo(destination.Slice(offset + 4));
            int padded = Padded(cause.EncodedLength);
            // The last cause's padding lies outside the value span (WriteTo pads the chunk itself).
            int end = Math.Min(offset + padded, destination.Length);
            destination.Slice(offset + cause.EncodedLength, end - offset - cause.EncodedLength).Clear();
            offset += padded;
        }
    }

    internal static int CausesLength(IReadOnlyList<SctpErrorCause> causes)
    {
        // The last cause's padding is not part of the chunk length, like any other trailing padding.
        int length = 0;
        for (int i = 0; i < causes.Count; i++)
            length += i == causes.Count - 1 ? causes[i].EncodedLength : Padded(causes[i].EncodedLength);
        return length;
    }
}

/// <summary>DATA (RFC 9260 §3.3.1): one fragment of a user message.</summary>
public sealed class SctpDataChunk : SctpChunk
{
    public const int HeaderLength = 16;

    public required uint Tsn { get; init; }
    public required ushort StreamId { get; init; }
    public required ushort StreamSequence { get; init; }
    public required uint PayloadProtocolId { get; init; }
    public required ReadOnlyMemory<byte> UserData { get; init; }
    public bool Unordered { get; init; }
    public bool Beginning { get; init; }
    public bool Ending { get; init; }

    /// <summary>The I bit (RFC 7053): the sender asks for a SACK without delay.</summary>
    public bool Immediate { get; init; }

    public override SctpChunkType Type => SctpChunkType.Data;

    internal override byte Flags =>
        (byte)((Immediate ? 0x08 : 0) | (Unordered ? 0x04 : 0) | (Beginning ? 0x02 : 0) | (Ending ? 0x01 : 0));

    internal override int ValueLength => 12 + UserData.Length;

    internal override void WriteValue(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32BigEndian(d, Tsn);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(4), StreamId);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(6), StreamSequence);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(8), PayloadProtocolId);
        UserData.Span.CopyTo(d.Slice(12));
    }
}

/// <summary>INIT and INIT ACK (RFC 9260 §3.3.2, §3.3.3); they share a layout, INIT ACK adds the state cookie.</summary>
public sealed class SctpInitChunk : SctpChunk
{
    public required bool IsAck { get; init; }
    public required uint InitiateTag { get; init; }
    public required uint AdvertisedReceiverWindow { get; init; }
    public required ushort OutboundStreams { get; init; }
    public required ushort InboundStreams { get; init; }
    public required uint InitialTsn { get; init; }

    /// <summary>State cookie (INIT ACK only; mandatory there).</summary>
    public byte[]? StateCookie { get; init; }

    /// <summary>Forward-TSN-Supported parameter (RFC 3758) present.</summary>
    public bool ForwardTsnSupported { get; init; }

    /// <summary>Chunk types from the Supported Extensions parameter (RFC 5061 §4.2.7).</summary>
    public IReadOnlyList<byte> SupportedExtensions { get; init; } = [];

    /// <summary>Parameters we did not understand whose type asks to be reported (RFC 9260 §3.2.1), raw TLVs.</summary>
    public IReadOnlyList<byte[]> UnrecognizedParameters { get; init; } = [];

    public override SctpChunkType Type => IsAck ? SctpChunkType.InitAck : SctpChunkType.Init;

    internal override byte Flags => 0;

    internal const ushort ParamStateCookie = 7;
    internal const ushort ParamUnrecognized = 8;
    internal const ushort ParamForwardTsnSupported = 0xC000;
    internal const ushort ParamSupportedExtensions = 0x8008;

    internal override int ValueLength
    {
        get
        {
            // The chunk length counts the padding of every parameter but the last (RFC 9260 §3.2).
            int length = 16, lastPad = 0;
            void Add(int raw)
            {
                length += Padded(raw);
                lastPad = Padded(raw) - raw;
            }
            if (StateCookie is not null) Add(4 + StateCookie.Length);
            if (ForwardTsnSupported) Add(4);
            if (SupportedExtensions.Count > 0) Add(4 + SupportedExtensions.Count);
            foreach (var p in UnrecognizedParameters) Add(4 + p.Length);
            return length - lastPad;
        }
    }

    internal override void WriteValue(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32BigEndian(d, InitiateTag);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(4), AdvertisedReceiverWindow);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(8), OutboundStreams);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(10), InboundStreams);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(12), InitialTsn);
        int offset = 16;
        if (StateCookie is not null) offset += WriteParam(d.Slice(offset), ParamStateCookie, StateCookie);
        if (ForwardTsnSupported) offset += WriteParam(d.Slice(offset), ParamForwardTsnSupported, []);
        if (SupportedExtensions.Count > 0)
            offset += WriteParam(d.Slice(offset), ParamSupportedExtensions, [.. SupportedExtensions]);
        foreach (var p in UnrecognizedParameters) offset += WriteParam(d.Slice(offset), ParamUnrecognized, p);
        // The chunk length excludes the final parameter's padding, so the span may be shorter than what we wrote;
        // WriteParam clears padding only inside the span it was given.
    }

    private static int WriteParam(Span<byte> d, ushort type, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(d, type);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(2), (ushort)(4 + value.Length));
        value.CopyTo(d.Slice(4));
        int padded = Padded(4 + value.Length);
        int end = Math.Min(padded, d.Length);
        d.Slice(4 + value.Length, end - 4 - value.Length).Clear();
        return padded;
    }
}

/// <summary>One gap ack block: TSNs cumulative+Start .. cumulative+End were received.</summary>
public readonly record struct SctpGapAckBlock(ushort Start, ushort End);

/// <summary>SACK (RFC 9260 §3.3.4).</summary>
public sealed class SctpSackChunk : SctpChunk
{
    public required uint CumulativeTsnAck { get; init; }
    public required uint AdvertisedReceiverWindow { get; init; }
    public IReadOnlyList<SctpGapAckBlock> GapAckBlocks { get; init; } = [];
    public IReadOnlyList<uint> DuplicateTsns { get; init; } = [];

    public override SctpChunkType Type => SctpChunkType.Sack;
    internal override byte Flags => 0;
    internal override int ValueLength => 12 + 4 * GapAckBlocks.Count + 4 * DuplicateTsns.Count;

    internal override void WriteValue(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32BigEndian(d, CumulativeTsnAck);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(4), AdvertisedReceiverWindow);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(8), (ushort)GapAckBlocks.Count);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(10), (ushort)DuplicateTsns.Count);
        int offset = 12;
        foreach (var gap in GapAckBlocks)
        {
            BinaryPrimitives.WriteUInt16BigEndian(d.Slice(offset), gap.Start);
            BinaryPrimitives.WriteUInt16BigEndian(d.Slice(offset + 2), gap.End);
            offset += 4;
        }
        foreach (var tsn in DuplicateTsns)
        {
            BinaryPrimitives.WriteUInt32BigEndian(d.Slice(offset), tsn);
            offset += 4;
        }
    }
}

/// <summary>HEARTBEAT and HEARTBEAT ACK (RFC 9260 §3.3.5, §3.3.6): the info is opaque to the peer and echoed back.</summary>
public sealed class SctpHeartbeatChunk : SctpChunk
{
    internal const ushort ParamHeartbeatInfo = 1;

    public required bool IsAck { get; init; }
    public required byte[] Info { get; init; }

    public override SctpChunkType Type => IsAck ? SctpChunkType.HeartbeatAck : SctpChunkType.Heartbeat;
    internal override byte Flags => 0;
    internal override int ValueLength => 4 + Info.Length;

    internal override void WriteValue(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt16BigEndian(d, ParamHeartbeatInfo);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(2), (ushort)(4 + Info.Length));
        Info.CopyTo(d.Slice(4));
    }
}

/// <summary>ABORT and ERROR (RFC 9260 §3.3.7, §3.3.10): a list of error causes.</summary>
public sealed class SctpErrorChunk : SctpChunk
{
    public required bool IsAbort { get; init; }

    /// <summary>T bit (ABORT only): the verification tag is the sender's own, reflected.</summary>
    public bool TagReflected { get; init; }

    public IReadOnlyList<SctpErrorCause> Causes { get; init; } = [];

    public override SctpChunkType Type => IsAbort ? SctpChunkType.Abort : SctpChunkType.Error;
    internal override byte Flags => (byte)(TagReflected ? 1 : 0);
    internal override int ValueLength => CausesLength(Causes);
    internal override void WriteValue(Span<byte> d) => WriteCauses(d, Causes);
}

/// <summary>SHUTDOWN (RFC 9260 §3.3.8).</summary>
public sealed class SctpShutdownChunk : SctpChunk
{
    public required uint CumulativeTsnAck { get; init; }
    public override SctpChunkType Type => SctpChunkType.Shutdown;
    internal override byte Flags => 0;
    internal override int ValueLength => 4;
    internal override void WriteValue(Span<byte> d) => BinaryPrimitives.WriteUInt32BigEndian(d, CumulativeTsnAck);
}

/// <summary>Chunks with no value: SHUTDOWN ACK, SHUTDOWN COMPLETE (with its T bit), COOKIE ACK.</summary>
public sealed class SctpSimpleChunk(SctpChunkType type, bool tagReflected = false) : SctpChunk
{
    public override SctpChunkType Type { get; } = type;
    public bool TagReflected { get; } = tagReflected;
    internal override byte Flags => (byte)(TagReflected ? 1 : 0);
    internal override int ValueLength => 0;
    internal override void WriteValue(Span<byte> d) { }
}

/// <summary>COOKIE ECHO (RFC 9260 §3.3.11).</summary>
public sealed class SctpCookieEchoChunk : SctpChunk
{
    public required byte[] Cookie { get; init; }
    public override SctpChunkType Type => SctpChunkType.CookieEcho;
    internal override byte Flags => 0;
    internal override int ValueLength => Cookie.Length;
    internal override void WriteValue(Span<byte> d) => Cookie.CopyTo(d);
}

/// <summary>FORWARD TSN (RFC 3758 §3.2): the sender abandoned everything up to the new cumulative TSN.</summary>
public sealed class SctpForwardTsnChunk : SctpChunk
{
    public required uint NewCumulativeTsn { get; init; }
    public IReadOnlyList<(ushort StreamId, ushort StreamSequence)> Streams { get; init; } = [];

    public override SctpChunkType Type => SctpChunkType.ForwardTsn;
    internal override byte Flags => 0;
    internal override int ValueLength => 4 + 4 * Streams.Count;

    internal override void WriteValue(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32BigEndian(d, NewCumulativeTsn);
        int offset = 4;
        foreach (var (stream, ssn) in Streams)
        {
            BinaryPrimitives.WriteUInt16BigEndian(d.Slice(offset), stream);
            BinaryPrimitives.WriteUInt16BigEndian(d.Slice(offset + 2), ssn);
            offset += 4;
        }
    }
}

/// <summary>RE-CONFIG (RFC 6525 §3.1), reduced to what data channel close needs: outgoing stream reset requests and
/// responses. Other request kinds are kept raw so they can be refused.</summary>
public sealed class SctpReconfigChunk : SctpChunk
{
    internal const ushort ParamOutgoingReset = 13;
    internal const ushort ParamResponse = 16;

    public SctpOutgoingResetRequest? OutgoingReset { get; init; }
    public SctpReconfigResponse? Response { get; init; }

    /// <summary>Request sequence numbers of request parameters we do not implement.</summary>
    public IReadOnlyList<uint> OtherRequests { get; init; } = [];

    public override SctpChunkType Type => SctpChunkType.Reconfig;
    internal override byte Flags => 0;

    internal override int ValueLength
    {
        get
        {
            int length = 0;
            if (OutgoingReset is not null) length += 16 + 2 * OutgoingReset.Streams.Count;
            if (Response is not null) length = Padded(length) + 12;
            return length;
        }
    }

    internal override void WriteValue(Span<byte> d)
    {
        int offset = 0;
        if (OutgoingReset is { } r)
        {
            int length = 16 + 2 * r.Streams.Count;
            BinaryPrimitives.WriteUInt16BigEndian(d.Slice(offset), ParamOutgoingReset);
            BinaryPrimitives.WriteUInt16BigEndian(d.Slice(offset + 2), (ushort)length);
            BinaryPrimitives.WriteUInt32BigEndian(d.Slice(offset + 4), r.RequestSequence);
            BinaryPrimitives.WriteUInt32BigEndian(d.Slice(offset + 8), r.ResponseSequence);
            BinaryPrimitives.WriteUInt32BigEndian(d.Slice(offset + 12), r.SendersLastTsn);
            for (int i = 0; i < r.Streams.Count; i++)
                BinaryPrimitives.WriteUInt16BigEndian(d.Slice(offset + 16 + 2 * i), r.Streams[i]);
            int padded = Padded(length);
            d.Slice(offset + length, Math.Min(padded, d.Length - offset) - length).Clear();
            offset += padded;
        }
        if (Response is { } s)
        {
            BinaryPrimitives.WriteUInt16BigEndian(d.Slice(offset), ParamResponse);
            BinaryPrimitives.WriteUInt16BigEndian(d.Slice(offset + 2), 12);
            BinaryPrimitives.WriteUInt32BigEndian(d.Slice(offset + 4), s.ResponseSequence);
            BinaryPrimitives.WriteUInt32BigEndian(d.Slice(offset + 8), s.Result);
        }
    }
}

/// <summary>Outgoing SSN Reset Request parameter (RFC 6525 §4.1).</summary>
public sealed record SctpOutgoingResetRequest(
    uint RequestSequence, uint ResponseSequence, uint SendersLastTsn, IReadOnlyList<ushort> Streams);

/// <summary>Re-configuration Response parameter (RFC 6525 §4.4). Result 1 = performed, 2 = denied, 6 = in progress.</summary>
public sealed record SctpReconfigResponse(uint ResponseSequence, uint Result)
{
    public const uint SuccessNothingToDo = 0;
    public const uint SuccessPerformed = 1;
    public const uint Denied = 2;
    public const uint InProgress = 6;
}

/// <summary>A chunk type we do not implement, kept so the association can apply the upper-two-bit rule (§3.2).</summary>
public sealed class SctpUnknownChunk : SctpChunk
{
    public required byte RawType { get; init; }
    public required byte RawFlags { get; init; }
    public required byte[] Value { get; init; }

    public override SctpChunkType Type => (SctpChunkType)RawType;
    internal override byte Flags => RawFlags;
    internal override int ValueLength => Value.Length;
    internal override void WriteValue(Span<byte> d) => Value.CopyTo(d);
}
