using System.Buffers.Binary;
using System.IO.Compression;

namespace Neuro.Neko;

/// <summary>
/// A baseline JPEG decoder (ITU T.81 sequential DCT, Huffman, 8-bit; grayscale or YCbCr with any sampling factors up to
/// 4; restart intervals), enough for Neko's <c>screen/shot.jpg</c>.
/// Progressive and arithmetic-coded files are refused. Total: malformed input gives false and a reason.
/// </summary>
public static class JpegDecoder
{
    /// <summary>Bounds memory for a hostile header: 4096 x 4096 is above any Neko screen (4K is 3840 x 2160).</summary>
    public const int MaxPixels = 4096 * 4096;

    private static readonly byte[] ZigZag =
    [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
    ];

    private static readonly float[] Cos = BuildCos();

    private static float[] BuildCos()
    {
        var c = new float[64];
        for (int x = 0; x < 8; x++)
            for (int u = 0; u < 8; u++)
                c[x * 8 + u] = (float)((u == 0 ? 1 / Math.Sqrt(2) : 1) * Math.Cos((2 * x + 1) * u * Math.PI / 16) / 2);
        return c;
    }

    private sealed class Huffman
    {
        // Canonical decoding tables (T.81 Annex F.2.2.3): per code length, the largest code and where its values start.
        public readonly int[] MaxCode = new int[18];
        public readonly int[] ValPtr = new int[17];
        public readonly int[] MinCode = new int[17];
        public byte[] Values = [];
    }

    private sealed class Component
    {
        public int Id, H, V, Tq, Td, Ta, Pred;
        public int BlocksWide, BlocksHigh;
        public byte[] Plane = [];
    }

    private sealed class Reader(byte[] data, int pos)
    {
        private int _bits, _count;
        public int Pos = pos;
        public bool HitMarker;
        private int _fake;

        /// <summary>The entropy-coded data ran out (a marker or the end) well before the image did: a truncated file.</summary>
        public bool Exhausted => _fake > 16;

        public int Bit()
        {
            if (_count == 0)
            {
                int b = 0;
                if (HitMarker || Pos >= data.Length) _fake++;
                else
                {
                    b = data[Pos++];
                    if (b == 0xFF)
                    {
                        int next = Pos < data.Length ? data[Pos] : 0;
                        if (next == 0x00) Pos++;
                        else { HitMarker = true; Pos--; b = 0; _fake++; } // a marker: feed zeros, the restart logic resyncs
                    }
                }
                _bits = b;
                _count = 8;
            }
            _count--;
            return (_bits >> _count) & 1;
        }

        public int Receive(int n)
        {
            int v = 0;
            for (int i = 0; i < n; i++) v = (v << 1) | Bit();
            return v;
        }

        public void Reset() { _count = 0; HitMarker = false; _fake = 0; }
    }

    public static bool TryDecode(byte[] jpeg, out int width, out int height, out byte[] rgb, out string? error)
    {
        width = height = 0;
        rgb = [];
        try
        {
            return Decode(jpeg, out width, out height, out rgb, out error);
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException or OverflowException)
        {
            // Belt and braces: every read is bounds-checked, but a truncated file must never escape as an exception.
            error = "malformed JPEG: " + e.GetType().Name;
            return false;
        }
    }

    private static bool Decode(byte[] d, out int width, out int height, out byte[] rgb, out string? error)
    {
        width = height = 0;
        rgb = [];
        if (d.Length < 4 || d[0] != 0xFF || d[1] != 0xD8) { error = "no SOI marker"; return false; }
        var quant = new int[4][];
        var dc = new Huffman?[4];
        var ac = new Huffman?[4];
        var comps = new List<Component>();
        int restart = 0, pos = 2;
        bool frame = false;
        while (true)
        {
            while (pos < d.Length && d[pos] != 0xFF) pos++;
            while (pos < d.Length && d[pos] == 0xFF) pos++;
            if (pos >= d.Length) { error = "no image data before the end"; return false; }
            int marker = d[pos++];
            if (marker == 0xD9) { error = "EOI before any scan"; return false; }
            if (marker is >= 0xD0 and <= 0xD7 or 0x01) continue;
            if (pos + 2 > d.Length) { error = "truncated segment"; return false; }
            int len = BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(pos));
            if (len < 2 || pos + len > d.Length) { error = $"segment 0x{marker:x2} length {len} runs past the end"; return false; }
            var seg = d.AsSpan(pos + 2, len - 2);
            int start = pos;
            pos += len;
            switch (marker)
            {
                case 0xDB:
                    for (int i = 0; i < seg.Length;)
                    {
                        int pq = seg[i] >> 4, tq = seg[i] & 15;
                        i++;
                        if (tq > 3 || pq > 1 || i + 64 * (pq + 1) > seg.Length) { error = "bad DQT"; return false; }
                        var table = new int[64];
                        for (int k = 0; k < 64; k++) table[ZigZag[k]] = pq == 0 ? seg[i + k] : BinaryPrimitives.ReadUInt16BigEndian(seg[(i + 2 * k)..]);
                        i += 64 * (pq + 1);
                        quant[tq] = table;
                    }
                    break;
                case 0xC4:
                    for (int i = 0; i < seg.Length;)
                    {
                        int tc = seg[i] >> 4, th = seg[i] & 15;
                        if (tc > 1 || th > 3 || i + 17 > seg.Length) { error = "bad DHT"; return false; }
                        var h = new Huffman();
                        int total = 0, code = 0;
                        for (int l = 1; l <= 16; l++)
                        {
                            int n = seg[i + l];
                            h.ValPtr[l] = total;
                            h.MinCode[l] = code;
                            code += n;
                            total += n;
                            h.MaxCode[l] = n > 0 ? code - 1 : -1;
                            if (code > (1 << l)) { error = "DHT code lengths overflow"; return false; }
                            code <<= 1;
                        }
                        h.MaxCode[17] = int.MaxValue;
                        if (i + 17 + total > seg.Length) { error = "DHT values run past the segment"; return false; }
                        h.Values = seg.Slice(i + 17, total).ToArray();
                        (tc == 0 ? dc : ac)[th] = h;
                        i += 17 + total;
                    }
                    break;
                case 0xDD:
                    if (seg.Length < 2) { error = "bad DRI"; return false; }
                    restart = BinaryPrimitives.ReadUInt16BigEndian(seg);
                    break;
                case 0xC0 or 0xC1:
                    if (seg.Length < 6 || seg[0] != 8) { error = "only 8-bit samples are supported"; return false; }
                    height = BinaryPrimitives.ReadUInt16BigEndian(seg[1..]);
                    width = BinaryPrimitives.ReadUInt16BigEndian(seg[3..]);
                    int nc = seg[5];
                    if (width == 0 || height == 0 || (long)width * height > MaxPixels) { error = $"unsupported size {width}x{height}"; return false; }
                    if (nc is not (1 or 3) || seg.Length < 6 + 3 * nc) { error = $"{nc} components (1 or 3 supported)"; return false; }
                    for (int c = 0; c < nc; c++)
                    {
                        var comp = new Component { Id = seg[6 + 3 * c], H = seg[7 + 3 * c] >> 4, V = seg[7 + 3 * c] & 15, Tq = seg[8 + 3 * c] };
                        if (comp.H is < 1 or > 4 || comp.V is < 1 or > 4 || comp.Tq > 3) { error = "bad component sampling"; return false; }
                        comps.Add(comp);
                    }
                    frame = true;
                    break;
                case >= 0xC2 and <= 0xCF when marker is not (0xC4 or 0xC8 or 0xCC):
                    error = $"SOF 0x{marker:x2} (progressive, lossless or arithmetic) is not supported";
                    return false;
                case 0xDA:
                    if (!frame) { error = "scan before frame header"; return false; }
                    if (seg.Length < 1 || seg[0] != comps.Count || seg.Length < 1 + 2 * comps.Count) { error = "only single interleaved scans are supported"; return false; }
                    for (int c = 0; c < comps.Count; c++)
                    {
                        int id = seg[1 + 2 * c];
                        var comp = comps.FirstOrDefault(x => x.Id == id);
                        if (comp is null) { error = "scan names an unknown component"; return false; }
                        comp.Td = seg[2 + 2 * c] >> 4;
                        comp.Ta = seg[2 + 2 * c] & 15;
                        if (comp.Td > 3 || comp.Ta > 3 || dc[comp.Td] is null || ac[comp.Ta] is null || quant[comp.Tq] is null)
                        {
                            error = "scan uses a missing table";
                            return false;
                        }
                    }
                    return DecodeScan(d, start + len, width, height, comps, quant, dc, ac, restart, out rgb, out error);
                default:
                    break; // APPn, COM and others carry nothing we need
            }
        }
    }

    private static bool DecodeScan(byte[] d, int pos, int width, int height, List<Component> comps, int[][] quant,
        Huffman?[] dcTables, Huffman?[] acTables, int restart, out byte[] rgb, out string? error)
    {
        rgb = [];
        int hmax = comps.Max(c => c.H), vmax = comps.Max(c => c.V);
        int mcusX = (width + 8 * hmax - 1) / (8 * hmax), mcusY = (height + 8 * vmax - 1) / (8 * vmax);
        foreach (var c in comps)
        {
            c.BlocksWide = mcusX * c.H;
            c.BlocksHigh = mcusY * c.V;
            c.Plane = new byte[c.BlocksWide * 8 * c.BlocksHigh * 8];
        }
        var reader = new Reader(d, pos);
        var coef = new float[64];
        var block = new float[64];
        int mcus = mcusX * mcusY;
        for (int m = 0; m < mcus; m++)
        {
            if (restart > 0 && m > 0 && m % restart == 0)
            {
                // Resync at the RSTn marker: skip to it and past it, reset predictors.
                reader.Reset();
                int p = reader.Pos;
                while (p + 1 < d.Length && !(d[p] == 0xFF && d[p + 1] is >= 0xD0 and <= 0xD7)) p++;
                reader.Pos = Math.Min(d.Length, p + 2);
                foreach (var c in comps) c.Pred = 0;
            }
            int mx = m % mcusX, my = m / mcusX;
            foreach (var c in comps)
            {
                for (int by = 0; by < c.V; by++)
                    for (int bx = 0; bx < c.H; bx++)
                    {
                        if (!DecodeBlock(reader, c, dcTables[c.Td]!, acTables[c.Ta]!, quant[c.Tq], coef, out error)) return false;
                        if (reader.Exhausted) { error = $"entropy-coded data ends at MCU {m} of {mcus}"; return false; }
                        Idct(coef, block);
                        int x0 = (mx * c.H + bx) * 8, y0 = (my * c.V + by) * 8, stride = c.BlocksWide * 8;
                        for (int y = 0; y < 8; y++)
                            for (int x = 0; x < 8; x++)
                                c.Plane[(y0 + y) * stride + x0 + x] = (byte)Math.Clamp((int)MathF.Round(block[y * 8 + x] + 128), 0, 255);
                    }
            }
        }
        rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int o = (y * width + x) * 3;
                if (comps.Count == 1)
                {
                    byte g = Sample(comps[0], x, y, hmax, vmax);
                    rgb[o] = rgb[o + 1] = rgb[o + 2] = g;
                    continue;
                }
                float Y = Sample(comps[0], x, y, hmax, vmax), cb = Sample(comps[1], x, y, hmax, vmax) - 128f, cr = Sample(comps[2], x, y, hmax, vmax) - 128f;
                rgb[o] = Clamp(Y + 1.402f * cr);
                rgb[o + 1] = Clamp(Y - 0.344136f * cb - 0.714136f * cr);
                rgb[o + 2] = Clamp(Y + 1.772f * cb);
            }
        error = null;
        return true;
    }

    private static byte Clamp(float v) => (byte)Math.Clamp((int)MathF.Round(v), 0, 255);

    // Nearest-neighbour upsampling of subsampled chroma: enough for a model's screenshot.
    private static byte Sample(Component c, int x, int y, int hmax, int vmax) =>
        c.Plane[(y * c.V / vmax) * c.BlocksWide * 8 + x * c.H / hmax];

    private static bool DecodeBlock(Reader r, Component c, Huffman dc, Huffman ac, int[] q, float[] coef, out string? error)
    {
        Array.Clear(coef);
        int t = DecodeHuffman(r, dc);
        if (t < 0 || t > 11) { error = "bad DC code"; return false; }
        int diff = t == 0 ? 0 : Extend(r.Receive(t), t);
        c.Pred += diff;
        coef[0] = c.Pred * q[0];
        for (int k = 1; k < 64;)
        {
            int rs = DecodeHuffman(r, ac);
            if (rs < 0) { error = "bad AC code"; return false; }
            int run = rs >> 4, size = rs & 15;
            if (size == 0)
            {
                if (run == 15) { k += 16; continue; }
                break; // end of block
            }
            k += run;
            if (k > 63) { error = "AC run past the block"; return false; }
            coef[ZigZag[k]] = Extend(r.Receive(size), size) * q[ZigZag[k]];
            k++;
        }
        error = null;
        return true;
    }

    private static int DecodeHuffman(Reader r, Huffman h)
    {
        int code = r.Bit();
        for (int l = 1; l <= 16; l++)
        {
            if (h.MaxCode[l] >= 0 && code <= h.MaxCode[l] && code >= h.MinCode[l])
            {
                int index = h.ValPtr[l] + code - h.MinCode[l];
                return index < h.Values.Length ? h.Values[index] : -1;
            }
            code = (code << 1) | r.Bit();
        }
        return -1;
    }

    private static int Extend(int v, int t) => v < (1 << (t - 1)) ? v - (1 << t) + 1 : v;

    private static void Idct(float[] coef, float[] output)
    {
        // Separable 8x8 inverse DCT: rows then columns, with the cosine table folded with the C(u) scale.
        Span<float> tmp = stackalloc float[64];
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
            {
                float s = 0;
                for (int u = 0; u < 8; u++) s += Cos[x * 8 + u] * coef[y * 8 + u];
                tmp[y * 8 + x] = s;
            }
        for (int x = 0; x < 8; x++)
            for (int y = 0; y < 8; y++)
            {
                float s = 0;
                for (int v = 0; v < 8; v++) s += Cos[y * 8 + v] * tmp[v * 8 + x];
                output[y * 8 + x] = s;
            }
    }
}
