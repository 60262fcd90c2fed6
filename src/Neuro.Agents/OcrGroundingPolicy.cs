using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Neuro.Agents;

/// <summary>A rectangle on the screenshot in pixels (right and bottom exclusive).</summary>
public readonly record struct ScreenRect(double Left, double Top, double Right, double Bottom)
{
    public double Width => Right - Left;
    public double Height => Bottom - Top;
    public double CenterX => (Left + Right) / 2;
    public double CenterY => (Top + Bottom) / 2;

    public ScreenRect Union(ScreenRect o) => new(Math.Min(Left, o.Left), Math.Min(Top, o.Top), Math.Max(Right, o.Right), Math.Max(Bottom, o.Bottom));
}

public sealed record ScreenWord(string Text, ScreenRect Box, double Confidence);

/// <summary>A line of text read off the screen, with its words (each with its own box).</summary>
public sealed record ScreenTextLine(string Text, ScreenRect Box, double Confidence, IReadOnlyList<ScreenWord> Words);

/// <summary>Reads the text on a screenshot (an OCR engine; Neuro.Ocr's PP-OCRv4 reader is the real one). A seam so the
/// agent runtime does not depend on ONNX Runtime.</summary>
public interface IScreenTextReader
{
    Task<IReadOnlyList<ScreenTextLine>> ReadAsync(byte[] screenshot, CancellationToken cancellationToken);
}

public sealed class OcrGroundingOptions
{
    /// <summary>Least similarity (1 − edit distance ÷ longer length, on normalised text) for a match.</summary>
    public double MinSimilarity { get; set; } = 0.8;

    /// <summary>Called with each step's reading: what was looked for, what matched where, or why nothing did.</summary>
    public Action<string>? Log { get; set; }
}

/// <summary>Grounds plain instructions in what OCR reads on the screen, with no vision-language model: the task is a list
/// of steps, one per line or separated by <c>;</c>:
/// <list type="bullet">
/// <item><c>click "Sign in"</c> → CLICK at the centre of the best match for the text</item>
/// <item><c>type "alice" into "Username"</c> → INPUT at the input field next to the label (see <see cref="FindField"/>)</item>
/// <item><c>press enter</c> → ENTER</item>
/// <item><c>read "Signed in as"</c> → ANSWER with the whole screen line that holds the best match (waits for a page to show it)</item>
/// <item><c>answer "done"</c> → ANSWER with the literal value</item>
/// </list>
/// Which step is next is the number of actions taken so far in <see cref="AgentContext.History"/>, so the policy keeps no
/// per-task state and one instance serves many tasks. A step whose text is not on the screen is answered with a short
/// reason that is not an action: the loop records it as a failed step and asks again on the next screenshot (a page may
/// still be loading), and fails the task after <see cref="AgentRun.MaxConsecutiveParseErrors"/> such steps in a row.</summary>
public sealed partial class OcrGroundingPolicy(IScreenTextReader reader, OcrGroundingOptions? options = null) : IAgentPolicy
{
    private readonly OcrGroundingOptions _options = options ?? new OcrGroundingOptions();

    public sealed record Instruction(string Verb, string? Text, string? Target);

    public async Task<string> NextAsync(AgentContext context, CancellationToken cancellationToken)
    {
        var steps = ParseTask(context.Task);
        var done = context.History.Count(s => s.Action is not null);
        if (done >= steps.Count)
        {
            return Json("ANSWER", "all steps done", null);
        }
        var step = steps[done];
        switch (step.Verb)
        {
            case "answer":
                return Json("ANSWER", step.Text, null);
            case "enter":
                return Json("ENTER", null, null);
        }
        var lines = await reader.ReadAsync(context.Screenshot, cancellationToken).ConfigureAwait(false);
        var lookFor = step.Verb == "type" ? step.Target! : step.Text!;
        var match = FindText(lines, lookFor, _options.MinSimilarity);
        if (match is null)
        {
            var best = FindText(lines, lookFor, 0);
            var why = best is null
                ? $"OCR: \"{Clip(lookFor)}\" not on screen (no text read)"
                : string.Create(CultureInfo.InvariantCulture, $"OCR: \"{Clip(lookFor)}\" not on screen (closest \"{Clip(best.Text)}\", {best.Similarity:F2})");
            _options.Log?.Invoke(why);
            return why;
        }
        _options.Log?.Invoke(string.Create(CultureInfo.InvariantCulture,
            $"OCR: \"{lookFor}\" matched \"{match.Text}\" ({match.Similarity:F2}) at [{match.Box.Left:F0},{match.Box.Top:F0},{match.Box.Right:F0},{match.Box.Bottom:F0}]"));
        switch (step.Verb)
        {
            case "click":
                return Json("CLICK", null, Fraction(match.Box.CenterX, match.Box.CenterY, context));
            case "read":
                return Json("ANSWER", match.Line.Text, null);
            default:
                if (FindField(context.Screenshot, match.Box, lines) is not { } field)
                {
                    var why = $"OCR: no input field right of or below \"{Clip(lookFor)}\"";
                    _options.Log?.Invoke(why);
                    return why;
                }
                return Json("INPUT", step.Text, Fraction(field.X, field.Y, context));
        }
    }

    private static string Clip(string s) => s.Length <= 30 ? s : s[..30] + "…";

    private static double[] Fraction(double x, double y, AgentContext context) =>
        [Math.Round(Math.Clamp(x / context.Width, 0, 1), 4), Math.Round(Math.Clamp(y / context.Height, 0, 1), 4)];

    private static string Json(string kind, string? value, double[]? position) =>
        JsonSerializer.Serialize(new { action = kind, value, position });

    [GeneratedRegex("""^\s*(?:(?<verb>click|tap)\s+["'“](?<text>.+?)["'”]|(?<verb>type|input)\s+["'“](?<text>.*?)["'”]\s+(?:into|in)\s+["'“](?<target>.+?)["'”]|(?<verb>read)\s+["'“](?<text>.+?)["'”]|(?<verb>answer)\s+["'“](?<text>.*?)["'”]|(?<verb>press)\s+enter)\s*\.?\s*$""",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex StepPattern();

    /// <summary>The task's steps; an unknown step is an <see cref="ArgumentException"/> naming it, before anything runs.</summary>
    public static IReadOnlyList<Instruction> ParseTask(string task)
    {
        var steps = new List<Instruction>();
        foreach (var raw in task.Split(['\n', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var m = StepPattern().Match(raw);
            if (!m.Success)
            {
                throw new ArgumentException(
                    $"step '{raw}' is not one of: click \"text\", type \"value\" into \"label\", press enter, read \"text\", answer \"text\"", nameof(task));
            }
            var verb = m.Groups["verb"].Value.ToLowerInvariant() switch
            {
                "tap" => "click",
                "input" => "type",
                "press" => "enter",
                var v => v,
            };
            steps.Add(new Instruction(verb, m.Groups["text"].Success ? m.Groups["text"].Value : null,
                m.Groups["target"].Success ? m.Groups["target"].Value : null));
        }
        return steps;
    }

    public sealed record TextMatch(string Text, ScreenRect Box, double Similarity, ScreenTextLine Line);

    /// <summary>The best run of consecutive words in one line for <paramref name="wanted"/>. Text is compared normalised:
    /// case folded, everything but letters and digits dropped (OCR's spacing and punctuation are the least
    /// reliable part), and 0/1/| read as o/l/l (the glyphs OCR mixes up most). Among equal scores: the same text exactly
    /// (case and punctuation included), then a run that is its whole line (a label rather than a word inside a sentence),
    /// then the earlier in reading order.</summary>
    public static TextMatch? FindText(IReadOnlyList<ScreenTextLine> lines, string wanted, double minSimilarity)
    {
        var target = Normalise(wanted);
        if (target.Length == 0)
        {
            return null;
        }
        TextMatch? best = null;
        (double Score, int Exact, int Whole) bestKey = (-1, 0, 0);
        foreach (var line in lines)
        {
            var words = line.Words.Count > 0 ? line.Words : [new ScreenWord(line.Text, line.Box, line.Confidence)];
            for (var i = 0; i < words.Count; i++)
            {
                var box = words[i].Box;
                var text = new StringBuilder();
                for (var j = i; j < words.Count; j++)
                {
                    if (j > i)
                    {
                        text.Append(' ');
                        box = box.Union(words[j].Box);
                    }
                    text.Append(words[j].Text);
                    var candidate = Normalise(text.ToString());
                    var score = Similarity(target, candidate);
                    var key = (score, string.Equals(text.ToString().Trim(), wanted.Trim(), StringComparison.Ordinal) ? 1 : 0, i == 0 && j == words.Count - 1 ? 1 : 0);
                    if (score >= minSimilarity && key.CompareTo(bestKey) > 0)
                    {
                        (best, bestKey) = (new TextMatch(text.ToString(), box, score, line), key);
                    }
                    if (candidate.Length > 2 * target.Length)
                    {
                        break;
                    }
                }
            }
        }
        return best;
    }

    public static string Normalise(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var ch in s)
        {
            var c = char.ToLowerInvariant(ch);
            c = c switch { '0' => 'o', '1' or '|' => 'l', _ => c };
            if (char.IsLetterOrDigit(c))
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    /// <summary>1 − Levenshtein distance ÷ the longer length.</summary>
    public static double Similarity(string a, string b)
    {
        if (a.Length == 0 && b.Length == 0) return 1;
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
            (previous, current) = (current, previous);
        }
        return 1 - (double)previous[b.Length] / Math.Max(a.Length, b.Length);
    }

    /// <summary>Where to click to type into the field a label names. OCR sees text, not empty boxes, so the field is found
    /// in the pixels: first to the right of the label on its centre row (within 25 label heights), else below it along a
    /// column just inside its left edge (within 4 label heights). A field's edge is the first pixel that differs from the
    /// background next to the label and continues, as a border does, at least 0.8 label heights across the scan (a glyph
    /// stroke is shorter); the click goes to the middle between that edge and the opposite one, or 12 px inside when the
    /// opposite edge is out of range. Text that OCR read there (another label) is not taken for a field.</summary>
    internal static (double X, double Y)? FindField(byte[] screenshot, ScreenRect label, IReadOnlyList<ScreenTextLine> lines)
    {
        if (!PngDownscaler.TryDecode(screenshot, out var image, out _))
        {
            return null;
        }
        var luma = Luma(image);
        int w = image.Width, h = image.Height;
        int Px(int x, int y) => luma[y * w + x];
        var lh = Math.Max(4, label.Height);
        var background = Px(Math.Clamp((int)label.Left - 2, 0, w - 1), Math.Clamp((int)label.CenterY, 0, h - 1));
        bool Ink(int x, int y) => x >= 0 && y >= 0 && x < w && y < h && Math.Abs(Px(x, y) - background) > 40;
        bool InText(double x, double y) => lines.Any(l => l.Box.Left <= x && x < l.Box.Right && l.Box.Top <= y && y < l.Box.Bottom);
        var need = (int)Math.Ceiling(0.8 * lh);

        // To the right: a vertical border crossing the label's centre row.
        var cy = (int)label.CenterY;
        for (var x = (int)label.Right + 1; x < Math.Min(w, label.Right + 25 * lh); x++)
        {
            if (!Ink(x, cy) || InText(x, cy))
            {
                continue;
            }
            var run = 1;
            for (var y = cy - 1; Ink(x, y); y--) run++;
            for (var y = cy + 1; Ink(x, y); y++) run++;
            if (run < need)
            {
                break; // something else (a glyph, an icon) sits there first
            }
            var far = x;
            while (far < w && Ink(far, cy)) far++;                         // the border's own width
            while (far < Math.Min(w, x + 40 * lh) && !Ink(far, cy)) far++; // the field's inside
            return far < Math.Min(w, x + 40 * lh) ? ((x + far) / 2.0, cy) : (x + 12, cy);
        }

        // Below: a horizontal border crossing a column just inside the label's left edge.
        var cx = (int)label.Left + 3;
        for (var y = (int)label.Bottom + 1; y < Math.Min(h, label.Bottom + 4 * lh); y++)
        {
            if (!Ink(cx, y) || InText(cx, y))
            {
                continue;
            }
            var run = 1;
            for (var x = cx - 1; Ink(x, y); x--) run++;
            for (var x = cx + 1; Ink(x, y); x++) run++;
            if (run < need)
            {
                break;
            }
            var far = y;
            while (far < h && Ink(cx, far)) far++;
            while (far < Math.Min(h, y + 6 * lh) && !Ink(cx, far)) far++;
            var centreX = cx + Math.Max(12, lh);
            return far < Math.Min(h, y + 6 * lh) ? (centreX, (y + far) / 2.0) : (centreX, y + 12);
        }
        return null;
    }

    private static byte[] Luma(PngDownscaler.Image image)
    {
        var n = image.Width * image.Height;
        var luma = new byte[n];
        var ch = image.Channels;
        for (var i = 0; i < n; i++)
        {
            var p = image.Pixels.AsSpan(i * ch, ch);
            luma[i] = ch >= 3 ? (byte)((p[0] * 299 + p[1] * 587 + p[2] * 114) / 1000) : p[0];
        }
        return luma;
    }
}
