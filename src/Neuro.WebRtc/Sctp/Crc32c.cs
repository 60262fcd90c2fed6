using System.Buffers.Binary;
using System.Numerics;

namespace Neuro.WebRtc.Sctp;

/// <summary>CRC32c (Castagnoli) as SCTP uses it (RFC 9260 appendix A, RFC 4960 appendix B).</summary>
internal static class Crc32c
{
    /// <summary>The checksum of <paramref name="data"/>; SCTP stores it little-endian, unlike every other field.</summary>
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        return ~Step(0xFFFFFFFF, data);
    }

    /// <summary>Computes the checksum of a whole packet whose checksum field (bytes 8..11) is zero, and stores it.</summary>
    public static void Stamp(Span<byte> packet)
    {
        packet.Slice(8, 4).Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(packet.Slice(8, 4), Compute(packet));
    }

    /// <summary>True when the packet's checksum field matches its contents (the field counts as zero while computing).</summary>
    public static bool Verify(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 12) return false;
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(packet.Slice(8, 4));
        uint crc = 0xFFFFFFFF;
        crc = Step(crc, packet.Slice(0, 8));
        crc = Step(crc, stackalloc byte[4]);
        crc = Step(crc, packet.Slice(12));
        return ~crc == stored;
    }

    private static uint Step(uint crc, ReadOnlySpan<byte> data)
    {
        // BitOperations.Crc32C uses the SSE4.2/ARMv8 instruction when present; eight bytes at a time keeps a full
        // 1200-byte packet to ~150 steps.
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i)));
        for (; i < data.Length; i++)
            crc = BitOperations.Crc32C(crc, data[i]);
        return crc;
    }
}
