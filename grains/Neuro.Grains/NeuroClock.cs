namespace Neuro.Grains;

/// <summary>The clock grains read for TTLs and timestamps. Kept apart from the TimeProvider that Orleans itself uses,
/// so tests can move session time forward without disturbing membership and call timeouts.</summary>
public sealed class NeuroClock(TimeProvider time)
{
    public TimeProvider Time { get; } = time;

    public DateTimeOffset Now => Time.GetUtcNow();
}
