using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Neuro.Cluster.Tests.Infrastructure;

/// <summary>The REST calls the task tests share: submit a task and poll it until it leaves queued/running.</summary>
internal static class TaskCalls
{
    public static async Task<JsonElement> SubmitAndWaitAsync(HttpClient http, string body, TimeSpan? within = null)
    {
        var created = await http.PostAsync("/api/v1/tasks", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("task_id").GetString()!;
        var clock = Stopwatch.StartNew();
        JsonElement task;
        do
        {
            await Task.Delay(50);
            task = JsonDocument.Parse(await http.GetStringAsync($"/api/v1/tasks/{id}")).RootElement;
        }
        while (task.GetProperty("status").GetString() is "queued" or "running" && clock.Elapsed < (within ?? TimeSpan.FromSeconds(60)));
        return task;
    }
}
