namespace Neuro.Neko;

/// <summary>X11 keysyms, which Neko's input events carry (the server maps unknown ones onto spare keycodes at run time).</summary>
public static class Keysyms
{
    public const uint BackSpace = 0xff08, Tab = 0xff09, Return = 0xff0d, Escape = 0xff1b, Delete = 0xffff;
    public const uint Home = 0xff50, Left = 0xff51, Up = 0xff52, Right = 0xff53, Down = 0xff54, PageUp = 0xff55, PageDown = 0xff56, End = 0xff57;
    public const uint ShiftL = 0xffe1, ControlL = 0xffe3, AltL = 0xffe9, SuperL = 0xffeb;
    public const uint F1 = 0xffbe;

    /// <summary>
    /// The keysym that types one Unicode scalar: Latin-1 printable characters are their own code point, control
    /// characters map to their function keys, everything else is 0x01000000 + code point (the X11 Unicode rule).
    /// Null for characters with no keystroke (other C0/C1 controls).
    /// </summary>
    public static uint? ForRune(System.Text.Rune rune) => rune.Value switch
    {
        '\n' or '\r' => Return,
        '\t' => Tab,
        '\b' => BackSpace,
        0x1b => Escape,
        0x7f => Delete,
        < 0x20 or (>= 0x80 and < 0xa0) => null,
        <= 0xff => (uint)rune.Value,
        _ => 0x01000000u + (uint)rune.Value,
    };

    /// <summary>Keysyms to press one after another for <paramref name="text"/>; "\r\n" is one Return.</summary>
    public static IReadOnlyList<uint> ForText(string text)
    {
        var keys = new List<uint>(text.Length);
        var normalized = text.Replace("\r\n", "\n", StringComparison.Ordinal);
        foreach (var rune in normalized.EnumerateRunes())
        {
            if (ForRune(rune) is { } k) keys.Add(k);
        }
        return keys;
    }

    /// <summary>Named keys the way models and scripts write them (case-insensitive), or a single character.</summary>
    public static uint? ForName(string name) => name.ToLowerInvariant() switch
    {
        "enter" or "return" => Return,
        "tab" => Tab,
        "backspace" => BackSpace,
        "escape" or "esc" => Escape,
        "delete" or "del" => Delete,
        "home" => Home, "end" => End, "pageup" => PageUp, "pagedown" => PageDown,
        "left" => Left, "up" => Up, "right" => Right, "down" => Down,
        "shift" => ShiftL, "control" or "ctrl" => ControlL, "alt" => AltL, "super" or "meta" => SuperL,
        var s when s.Length >= 2 && s[0] == 'f' && int.TryParse(s.AsSpan(1), out int f) && f is >= 1 and <= 12 => F1 + (uint)(f - 1),
        _ => name.EnumerateRunes().Count() == 1 ? ForRune(name.EnumerateRunes().First()) : null,
    };
}
