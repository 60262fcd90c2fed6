using Neuro.Abstractions;
using Neuro.Core;
using Neuro.Core.Telemetry;

namespace Neuro.Grains;

internal static class Errors
{
    /// <summary>Turns a refusal from the pure rules into the exception every API face maps to a 4xx.</summary>
    public static void ThrowIf(RequestError? error)
    {
        if (error is null)
        {
            return;
        }
        var kind = error.Conflict ? NeuroErrorKind.Conflict : NeuroErrorKind.InvalidArgument;
        NeuroMeters.RequestsRefused.Add(1, new KeyValuePair<string, object?>("kind", kind.ToString()));
        throw new NeuroRequestException(kind, error.Field, error.Message);
    }
}
