namespace Neuro.Grains;

internal static class Persistence
{
    /// <summary>Write-before-ack with undo: if storage refuses the write, <paramref name="undo"/> puts memory back
    /// as storage has it, so no activation serves a change that was never stored.</summary>
    public static async Task WriteOrUndoAsync<T>(this IPersistentState<T> state, Action undo)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            undo();
            throw;
        }
    }
}
