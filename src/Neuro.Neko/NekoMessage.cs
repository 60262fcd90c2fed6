using System.Text.Json;
using System.Text.Json.Nodes;

namespace Neuro.Neko;

/// <summary>One WebSocket message of Neko v3: a JSON text frame <c>{"event": name, "payload": {...}}</c>, payload optional.</summary>
public sealed record NekoMessage(string Event, JsonElement? Payload)
{
    /// <summary>Neko's own limit is 10 MB per message on the agent side; anything larger is a broken or hostile peer.</summary>
    public const int MaxLength = 10 * 1024 * 1024;

    private static readonly JsonDocumentOptions ParseOptions = new() { MaxDepth = 64 };

    /// <summary>Total parse: malformed input gives false and a reason, never an exception.</summary>
    public static bool TryParse(string? text, out NekoMessage? message, out string? error)
    {
        message = null;
        if (text is null || text.Length == 0) { error = "empty message"; return false; }
        if (text.Length > MaxLength) { error = $"message of {text.Length} chars exceeds {MaxLength}"; return false; }
        try
        {
            using var doc = JsonDocument.Parse(text, ParseOptions);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) { error = "not a JSON object"; return false; }
            if (!root.TryGetProperty("event", out var ev) || ev.ValueKind != JsonValueKind.String || ev.GetString() is not { Length: > 0 } name)
            {
                error = "no event name";
                return false;
            }
            JsonElement? payload = root.TryGetProperty("payload", out var p) && p.ValueKind != JsonValueKind.Null ? p.Clone() : null;
            message = new NekoMessage(name, payload);
            error = null;
            return true;
        }
        catch (JsonException e)
        {
            error = "invalid JSON: " + e.Message;
            return false;
        }
    }

    public static string Serialize(string name, object? payload = null)
    {
        var node = new JsonObject { ["event"] = name };
        if (payload is not null) node["payload"] = JsonSerializer.SerializeToNode(payload);
        return node.ToJsonString();
    }

    // Typed accessors that never throw: the payload is the peer's, so a wrong type counts as missing.
    public string? String(string name) =>
        Payload is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public bool? Bool(string name) =>
        Payload is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;

    public JsonElement? Object(string name) =>
        Payload is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? v : null;

    public static int? Int(JsonElement? element, string name) =>
        element is { ValueKind: JsonValueKind.Object } e && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : null;

    public static string? String(JsonElement? element, string name) =>
        element is { ValueKind: JsonValueKind.Object } e && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>A chat line as the server relays it: <c>{id: sender session, created, content: {text}}</c>.</summary>
public sealed record NekoChatMessage(string? SenderId, string Text, bool FromSelf);

/// <summary>Events the client understands, decoded from <see cref="NekoMessage"/>s; null for events it ignores.</summary>
internal static class NekoEvents
{
    /// <summary>Chat text: v3 puts it in <c>content.text</c>; older shapes and capture tools also use <c>text</c> / <c>message</c>.</summary>
    public static string? ChatText(NekoMessage m) =>
        NekoMessage.String(m.Object("content"), "text") ?? m.String("text") ?? m.String("message") ?? m.String("content");

    public static (int Width, int Height)? ScreenSize(JsonElement? size) =>
        NekoMessage.Int(size, "width") is int w and > 0 && NekoMessage.Int(size, "height") is int h and > 0 ? (w, h) : null;

    /// <summary><c>/task &lt;instruction&gt;</c>, case-insensitive, as the original agent's online mode reads chat.</summary>
    public static string? TaskInstruction(string text)
    {
        var t = text.Trim();
        if (!t.StartsWith("/task", StringComparison.OrdinalIgnoreCase)) return null;
        if (t.Length > 5 && !char.IsWhiteSpace(t[5])) return null; // "/tasks" is not the command
        var instruction = t[5..].Trim();
        return instruction.Length > 0 ? instruction : "";
    }
}
