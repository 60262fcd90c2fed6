namespace Neuro.Abstractions;

/// <summary>What went wrong with a request, in terms every face of the API maps the same way
/// (gRPC status code, HTTP status, problem-details type).</summary>
public enum NeuroErrorKind
{
    InvalidArgument = 0,
    NotFound = 1,
    Conflict = 2,
    Unavailable = 3,
    ResourceExhausted = 4,
}

/// <summary>A request the system refused on purpose. Thrown by grains, carried across silos by Orleans,
/// and mapped to a 4xx (never a 500) by the front door. <see cref="Field"/> names the offending input.</summary>
[GenerateSerializer, Alias("neuro.request-exception")]
public sealed class NeuroRequestException : Exception
{
    public NeuroRequestException() { }

    public NeuroRequestException(NeuroErrorKind kind, string? field, string message) : base(message)
    {
        Kind = kind;
        Field = field;
    }

    [Id(0)] public NeuroErrorKind Kind { get; init; }

    [Id(1)] public string? Field { get; init; }

    /// <summary>For <see cref="NeuroErrorKind.ResourceExhausted"/>: when the caller may try again.</summary>
    [Id(2)] public int? RetryAfterSeconds { get; init; }

    public static NeuroRequestException Invalid(string field, string message) => new(NeuroErrorKind.InvalidArgument, field, message);

    public static NeuroRequestException NotFound(string field, string message) => new(NeuroErrorKind.NotFound, field, message);
}
