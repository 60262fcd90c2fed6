namespace Neuro.Ocr;

/// <summary>Splits a recognised line into words with boxes. CTC says which characters there are and roughly where (one
/// output step is ~8 input columns, and a character fires at some step inside it, not at its edges), so the words'
/// edges are taken from the pixels: each boundary between two words is the widest ink-free gap between the last
/// character of one and the first of the next, and each word's box is trimmed to the ink inside it.</summary>
internal static class WordSplitter
{
    // A column is ink when one of its pixels differs this much in luminance from the line's background.
    private const int InkContrast = 60;
    private const float WordGapRatio = 0.22f;
    private const float SplitRatio = 1.4f;

    public static IReadOnlyList<OcrWord> Split(OcrImage image, PixelBox crop, CtcResult read)
    {
        var runs = new List<List<CtcChar>>();
        List<CtcChar>? current = null;
        foreach (var c in read.Chars)
        {
            if (c.Text == " ")
            {
                current = null;
                continue;
            }
            if (current is null)
            {
                current = [];
                runs.Add(current);
            }
            current.Add(c);
        }
        if (runs.Count == 0)
        {
            return [];
        }
        var left = (int)crop.Left;
        var right = (int)crop.Right;
        var ink = InkColumns(image, crop);
        float Center(CtcChar c) => crop.Left + ((c.FirstStep + c.LastStep) / 2f + 0.5f) * read.StepWidth;

        // The recogniser often drops the space between Latin words (its training text is mostly Chinese), so runs are
        // also split at wide ink gaps between neighbouring characters. How wide depends on the font (a monospace font
        // leaves gaps inside words that a proportional one leaves only between them), so the line calibrates itself:
        // where the model did read a space, a gap of 0.6 of the narrowest such word gap is one too; where it read none,
        // the gaps must fall into two groups (the smallest wide gap 1.4 times the largest narrow one). Either way a word
        // gap is at least 0.22 line heights, about two thirds of a space in a proportional font.
        var floor = MathF.Max(3, WordGapRatio * crop.Height);
        int Gap(CtcChar a, CtcChar b)
        {
            var from = Math.Clamp((int)Center(a), left, right);
            var to = Math.Clamp((int)MathF.Ceiling(Center(b)), from, right);
            return WidestGap(ink, left, from, to);
        }
        var known = new List<int>();
        for (var k = 0; k + 1 < runs.Count; k++)
        {
            known.Add(Gap(runs[k][^1], runs[k + 1][0]));
        }
        var inner = runs.SelectMany(r => r.Zip(r.Skip(1), Gap)).Order().ToList();
        var threshold = float.PositiveInfinity;
        if (known.Count > 0)
        {
            threshold = MathF.Max(floor, 0.6f * known.Min());
        }
        else
        {
            var bestRatio = SplitRatio;
            for (var i = 0; i + 1 < inner.Count; i++)
            {
                var ratio = inner[i + 1] / MathF.Max(1, inner[i]);
                if (inner[i + 1] >= floor && ratio >= bestRatio)
                {
                    (bestRatio, threshold) = (ratio, inner[i + 1]);
                }
            }
        }
        for (var k = 0; k < runs.Count; k++)
        {
            var run = runs[k];
            for (var i = 0; i + 1 < run.Count; i++)
            {
                if (Gap(run[i], run[i + 1]) >= threshold)
                {
                    runs.Insert(k + 1, run.GetRange(i + 1, run.Count - i - 1));
                    run.RemoveRange(i + 1, run.Count - i - 1);
                    break;
                }
            }
        }

        // Boundaries between consecutive words: the middle of the widest gap between their facing characters' centres.
        var bounds = new int[runs.Count + 1];
        bounds[0] = left;
        bounds[^1] = right;
        for (var k = 0; k + 1 < runs.Count; k++)
        {
            var from = Math.Clamp((int)Center(runs[k][^1]), left, right);
            var to = Math.Clamp((int)MathF.Ceiling(Center(runs[k + 1][0])), from, right);
            bounds[k + 1] = WidestGapMiddle(ink, left, from, to);
        }
        var words = new List<OcrWord>(runs.Count);
        for (var k = 0; k < runs.Count; k++)
        {
            int a = bounds[k], b = bounds[k + 1];
            while (a < b && !ink[a - left]) a++;
            while (b > a && !ink[b - 1 - left]) b--;
            if (a >= b)
            {
                (a, b) = (bounds[k], bounds[k + 1]);
            }
            var chars = runs[k];
            words.Add(new OcrWord(string.Concat(chars.Select(c => c.Text)), new PixelBox(a, crop.Top, b, crop.Bottom), chars.Average(c => c.Probability)));
        }
        return words;
    }

    /// <summary>Which columns of the crop hold text: the background is the median luminance of the crop's border.</summary>
    internal static bool[] InkColumns(OcrImage image, PixelBox crop)
    {
        int x0 = (int)crop.Left, x1 = (int)crop.Right, y0 = (int)crop.Top, y1 = (int)crop.Bottom;
        var border = new List<int>();
        for (var x = x0; x < x1; x++)
        {
            border.Add(image.Luma(x, y0));
            border.Add(image.Luma(x, y1 - 1));
        }
        for (var y = y0; y < y1; y++)
        {
            border.Add(image.Luma(x0, y));
            border.Add(image.Luma(x1 - 1, y));
        }
        border.Sort();
        var background = border[border.Count / 2];
        var ink = new bool[x1 - x0];
        for (var x = x0; x < x1; x++)
        {
            for (var y = y0; y < y1; y++)
            {
                if (Math.Abs(image.Luma(x, y) - background) > InkContrast)
                {
                    ink[x - x0] = true;
                    break;
                }
            }
        }
        return ink;
    }

    private static int WidestGap(bool[] ink, int left, int from, int to)
    {
        int best = 0, run = 0;
        for (var x = from; x < to; x++)
        {
            run = ink[x - left] ? 0 : run + 1;
            best = Math.Max(best, run);
        }
        return best;
    }

    private static int WidestGapMiddle(bool[] ink, int left, int from, int to)
    {
        int bestStart = -1, bestLength = 0, runStart = -1;
        for (var x = from; x <= to; x++)
        {
            var blank = x < to && !ink[x - left];
            if (blank && runStart < 0) runStart = x;
            if (!blank && runStart >= 0)
            {
                if (x - runStart > bestLength)
                {
                    (bestStart, bestLength) = (runStart, x - runStart);
                }
                runStart = -1;
            }
        }
        return bestLength > 0 ? bestStart + bestLength / 2 : (from + to) / 2;
    }
}
