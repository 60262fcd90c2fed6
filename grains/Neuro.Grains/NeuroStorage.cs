namespace Neuro.Grains;

public static class NeuroStorage
{
    /// <summary>The grain storage provider every Neuro grain persists to (memory in the dev cluster, Redis otherwise).</summary>
    public const string Name = "neuro";
}
