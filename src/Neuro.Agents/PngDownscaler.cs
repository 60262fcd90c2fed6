using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Neuro.Agents.Tests")]

namespace Neuro.Agents;

/// <summary>Shrinks a PNG so that width × height stays within a pixel budget (the way Qwen2-VL/ShowUI processors cap
/// <c>max_pixels</c>), keeping the aspect ratio. Only the BCL is used: zlib via <see cref="ZLibStream"/>, a box filter for
/// the resampling, and a small PNG writer. Handles what browsers and screen grabbers produce — 8-bit grey, grey+alpha,
/// RGB and RGBA, not interlaced; anything else (palette, 16-bit, Adam7) is returned unchanged and reported as such.</summary>
public static class PngDownscaler
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public sealed record Result(byte[] Png, int Width, int Height, bool Resized, string? Skipped);

    /// <summary>The PNG's size from its IHDR, or null when the bytes are not a PNG.</summary>
    public static (int Width, int Height)? ReadSize(ReadOnlySpan<byte> png)
    {
        if (png.Length < 24 || !png[..8].SequenceEqual(Signature) || !png.Slice(12, 4).SequenceEqual("IHDR"u8))
        {
            return null;
        }
        return (BinaryPrimitives.ReadInt32BigEndian(png.Slice(16, 4)), BinaryPrimitives.ReadInt32BigEndian(png.Slice(20, 4)));
    }

    /// <summary>The largest size with the same aspect ratio whose pixel count is at most <paramref name="maxPixels"/>.</summary>
    public static (int Width, int Height) FitWithin(int width, int height, long maxPixels)
    {
        if ((long)width * height <= maxPixels)
        {
            return (width, height);
        }
        var scale = Math.Sqrt((double)maxPixels / ((double)width * height));
        var w = Math.Max(1, (int)Math.Floor(width * scale));
        var h = Math.Max(1, (int)Math.Floor(height * scale));
        while ((long)w * h > maxPixels && (w > 1 || h > 1))
        {
            if (w >= h) { w--; } else { h--; }
        }
        return (w, h);
    }

    public static Result Downscale(byte[] png, long maxPixels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPixels, 1);
        if (ReadSize(png) is not { } size)
        {
            return new(png, 0, 0, false, "not a PNG");
        }
        if ((long)size.Width * size.Height <= maxPixels)
        {
            return new(png, size.Width, size.Height, false, null);
        }
        if (!TryDecode(png, out var image, out var why))
        {
            return new(png, size.Width, size.Height, false, why);
        }
        var (tw, th) = FitWithin(image.Width, image.Height, maxPixels);
        var resized = Resize(image, tw, th);
        return new(Encode(resized), tw, th, true, null);
    }

    /// <summary>The PNG's pixels as stored (8-bit, 1–4 channels interleaved), for readers of the screen such as OCR;
    /// <see cref="InvalidDataException"/> for what <see cref="Downscale"/> would skip.</summary>
    public static (int Width, int Height, int Channels, byte[] Pixels) Decode(byte[] png)
    {
        if (ReadSize(png) is null)
        {
            throw new InvalidDataException("not a PNG");
        }
        if (!TryDecode(png, out var image, out var why))
        {
            throw new InvalidDataException(why);
        }
        return (image.Width, image.Height, image.Channels, image.Pixels);
    }

    internal sealed record Image(int Width, int Height, int Channels, byte ColorType, byte[] Pixels);

    internal static bool TryDecode(byte[] png, out Image image, out string? why)
    {
        image = null!;
        why = null;
        var span = png.AsSpan();
        int width = 0, height = 0, channels = 0;
        byte colorType = 0;
        using var idat = new MemoryStream();
        var pos = 8;
        var sawHeader = false;
        while (pos + 8 <= span.Length)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(span.Slice(pos, 4));
            if (length < 0 || pos + 12 + (long)length > span.Length)
            {
                why = "truncated PNG chunk";
                return false;
            }
            var type = span.Slice(pos + 4, 4);
            var data = span.Slice(pos + 8, length);
            if (type.SequenceEqual("IHDR"u8))
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data[..4]);
                height = BinaryPrimitives.ReadInt32BigEndian(data.Slice(4, 4));
                var bitDepth = data[8];
                colorType = data[9];
                var interlace = data[12];
                channels = colorType switch { 0 => 1, 2 => 3, 4 => 2, 6 => 4, _ => 0 };
                if (bitDepth != 8 || channels == 0 || interlace != 0)
                {
                    why = $"unsupported PNG (bit depth {bitDepth}, colour type {colorType}, interlace {interlace})";
                    return false;
                }
                if (width <= 0 || height <= 0 || (long)width * height > 100_000_000)
                {
                    why = $"implausible PNG size {width}x{height}";
                    return false;
                }
                sawHeader = true;
            }
            else if (type.SequenceEqual("IDAT"u8))
            {
                idat.Write(data);
            }
            else if (type.SequenceEqual("IEND"u8))
            {
                break;
            }
            pos += 12 + length;
        }
        if (!sawHeader)
        {
            why = "PNG without IHDR";
            return false;
        }
        var stride = width * channels;
        var raw = new byte[(long)(stride + 1) * height];
        idat.Position = 0;
        try
        {
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            z.ReadExactly(raw);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            why = $"corrupt PNG data: {e.Message}";
            return false;
        }
        var pixels = new byte[(long)stride * height];
        for (var y = 0; y < height; y++)
        {
            var filter = raw[y * (stride + 1)];
            var src = raw.AsSpan(y * (stride + 1) + 1, stride);
            var cur = pixels.AsSpan(y * stride, stride);
            var prev = y > 0 ? pixels.AsSpan((y - 1) * stride, stride) : Span<byte>.Empty;
            for (var i = 0; i < stride; i++)
            {
                int a = i >= channels ? cur[i - channels] : 0;
                int b = y > 0 ? prev[i] : 0;
                int c = i >= channels && y > 0 ? prev[i - channels] : 0;
                int predictor = filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) >> 1,
                    4 => Paeth(a, b, c),
                    _ => -1,
                };
                if (predictor < 0)
                {
                    why = $"bad PNG filter type {filter}";
                    return false;
                }
                cur[i] = (byte)(src[i] + predictor);
            }
        }
        image = new Image(width, height, channels, colorType, pixels);
        return true;
    }

    private static int Paeth(int a, int b, int c)
    {
        var p = a + b - c;
        var pa = Math.Abs(p - a);
        var pb = Math.Abs(p - b);
        var pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>Area-average (box filter) resampling: each target pixel is the mean of the source pixels it covers.</summary>
    internal static Image Resize(Image src, int tw, int th)
    {
        var ch = src.Channels;
        var dst = new byte[(long)tw * th * ch];
        var sums = new long[ch];
        for (var ty = 0; ty < th; ty++)
        {
            var y0 = (int)((long)ty * src.Height / th);
            var y1 = Math.Max(y0 + 1, (int)((long)(ty + 1) * src.Height / th));
            for (var tx = 0; tx < tw; tx++)
            {
                var x0 = (int)((long)tx * src.Width / tw);
                var x1 = Math.Max(x0 + 1, (int)((long)(tx + 1) * src.Width / tw));
                Array.Clear(sums);
                for (var y = y0; y < y1; y++)
                {
                    var row = (long)y * src.Width * ch;
                    for (var x = x0; x < x1; x++)
                    {
                        var p = row + (long)x * ch;
                        for (var k = 0; k < ch; k++)
                        {
                            sums[k] += src.Pixels[p + k];
                        }
                    }
                }
                var n = (long)(y1 - y0) * (x1 - x0);
                var o = ((long)ty * tw + tx) * ch;
                for (var k = 0; k < ch; k++)
                {
                    dst[o + k] = (byte)((sums[k] + n / 2) / n);
                }
            }
        }
        return src with { Width = tw, Height = th, Pixels = dst };
    }

    /// <summary>PNG of 8-bit RGB pixels, row-major, no padding (e.g. a decoded video frame).</summary>
    public static byte[] EncodeRgb(int width, int height, byte[] rgb) => Encode(new Image(width, height, 3, 2, rgb));

    internal static byte[] Encode(Image image)
    {
        var stride = image.Width * image.Channels;
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            // Filter "Up" on every row after the first: cheap and compresses screenshots well.
            var line = new byte[stride + 1];
            for (var y = 0; y < image.Height; y++)
            {
                var cur = image.Pixels.AsSpan(y * stride, stride);
                if (y == 0)
                {
                    line[0] = 0;
                    cur.CopyTo(line.AsSpan(1));
                }
                else
                {
                    line[0] = 2;
                    var prev = image.Pixels.AsSpan((y - 1) * stride, stride);
                    for (var i = 0; i < stride; i++)
                    {
                        line[i + 1] = (byte)(cur[i] - prev[i]);
                    }
                }
                z.Write(line);
            }
        }
        using var png = new MemoryStream();
        png.Write(Signature);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), image.Height);
        header[8] = 8;
        header[9] = image.ColorType;
        WriteChunk(png, "IHDR"u8, header);
        WriteChunk(png, "IDAT"u8, compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        WriteChunk(png, "IEND"u8, []);
        return png.ToArray();
    }

    private static void WriteChunk(Stream s, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> four = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(four, data.Length);
        s.Write(four);
        s.Write(type);
        s.Write(data);
        var crc = Crc32.Update(Crc32.Update(0xFFFFFFFFu, type), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(four, crc);
        s.Write(four);
    }

    private static class Crc32
    {
        private static readonly uint[] Table = Build();

        private static uint[] Build()
        {
            var t = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                var c = n;
                for (var k = 0; k < 8; k++)
                {
                    c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                }
                t[n] = c;
            }
            return t;
        }

        public static uint Update(uint crc, ReadOnlySpan<byte> data)
        {
            foreach (var b in data)
            {
                crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            }
            return crc;
        }
    }
}
