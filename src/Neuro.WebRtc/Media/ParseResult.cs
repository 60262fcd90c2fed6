namespace Neuro.WebRtc.Media;

/// <summary>
/// The outcome of parsing untrusted bytes: a value or a reason. Parsers return this instead of throwing because the
/// bytes come off the network and a malformed packet is an everyday event, not an exceptional one.
/// </summary>
public readonly struct ParseResult<T> where T : class
{
    private ParseResult(T? value, string? error)
    {
        Value = value;
        Error = error;
    }

    public T? Value { get; }

    public string? Error { get; }

    [System.Diagnostics.CodeAnalysis.MemberNotNullWhen(true, nameof(Value))]
    [System.Diagnostics.CodeAnalysis.MemberNotNullWhen(false, nameof(Error))]
    public bool Ok => Value is not null;

    public static ParseResult<T> Success(T value) => new(value, null);

    public static ParseResult<T> Fail(string error) => new(null, error);

    public override string ToString() => Ok ? $"Ok({Value})" : $"Error({Error})";
}
