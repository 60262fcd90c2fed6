namespace Neuro.Inference.Generation;

/// <summary>Greedy / temperature / top-k / top-p sampling over one row of logits, driven by a seeded <see cref="Random"/>.</summary>
public sealed class Sampler(GenerationOptions options)
{
    private readonly Random _rng = new(options.Seed);
    private int[] _idx = [];
    private float[] _p = [];

    public int Sample(ReadOnlySpan<float> logits)
    {
        if (options.Temperature <= 0f || options.TopK == 1) return ArgMax(logits);
        int v = logits.Length;
        if (_idx.Length < v) { _idx = new int[v]; _p = new float[v]; }
        int n;
        var idx = _idx;
        if (options.TopK > 0 && options.TopK < v)
        {
            n = TopKIndices(logits, options.TopK, idx);
        }
        else
        {
            n = v;
            for (int i = 0; i < v; i++) idx[i] = i;
        }
        // sort candidates by logit, descending (ties by id) so top-p and the draw are deterministic
        var keys = new float[n];
        for (int i = 0; i < n; i++) keys[i] = -logits[idx[i]];
        Array.Sort(keys, idx, 0, n);
        float max = logits[idx[0]], invT = 1f / options.Temperature;
        double sum = 0;
        for (int i = 0; i < n; i++) { var e = MathF.Exp((logits[idx[i]] - max) * invT); _p[i] = e; sum += e; }
        if (options.TopP < 1f)
        {
            double cum = 0;
            int keep = n;
            for (int i = 0; i < n; i++) { cum += _p[i] / sum; if (cum >= options.TopP) { keep = i + 1; break; } }
            n = keep;
            sum = 0;
            for (int i = 0; i < n; i++) sum += _p[i];
        }
        double r = _rng.NextDouble() * sum, acc = 0;
        for (int i = 0; i < n; i++) { acc += _p[i]; if (r < acc) return idx[i]; }
        return idx[n - 1];
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        float bv = logits[0];
        for (int i = 1; i < logits.Length; i++) if (logits[i] > bv) { bv = logits[i]; best = i; }
        return best;
    }

    private static int TopKIndices(ReadOnlySpan<float> logits, int k, int[] idx)
    {
        // min-heap of size k over (logit, id)
        var heap = new (float V, int I)[k];
        int size = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            var item = (logits[i], i);
            if (size < k) { heap[size++] = item; SiftUp(heap, size - 1); }
            else if (Less(heap[0], item)) { heap[0] = item; SiftDown(heap, size); }
        }
        for (int i = 0; i < size; i++) idx[i] = heap[i].I;
        return size;
    }

    // "less" = lower logit, or same logit and higher id (so lower ids win ties)
    private static bool Less((float V, int I) a, (float V, int I) b) => a.V < b.V || (a.V == b.V && a.I > b.I);

    private static void SiftUp((float V, int I)[] h, int i)
    {
        while (i > 0) { int p = (i - 1) / 2; if (!Less(h[i], h[p])) break; (h[i], h[p]) = (h[p], h[i]); i = p; }
    }

    private static void SiftDown((float V, int I)[] h, int n)
    {
        int i = 0;
        while (true)
        {
            int l = 2 * i + 1, r = l + 1, m = i;
            if (l < n && Less(h[l], h[m])) m = l;
            if (r < n && Less(h[r], h[m])) m = r;
            if (m == i) return;
            (h[i], h[m]) = (h[m], h[i]);
            i = m;
        }
    }
}
