using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Neuro.Agents;

public sealed record ParsedAction(AgentAction? Action, string? Error)
{
    public bool Ok => Action is not null;
}

/// <summary>Reads what a GUI model wrote. Models answer in JSON or in Python-literal style (single quotes, None/True/False),
/// sometimes with several comma-separated dicts: the first one is the next action. Anything else is a parse error the
/// loop records as a step rather than a crash.</summary>
public static class ActionParser
{
    public static ParsedAction Parse(string? output, AgentMode mode)
    {
        if (string.IsNullOrWhiteSpace(output))
        {
            return new(null, "empty model output");
        }
        var text = output.Trim();
        if (TryFirstObject(text, out var root) || TryFirstObject(FromPythonLiteral(text), out root))
        {
            return FromJson(root, mode);
        }
        return new(null, $"not a JSON or Python dict: {Truncate(text)}");
    }

    private static ParsedAction FromJson(JsonElement o, AgentMode mode)
    {
        if (!o.TryGetProperty("action", out var actionEl) || !o.TryGetProperty("value", out var valueEl) || !o.TryGetProperty("position", out var positionEl))
        {
            return new(null, "the dict must have the keys action, value and position");
        }
        if (actionEl.ValueKind != JsonValueKind.String || actionEl.GetString() is not { Length: > 0 } rawKind)
        {
            return new(null, "action must be a string");
        }
        var kind = rawKind.Trim().ToUpperInvariant();
        if (kind != "DONE" && kind != "ANSWER" && !AgentAction.KindsFor(mode).Contains(kind))
        {
            return new(null, $"action '{kind}' is not in the {mode.ToString().ToLowerInvariant()} action space ({string.Join(", ", AgentAction.KindsFor(mode))})");
        }
        string? value = valueEl.ValueKind switch
        {
            JsonValueKind.String => valueEl.GetString(),
            JsonValueKind.Number => valueEl.GetRawText(),
            _ => null,
        };
        if (!TryPosition(positionEl, out var start, out var end, out var positionError))
        {
            return new(null, positionError);
        }
        var amount = o.TryGetProperty("amount", out var amountEl) && amountEl.TryGetInt32(out var a) && a > 0 ? a : 1;
        var needsPoint = kind is "CLICK" or "INPUT" or "SELECT" or "HOVER" or "TAP";
        var needsPair = kind is "SWIPE" or "SELECT_TEXT";
        if (needsPoint && start is null)
        {
            return new(null, $"{kind} needs a position [x, y]");
        }
        if (needsPair && end is null)
        {
            return new(null, $"{kind} needs a position [[x1, y1], [x2, y2]]");
        }
        if (kind == "INPUT" && value is null)
        {
            return new(null, "INPUT needs a value (the text to type)");
        }
        return new(new AgentAction(kind, value, start, end, amount), null);
    }

    private static bool TryPosition(JsonElement p, out ScreenPoint? start, out ScreenPoint? end, out string? error)
    {
        start = end = null;
        error = null;
        if (p.ValueKind == JsonValueKind.Null)
        {
            return true;
        }
        if (p.ValueKind == JsonValueKind.Array && p.GetArrayLength() == 2 && p[0].ValueKind == JsonValueKind.Number)
        {
            start = Point(p, ref error);
            return error is null;
        }
        if (p.ValueKind == JsonValueKind.Array && p.GetArrayLength() == 2 && p[0].ValueKind == JsonValueKind.Array)
        {
            start = Point(p[0], ref error);
            end = Point(p[1], ref error);
            return error is null;
        }
        error = "position must be null, [x, y] or [[x1, y1], [x2, y2]]";
        return false;
    }

    private static ScreenPoint? Point(JsonElement p, ref string? error)
    {
        if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() != 2 || !p[0].TryGetDouble(out var x) || !p[1].TryGetDouble(out var y))
        {
            error = "a point must be [x, y] with two numbers";
            return null;
        }
        if (x is < 0 or > 1 || y is < 0 or > 1 || double.IsNaN(x) || double.IsNaN(y))
        {
            error = $"position [{x.ToString(CultureInfo.InvariantCulture)}, {y.ToString(CultureInfo.InvariantCulture)}] must be fractions of the screen between 0 and 1";
            return null;
        }
        return new ScreenPoint(x, y);
    }

    /// <summary>The first dict in the text: a single object, an array or tuple of objects, or comma-separated objects.</summary>
    private static bool TryFirstObject(string text, out JsonElement root)
    {
        root = default;
        foreach (var candidate in new[] { text, $"[{text}]", text.StartsWith('(') && text.EndsWith(')') ? $"[{text[1..^1]}]" : null })
        {
            if (candidate is null)
            {
                continue;
            }
            try
            {
                using var doc = JsonDocument.Parse(candidate, new JsonDocumentOptions { AllowTrailingCommas = true });
                var el = doc.RootElement;
                if (el.ValueKind == JsonValueKind.Array && el.GetArrayLength() > 0)
                {
                    el = el[0];
                }
                if (el.ValueKind == JsonValueKind.Object)
                {
                    root = el.Clone();
                    return true;
                }
            }
            catch (JsonException)
            {
            }
        }
        return false;
    }

    /// <summary>Python literal → JSON: single-quoted strings become double-quoted (escaping inner quotes), and the bare
    /// words None/True/False become null/true/false. Strings' contents are left alone.</summary>
    private static string FromPythonLiteral(string text)
    {
        var sb = new StringBuilder(text.Length);
        char? quote = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quote is { } q)
            {
                if (c == '\\' && i + 1 < text.Length)
                {
                    var next = text[++i];
                    sb.Append(next == '\'' ? "'" : $"\\{next}");
                }
                else if (c == q)
                {
                    sb.Append('"');
                    quote = null;
                }
                else
                {
                    sb.Append(c == '"' ? "\\\"" : c.ToString());
                }
            }
            else if (c is '\'' or '"')
            {
                quote = c;
                sb.Append('"');
            }
            else if (Word(text, i, "None"))
            {
                sb.Append("null");
                i += 3;
            }
            else if (Word(text, i, "True"))
            {
                sb.Append("true");
                i += 3;
            }
            else if (Word(text, i, "False"))
            {
                sb.Append("false");
                i += 4;
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    private static bool Word(string text, int i, string word) =>
        string.CompareOrdinal(text, i, word, 0, word.Length) == 0
        && (i == 0 || !char.IsLetterOrDigit(text[i - 1]))
        && (i + word.Length == text.Length || !char.IsLetterOrDigit(text[i + word.Length]));

    private static string Truncate(string s) => s.Length <= 120 ? s : s[..120] + "…";
}
