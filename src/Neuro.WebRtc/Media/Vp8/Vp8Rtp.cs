namespace Neuro.WebRtc.Media.Vp8;

/// <summary>
/// Splits encoded VP8 frames into RTP payloads (RFC 7741 §4): the whole frame is sent as partition 0 (no
/// partition-aligned splitting), with a 15-bit picture id so a receiver can tell frames apart across losses.
/// </summary>
public sealed class Vp8Packetizer
{
    private int _pictureId;

    public Vp8Packetizer(int maxPayloadSize = 1200, int initialPictureId = 0)
    {
        if (maxPayloadSize < 8)
        {
            throw new ArgumentOutOfRangeException(nameof(maxPayloadSize), "VP8 payloads need room for a descriptor and data");
        }

        MaxPayloadSize = maxPayloadSize;
        _pictureId = initialPictureId & 0x7FFF;
    }

    public int MaxPayloadSize { get; }

    /// <summary>Payloads for one frame, in order; the last one goes in the packet with the marker bit.</summary>
    public List<byte[]> Packetize(ReadOnlySpan<byte> frame)
    {
        var payloads = new List<byte[]>();
        var pictureId = _pictureId;
        _pictureId = (_pictureId + 1) & 0x7FFF;
        var first = new Vp8PayloadDescriptor { StartOfPartition = true, PictureId = pictureId, LongPictureId = true };
        var rest = first with { StartOfPartition = false };
        var room = MaxPayloadSize - first.SerializedLength;

        // Equal-sized packets rather than full ones and a runt: the same count, and no tiny last packet.
        var count = Math.Max(1, (frame.Length + room - 1) / room);
        var offset = 0;
        for (var i = 0; i < count; i++)
        {
            var chunk = frame.Length / count + (i < frame.Length % count ? 1 : 0);
            var descriptor = i == 0 ? first : rest;
            var headerLength = descriptor.SerializedLength;
            var payload = new byte[headerLength + chunk];
            descriptor.WriteTo(payload);
            frame.Slice(offset, chunk).CopyTo(payload.AsSpan(headerLength));
            payloads.Add(payload);
            offset += chunk;
        }

        return payloads;
    }
}

/// <summary>Joins the payloads of one frame back into the VP8 frame (RFC 7741 §4.5).</summary>
public static class Vp8Depacketizer
{
    /// <summary>True when the payload begins a frame (S=1, PID=0). Malformed payloads are not frame starts.</summary>
    public static bool IsFrameStart(ReadOnlySpan<byte> payload)
    {
        var d = Vp8PayloadDescriptor.Parse(payload);
        return d.Ok && d.Value.StartsFrame;
    }

    /// <summary>True when the payload begins a keyframe, read from the VP8 payload header behind the descriptor.</summary>
    public static bool IsKeyFrameStart(ReadOnlySpan<byte> payload)
    {
        var d = Vp8PayloadDescriptor.Parse(payload);
        return d.Ok && d.Value.StartsFrame && Vp8FrameInfo.Read(payload[d.Value.Length..]) is { IsKeyFrame: true };
    }

    /// <summary>
    /// Concatenates the VP8 data of a complete frame's payloads (in sequence order). Fails when a descriptor is bad,
    /// the first payload does not start partition 0, or the frame is empty.
    /// </summary>
    public static ParseResult<byte[]> Assemble(IReadOnlyList<ReadOnlyMemory<byte>> payloads)
    {
        if (payloads.Count == 0)
        {
            return ParseResult<byte[]>.Fail("no payloads");
        }

        var total = 0;
        var offsets = new int[payloads.Count];
        for (var i = 0; i < payloads.Count; i++)
        {
            var d = Vp8PayloadDescriptor.Parse(payloads[i].Span);
            if (!d.Ok)
            {
                return ParseResult<byte[]>.Fail(d.Error);
            }

            if (i == 0 && !d.Value.StartsFrame)
            {
                return ParseResult<byte[]>.Fail("first payload of the frame does not start partition 0");
            }

            offsets[i] = d.Value.Length;
            total += payloads[i].Length - d.Value.Length;
        }

        if (total == 0)
        {
            return ParseResult<byte[]>.Fail("frame carries no VP8 data");
        }

        var frame = new byte[total];
        var at = 0;
        for (var i = 0; i < payloads.Count; i++)
        {
            var data = payloads[i].Span[offsets[i]..];
            data.CopyTo(frame.AsSpan(at));
            at += data.Length;
        }

        return ParseResult<byte[]>.Success(frame);
    }
}
