namespace Neuro.Core;

/// <summary>Why a request was refused: the input field at fault and a message a caller can act on.
/// <see cref="Conflict"/> marks refusals caused by current state rather than by the input's shape.</summary>
public sealed record RequestError(string Field, string Message, bool Conflict = false);
