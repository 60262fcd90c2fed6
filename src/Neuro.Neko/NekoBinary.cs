using System.Buffers.Binary;

namespace Neuro.Neko;

/// <summary>
/// Neko v3's binary input on the server-created <c>data</c> channel. Big-endian; a 3-byte header (u8 opcode, u16 length)
/// where the client puts the payload length without the header, which the server reads only to tell the 4- and 5-byte
/// scroll apart. Server-to-client messages put the whole message length there instead.
/// </summary>
public static class NekoBinary
{
    public const byte OpMove = 0x01, OpScroll = 0x02, OpKeyDown = 0x03, OpKeyUp = 0x04, OpButtonDown = 0x05, OpButtonUp = 0x06, OpPing = 0x07;
    public const byte ServerCursorPosition = 0x01, ServerCursorImage = 0x02, ServerPong = 0x03;

    public static byte[] Move(int x, int y)
    {
        var b = Header(OpMove, 4);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(3), (ushort)Math.Clamp(x, 0, ushort.MaxValue));
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(5), (ushort)Math.Clamp(y, 0, ushort.MaxValue));
        return b;
    }

    /// <summary>Deltas are wheel notches: positive y scrolls up, positive x right (Neko's X11 mapping).</summary>
    public static byte[] Scroll(int deltaX, int deltaY, bool controlKey = false)
    {
        var b = Header(OpScroll, 5);
        BinaryPrimitives.WriteInt16BigEndian(b.AsSpan(3), (short)Math.Clamp(deltaX, short.MinValue, short.MaxValue));
        BinaryPrimitives.WriteInt16BigEndian(b.AsSpan(5), (short)Math.Clamp(deltaY, short.MinValue, short.MaxValue));
        b[7] = controlKey ? (byte)1 : (byte)0;
        return b;
    }

    public static byte[] KeyDown(uint keysym) => U32(OpKeyDown, keysym);
    public static byte[] KeyUp(uint keysym) => U32(OpKeyUp, keysym);
    public static byte[] ButtonDown(uint code) => U32(OpButtonDown, code);
    public static byte[] ButtonUp(uint code) => U32(OpButtonUp, code);

    /// <summary>The client's clock in ms split the way Neko reads it (ms = hi × 0xFFFFFFFF + lo).</summary>
    public static byte[] Ping(ulong milliseconds)
    {
        var b = Header(OpPing, 8);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(3), (uint)(milliseconds / 0xFFFFFFFF));
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(7), (uint)(milliseconds % 0xFFFFFFFF));
        return b;
    }

    private static byte[] U32(byte op, uint value)
    {
        var b = Header(op, 4);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(3), value);
        return b;
    }

    private static byte[] Header(byte op, ushort payloadLength)
    {
        var b = new byte[3 + payloadLength];
        b[0] = op;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(1), payloadLength);
        return b;
    }

    /// <summary>Total parse of a server-to-client message: false with a reason on anything malformed, never an exception.</summary>
    public static bool TryParseServer(ReadOnlySpan<byte> data, out NekoServerBinary message, out string? error)
    {
        message = default;
        if (data.Length < 3) { error = $"{data.Length} bytes is shorter than the header"; return false; }
        byte op = data[0];
        int length = BinaryPrimitives.ReadUInt16BigEndian(data[1..]);
        switch (op)
        {
            case ServerCursorPosition when data.Length >= 7:
                message = new NekoServerBinary(op, BinaryPrimitives.ReadUInt16BigEndian(data[3..]), BinaryPrimitives.ReadUInt16BigEndian(data[5..]), default, 0);
                error = null;
                return true;
            case ServerCursorImage when data.Length >= 11:
                // The header length counts the whole message; the PNG runs to it (or to the end if it claims more).
                int end = Math.Min(data.Length, Math.Max(11, length));
                message = new NekoServerBinary(op, BinaryPrimitives.ReadUInt16BigEndian(data[3..]), BinaryPrimitives.ReadUInt16BigEndian(data[5..]),
                    data[11..end].ToArray(), 0);
                error = null;
                return true;
            case ServerPong when data.Length >= 19:
                ulong client = (ulong)BinaryPrimitives.ReadUInt32BigEndian(data[3..]) * 0xFFFFFFFF + BinaryPrimitives.ReadUInt32BigEndian(data[7..]);
                message = new NekoServerBinary(op, 0, 0, default, client);
                error = null;
                return true;
            case ServerCursorPosition or ServerCursorImage or ServerPong:
                error = $"opcode 0x{op:x2}: {data.Length} bytes is too short";
                return false;
            default:
                error = $"unknown opcode 0x{op:x2}";
                return false;
        }
    }
}

/// <summary>A decoded server message: cursor position (X, Y), cursor image (X/Y = width/height, Png), pong (PingMilliseconds echoed).</summary>
public readonly record struct NekoServerBinary(byte Op, int X, int Y, ReadOnlyMemory<byte> Png, ulong PingMilliseconds);
