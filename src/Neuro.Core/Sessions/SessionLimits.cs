namespace Neuro.Core.Sessions;

/// <summary>Bounds on what one session may hold. Bound from configuration section <c>Neuro:Sessions</c>.</summary>
public sealed class SessionLimits
{
    public const string Section = "Neuro:Sessions";

    /// <summary>How long a session may sit idle before its state is cleared.</summary>
    public TimeSpan IdleTtl { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Upper bound for a per-session idle TTL requested at open.</summary>
    public TimeSpan MaxIdleTtl { get; set; } = TimeSpan.FromDays(7);

    public int MaxContentChars { get; set; } = 32 * 1024;

    public int MaxTurns { get; set; } = 10_000;

    public int MaxTokensPerTurn { get; set; } = 1_000_000;

    public int MaxScratchEntries { get; set; } = 256;

    public int MaxScratchValueChars { get; set; } = 16 * 1024;

    public int MaxIdChars { get; set; } = 128;
}
