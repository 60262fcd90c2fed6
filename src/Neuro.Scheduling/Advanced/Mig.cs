namespace Neuro.Scheduling;

public sealed class MigLayout
{
    public bool IsIdle => true;
    internal void Free(int slice) { }
}
