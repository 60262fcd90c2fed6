namespace Neuro.WebRtc.Media.Vp8;

/// <summary>
/// The VP8 payload descriptor at the start of every VP8 RTP payload (RFC 7741 §4.2). Optional fields are null when
/// absent. <see cref="Length"/> is how many payload bytes the descriptor took; the VP8 data follows.
/// </summary>
public sealed record Vp8PayloadDescriptor
{
    /// <summary>N: the frame is not used as a reference, so losing it does not damage later frames.</summary>
    public bool NonReference { get; init; }

    /// <summary>S: this packet starts a VP8 partition.</summary>
    public bool StartOfPartition { get; init; }

    public int PartitionIndex { get; init; }

    /// <summary>7- or 15-bit picture id; <see cref="LongPictureId"/> says which form was (or will be) written.</summary>
    public int? PictureId { get; init; }

    public bool LongPictureId { get; init; }

    public byte? Tl0PicIdx { get; init; }

    /// <summary>TID, present when the T bit is set.</summary>
    public int? TemporalLayerIndex { get; init; }

    /// <summary>Y: layer sync bit, meaningful only with <see cref="TemporalLayerIndex"/>.</summary>
    public bool LayerSync { get; init; }

    /// <summary>KEYIDX, present when the K bit is set.</summary>
    public int? KeyIndex { get; init; }

    public int Length { get; init; }

    /// <summary>The first packet of a frame: the start of partition 0.</summary>
    public bool StartsFrame => StartOfPartition && PartitionIndex == 0;

    public static ParseResult<Vp8PayloadDescriptor> Parse(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 1)
        {
            return ParseResult<Vp8PayloadDescriptor>.Fail("empty VP8 payload");
        }

        var b0 = payload[0];
        var offset = 1;
        int? pictureId = null;
        var longPictureId = false;
        byte? tl0 = null;
        int? tid = null;
        var layerSync = false;
        int? keyIdx = null;
        if ((b0 & 0x80) != 0)
        {
            if (payload.Length < 2)
            {
                return ParseResult<Vp8PayloadDescriptor>.Fail("VP8 descriptor's extension byte is missing");
            }

            var x = payload[1];
            offset = 2;
            if ((x & 0x80) != 0)
            {
                if (offset >= payload.Length)
                {
                    return ParseResult<Vp8PayloadDescriptor>.Fail("VP8 descriptor's picture id is missing");
                }

                if ((payload[offset] & 0x80) != 0)
                {
                    if (offset + 2 > payload.Length)
                    {
                        return ParseResult<Vp8PayloadDescriptor>.Fail("VP8 descriptor's 15-bit picture id is truncated");
                    }

                    pictureId = ((payload[offset] & 0x7F) << 8) | payload[offset + 1];
                    longPictureId = true;
                    offset += 2;
                }
                else
                {
                    pictureId = payload[offset];
                    offset += 1;
                }
            }

            if ((x & 0x40) != 0)
            {
                if (offset >= payload.Length)
                {
                    return ParseResult<Vp8PayloadDescriptor>.Fail("VP8 descriptor's TL0PICIDX is missing");
                }

                tl0 = payload[offset++];
            }

            // T and K share one byte; either bit makes it present (RFC 7741 §4.2).
            if ((x & 0x30) != 0)
            {
                if (offset >= payload.Length)
                {
                    return ParseResult<Vp8PayloadDescriptor>.Fail("VP8 descriptor's TID/KEYIDX byte is missing");
                }

                var tk = payload[offset++];
                if ((x & 0x20) != 0)
                {
                    tid = tk >> 6;
                    layerSync = (tk & 0x20) != 0;
                }

                if ((x & 0x10) != 0)
                {
                    keyIdx = tk & 0x1F;
                }
            }
        }

        return ParseResult<Vp8PayloadDescriptor>.Success(new Vp8PayloadDescriptor
        {
            NonReference = (b0 & 0x20) != 0,
            StartOfPartition = (b0 & 0x10) != 0,
            PartitionIndex = b0 & 0x07,
            PictureId = pictureId,
            LongPictureId = longPictureId,
            Tl0PicIdx = tl0,
            TemporalLayerIndex = tid,
            LayerSync = layerSync,
            KeyIndex = keyIdx,
            Length = offset,
        });
    }

    /// <summary>Bytes <see cref="WriteTo"/> writes.</summary>
    public int SerializedLength
    {
        get
        {
            var n = 1;
            if (HasExtension)
            {
                n++;
                n += PictureId is null ? 0 : LongPictureId ? 2 : 1;
                n += Tl0PicIdx is null ? 0 : 1;
                n += TemporalLayerIndex is null && KeyIndex is null ? 0 : 1;
            }

            return n;
        }
    }

    private bool HasExtension => PictureId is not null || Tl0PicIdx is not null || TemporalLayerIndex is not null || KeyIndex is not null;

    public int WriteTo(Span<byte> d)
    {
        var n = SerializedLength;
        if (d.Length < n)
        {
            throw new ArgumentException($"VP8 descriptor needs {n} bytes", nameof(d));
        }

        d[0] = (byte)((HasExtension ? 0x80 : 0) | (NonReference ? 0x20 : 0) | (StartOfPartition ? 0x10 : 0) | (PartitionIndex & 0x07));
        if (!HasExtension)
        {
            return 1;
        }

        d[1] = (byte)((PictureId is null ? 0 : 0x80) | (Tl0PicIdx is null ? 0 : 0x40) | (TemporalLayerIndex is null ? 0 : 0x20) | (KeyIndex is null ? 0 : 0x10));
        var offset = 2;
        if (PictureId is { } pid)
        {
            if (LongPictureId)
            {
                d[offset++] = (byte)(0x80 | ((pid >> 8) & 0x7F));
                d[offset++] = (byte)pid;
            }
            else
            {
                d[offset++] = (byte)(pid & 0x7F);
            }
        }

        if (Tl0PicIdx is { } tl0)
        {
            d[offset++] = tl0;
        }

        if (TemporalLayerIndex is not null || KeyIndex is not null)
        {
            d[offset++] = (byte)(((TemporalLayerIndex ?? 0) << 6) | (LayerSync ? 0x20 : 0) | ((KeyIndex ?? 0) & 0x1F));
        }

        return offset;
    }
}

/// <summary>Facts read from the start of a VP8 frame (RFC 6386 §9.1; RFC 7741 §4.3 payload header).</summary>
public readonly record struct Vp8FrameInfo(bool IsKeyFrame, int Width, int Height)
{
    /// <summary>
    /// Reads the frame tag. The P bit (bit 0 of the first byte) is 0 for keyframes; a keyframe also carries the start
    /// code 9d 01 2a and its 14-bit dimensions, which we check so that garbage is not taken for a keyframe.
    /// </summary>
    public static Vp8FrameInfo? Read(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 3)
        {
            return null;
        }

        if ((frame[0] & 0x01) != 0)
        {
            return new Vp8FrameInfo(false, 0, 0);
        }

        if (frame.Length < 10 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a)
        {
            return null;
        }

        var width = (frame[6] | (frame[7] << 8)) & 0x3FFF;
        var height = (frame[8] | (frame[9] << 8)) & 0x3FFF;
        return new Vp8FrameInfo(true, width, height);
    }
}
