using System.Text;
using Neuro.Abstractions;

namespace Neuro.Grains;

public sealed class TaskIndexState
{
    public Dictionary<string, TaskIndexEntry> Entries { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Newest-first listing of tasks with filters and a continuation token ("created ticks|task id" of the last
/// entry served, so pages stay stable while new tasks arrive).</summary>
public sealed class TaskIndexGrain(
    [PersistentState("task-index", NeuroStorage.Name)] IPersistentState<TaskIndexState> state) : Grain, ITaskIndexGrain
{
    public const int MaxPageSize = 500;
    private static readonly string[] Statuses = ["queued", "running", "completed", "failed", "cancelled", "timed_out"];

    public async Task UpsertAsync(TaskIndexEntry entry)
    {
        var before = state.State.Entries.GetValueOrDefault(entry.TaskId);
        state.State.Entries[entry.TaskId] = entry;
        await state.WriteOrUndoAsync(() =>
        {
            if (before is null)
            {
                state.State.Entries.Remove(entry.TaskId);
            }
            else
            {
                state.State.Entries[entry.TaskId] = before;
            }
        });
    }

    public Task<TaskPage> QueryAsync(TaskQuery q)
    {
        if (q.Status is { Length: > 0 } s && !Statuses.Contains(s))
        {
            throw NeuroRequestException.Invalid("status", $"must be one of {string.Join(", ", Statuses)}");
        }
        if (q.PageSize is < 0 or > MaxPageSize)
        {
            throw NeuroRequestException.Invalid("page_size", $"must be between 1 and {MaxPageSize} (0 = 50)");
        }
        var after = q.PageToken is { Length: > 0 } token ? DecodeToken(token) : ((long, string)?)null;
        var size = q.PageSize == 0 ? 50 : q.PageSize;
        var matches = state.State.Entries.Values
            .Where(e => q.Status is not { Length: > 0 } || e.Status == q.Status)
            .Where(e => q.Pool is not { Length: > 0 } || e.Pool == q.Pool)
            .Where(e => q.Tenant is null || e.Tenant == q.Tenant)
            .Where(e => q.CreatedAfter is null || e.CreatedAt >= q.CreatedAfter)
            .Where(e => q.CreatedBefore is null || e.CreatedAt < q.CreatedBefore)
            .OrderByDescending(e => e.CreatedAt.UtcTicks).ThenBy(e => e.TaskId, StringComparer.Ordinal)
            .SkipWhile(e => after is { } a && Compare(e, a) <= 0)
            .Take(size + 1)
            .ToList();
        var page = matches.Take(size).ToArray();
        var next = matches.Count > size ? EncodeToken(page[^1]) : null;
        return Task.FromResult(new TaskPage(page, next));
    }

    // Position in newest-first order: negative when e comes before the token's entry.
    private static int Compare(TaskIndexEntry e, (long Ticks, string Id) token)
    {
        var byTime = token.Ticks.CompareTo(e.CreatedAt.UtcTicks);
        return byTime != 0 ? byTime : string.CompareOrdinal(e.TaskId, token.Id);
    }

    private static string EncodeToken(TaskIndexEntry e) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{e.CreatedAt.UtcTicks}|{e.TaskId}"));

    private static (long, string) DecodeToken(string token)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(token));
            var bar = text.IndexOf('|');
            if (bar > 0 && long.TryParse(text[..bar], out var ticks))
            {
                return (ticks, text[(bar + 1)..]);
            }
        }
        catch (FormatException)
        {
        }
        throw NeuroRequestException.Invalid("page_token", "is not a token this API issued");
    }
}
