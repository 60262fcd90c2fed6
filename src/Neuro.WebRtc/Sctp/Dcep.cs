using System.Buffers.Binary;
using System.Text;

namespace Neuro.WebRtc.Sctp;

/// <summary>Channel types of DATA_CHANNEL_OPEN (RFC 8832 §5.1); the high bit means unordered.</summary>
public enum DataChannelType : byte
{
    Reliable = 0x00,
    ReliableUnordered = 0x80,
    PartialReliableRexmit = 0x01,
    PartialReliableRexmitUnordered = 0x81,
    PartialReliableTimed = 0x02,
    PartialReliableTimedUnordered = 0x82,
}

/// <summary>Payload protocol identifiers of WebRTC data channels (RFC 8831 §8).</summary>
public static class DataChannelPpid
{
    public const uint Dcep = 50;
    public const uint String = 51;
    public const uint Binary = 53;
    public const uint StringEmpty = 56;
    public const uint BinaryEmpty = 57;
}

/// <summary>DATA_CHANNEL_OPEN (RFC 8832 §5.1).</summary>
public sealed record DataChannelOpenMessage(
    DataChannelType ChannelType, ushort Priority, uint ReliabilityParameter, string Label, string Protocol)
{
    public bool Unordered => ((byte)ChannelType & 0x80) != 0;
}

/// <summary>The Data Channel Establishment Protocol messages: OPEN and ACK.</summary>
public static class Dcep
{
    public const byte MessageAck = 0x02;
    public const byte MessageOpen = 0x03;

    public static byte[] EncodeOpen(DataChannelOpenMessage open)
    {
        var label = Encoding.UTF8.GetBytes(open.Label);
        var protocol = Encoding.UTF8.GetBytes(open.Protocol);
        if (label.Length > ushort.MaxValue || protocol.Length > ushort.MaxValue)
            throw new ArgumentException("label and protocol must each fit in 65535 UTF-8 bytes");
        var b = new byte[12 + label.Length + protocol.Length];
        b[0] = MessageOpen;
        b[1] = (byte)open.ChannelType;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), open.Priority);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), open.ReliabilityParameter);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(8), (ushort)label.Length);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(10), (ushort)protocol.Length);
        label.CopyTo(b, 12);
        protocol.CopyTo(b, 12 + label.Length);
        return b;
    }

    public static byte[] EncodeAck() => [MessageAck];

    /// <summary>Parses a DCEP message: an OPEN (returned), an ACK (<paramref name="isAck"/>), or an error.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out DataChannelOpenMessage? open, out bool isAck, out string error)
    {
        open = null;
        isAck = false;
        error = "";
        if (data.Length == 0)
        {
            error = "empty DCEP message";
            return false;
        }
        if (data[0] == MessageAck)
        {
            isAck = true;
            return true;
        }
        if (data[0] != MessageOpen)
        {
            error = $"unknown DCEP message type {data[0]}";
            return false;
        }
        if (data.Length < 12)
        {
            error = "DATA_CHANNEL_OPEN shorter than 12 bytes";
            return false;
        }
        var type = (DataChannelType)data[1];
        if (!Enum.IsDefined(type))
        {
            error = $"unknown channel type 0x{data[1]:x2}";
            return false;
        }
        int labelLength = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(8));
        int protocolLength = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(10));
        if (data.Length < 12 + labelLength + protocolLength)
        {
            error = "DATA_CHANNEL_OPEN label/protocol overrun";
            return false;
        }
        open = new DataChannelOpenMessage(
            type,
            BinaryPrimitives.ReadUInt16BigEndian(data.Slice(2)),
            BinaryPrimitives.ReadUInt32BigEndian(data.Slice(4)),
            Encoding.UTF8.GetString(data.Slice(12, labelLength)),
            Encoding.UTF8.GetString(data.Slice(12 + labelLength, protocolLength)));
        return true;
    }
}
