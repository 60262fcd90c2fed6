using System.Globalization;
using Google.Api;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Neuro.Abstractions;
using Neuro.FrontDoor.V1;

namespace Neuro.FrontDoor;

/// <summary>The task API: wire messages ↔ <see cref="IAgentTaskGrain"/>. Validation lives in the task grain and the
/// agent rules (one place for REST, gRPC and the SDK); this class only checks what exists on the wire alone.</summary>
internal sealed class TasksService(IGrainFactory grains) : Tasks.TasksBase
{
    [Microsoft.AspNetCore.Authorization.Authorize(Policy = NeuroRoles.CanSubmit)]
    public override async Task<AgentTask> CreateTask(CreateTaskRequest request, ServerCallContext context)
    {
        var id = string.IsNullOrEmpty(request.TaskId) ? $"task_{Guid.NewGuid():N}" : CheckId(request.TaskId);
        var spec = Spec(request.Task, request.Mode, request.HasMaxSteps ? request.MaxSteps : null, request.HasTimeout ? request.Timeout : null,
            request.Options, request.Actions, request.StartUrl, request.Pool, request.Priority, request.CallbackUrl, request.Policy)
            with { Tenant = NeuroRoles.TenantOf(context.GetHttpContext().User), SessionId = request.SessionId.Length == 0 ? null : request.SessionId };
        var view = await grains.GetGrain<IAgentTaskGrain>(id).SubmitAsync(spec);
        return ToMessage(Visible(view, context) ?? throw NeuroRequestException.Invalid("task_id", "is taken")); // another tenant's id
    }

    public override async Task<AgentTask> GetTask(TaskRef request, ServerCallContext context) =>
        ToMessage(await VisibleAsync(request.TaskId, context));

    [Microsoft.AspNetCore.Authorization.Authorize(Policy = NeuroRoles.CanSubmit)]
    public override async Task<AgentTask> UpdateTask(UpdateTaskRequest request, ServerCallContext context)
    {
        var current = await VisibleAsync(request.TaskId, context);
        var spec = Spec(request.Task, request.Mode, request.HasMaxSteps ? request.MaxSteps : null, request.HasTimeout ? request.Timeout : null,
            request.Options, request.Actions, request.StartUrl, current.Spec.Pool, request.Priority, request.CallbackUrl, request.Policy)
            with { Tenant = current.Spec.Tenant, SessionId = current.Spec.SessionId };
        return ToMessage(await Task(request.TaskId).UpdateAsync(spec));
    }

    [Microsoft.AspNetCore.Authorization.Authorize(Policy = NeuroRoles.CanSubmit)]
    public override async Task<AgentTask> CancelTask(TaskRef request, ServerCallContext context)
    {
        await VisibleAsync(request.TaskId, context);
        return ToMessage(await Task(request.TaskId).CancelAsync());
    }

    /// <summary>The task, if the caller may see it: another tenant's task answers exactly like a missing one.</summary>
    private async Task<AgentTaskView> VisibleAsync(string id, ServerCallContext context) =>
        Visible(await Task(id).GetAsync(), context) ?? throw NotFound(id);

    private static AgentTaskView? Visible(AgentTaskView? view, ServerCallContext context)
    {
        var user = context.GetHttpContext().User;
        return view is not null && (NeuroRoles.SeesAllTenants(user) || view.Spec.Tenant == NeuroRoles.TenantOf(user)) ? view : null;
    }

    public override async Task<ListTasksResponse> ListTasks(ListTasksRequest request, ServerCallContext context)
    {
        var page = await grains.GetGrain<ITaskIndexGrain>("default").QueryAsync(new TaskQuery(
            request.Status, request.Pool, request.CreatedAfter?.ToDateTimeOffset(), request.CreatedBefore?.ToDateTimeOffset(),
            request.PageSize, request.PageToken,
            NeuroRoles.SeesAllTenants(context.GetHttpContext().User) ? null : NeuroRoles.TenantOf(context.GetHttpContext().User)));
        var response = new ListTasksResponse { NextPageToken = page.NextPageToken ?? "" };
        // One page's tasks are read together, not one round trip after another.
        var views = await System.Threading.Tasks.Task.WhenAll(page.Entries.Select(e => Task(e.TaskId).GetAsync()));
        response.Tasks.AddRange(views.OfType<AgentTaskView>().Select(ToMessage));
        return response;
    }

    public override async Task<TaskSteps> GetTaskSteps(TaskRef request, ServerCallContext context)
    {
        await VisibleAsync(request.TaskId, context);
        var steps = await Task(request.TaskId).GetStepsAsync();
        var reply = new TaskSteps();
        reply.Steps.AddRange(steps.Select(s =>
        {
            var step = new TaskStep
            {
                Step = s.Number,
                Action = s.Action ?? "",
                Value = s.Value ?? "",
                ModelOutput = s.ModelOutput,
                Error = s.Error ?? "",
                PolicyMs = s.PolicyMs,
                ActionMs = s.ActionMs,
                HasScreenshot = s.HasScreenshot,
            };
            step.Position.AddRange(s.Position ?? []);
            return step;
        }));
        return reply;
    }

    public override async Task<HttpBody> GetStepScreenshot(StepRef request, ServerCallContext context)
    {
        await VisibleAsync(request.TaskId, context);
        var png = await Task(request.TaskId).GetScreenshotAsync(request.Step)
            ?? throw NeuroRequestException.NotFound("step", $"task '{request.TaskId}' has no saved screenshot for step {request.Step}");
        return new HttpBody { ContentType = "image/png", Data = ByteString.CopyFrom(png) };
    }

    private IAgentTaskGrain Task(string id) => grains.GetGrain<IAgentTaskGrain>(CheckId(id));

    private static string CheckId(string id) =>
        id.Length is > 0 and <= 128 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? id
            : throw NeuroRequestException.Invalid("task_id", "must be 1 to 128 ASCII letters, digits, '-', '_' or '.'");

    private static NeuroRequestException NotFound(string id) => NeuroRequestException.NotFound("task_id", $"task '{id}' does not exist");

    private static AgentTaskSpec Spec(string task, string mode, int? maxSteps, int? timeout, TaskOptions? options,
        IEnumerable<Struct> actions, string startUrl, string pool, int priority, string callbackUrl, string policy)
    {
        var (width, height) = Resolution(options?.ScreenResolution);
        var script = actions.Select(a => JsonFormatter.Default.Format(a)).ToArray();
        return new AgentTaskSpec(task, mode.Length == 0 ? "web" : mode, maxSteps ?? 20, timeout ?? 300, width, height,
            options?.SaveScreenshots ?? false, script.Length == 0 ? null : script, startUrl.Length == 0 ? null : startUrl,
            pool.Length == 0 ? "default" : pool, priority, CallbackUrl: callbackUrl.Length == 0 ? null : callbackUrl,
            Policy: policy.Length == 0 ? null : policy);
    }

    internal static (int, int) Resolution(string? text, string field = "options.screen_resolution")
    {
        if (string.IsNullOrEmpty(text))
        {
            return (1280, 800);
        }
        var parts = text.Split('x');
        return parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var w)
                                 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var h)
            ? (w, h)
            : throw NeuroRequestException.Invalid(field, "must look like 1280x800");
    }

    private static AgentTask ToMessage(AgentTaskView v)
    {
        var m = new AgentTask
        {
            TaskId = v.TaskId,
            Status = v.Status,
            CreatedAt = Timestamp.FromDateTimeOffset(v.CreatedAt),
            EstimatedCompletion = Timestamp.FromDateTimeOffset(v.EstimatedCompletion),
            Answer = v.Answer ?? "",
            Error = v.Error ?? "",
            Steps = v.Steps,
            Attempts = v.Attempts,
            Task = v.Spec.Task,
            Mode = v.Spec.Mode,
            MaxSteps = v.Spec.MaxSteps,
            Timeout = v.Spec.TimeoutSeconds,
            Pool = v.Spec.Pool,
            Policy = v.Spec.Policy ?? "", // resolved by the task grain when it stored the task
            Options = new TaskOptions { ScreenResolution = $"{v.Spec.Width}x{v.Spec.Height}", SaveScreenshots = v.Spec.SaveScreenshots },
        };
        if (v.Spec.SessionId is { } session)
        {
            m.SessionId = session;
        }
        if (v.Spec.CallbackUrl is { } callback)
        {
            m.CallbackUrl = callback;
        }
        if (v.Webhook is { } hook)
        {
            m.Webhook = new WebhookDelivery
            {
                Status = hook.Status, Attempts = hook.Attempts, LastStatusCode = hook.LastStatusCode ?? 0, LastError = hook.LastError ?? "",
                DeliveredAt = hook.DeliveredAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
            };
        }
        if (v.StartedAt is { } started)
        {
            m.StartedAt = Timestamp.FromDateTimeOffset(started);
        }
        if (v.FinishedAt is { } finished)
        {
            m.FinishedAt = Timestamp.FromDateTimeOffset(finished);
        }
        return m;
    }
}
