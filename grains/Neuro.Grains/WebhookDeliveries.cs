using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Neuro.Abstractions;
using Neuro.Core.Telemetry;
using Neuro.Webhooks;

namespace Neuro.Grains;

/// <summary>
/// The silo's webhook delivery loop. A task grain that reaches a terminal state with a callback_url schedules itself
/// here; the loop asks the grain for the payload, posts it (retries and the address re-check live in
/// <see cref="WebhookSender"/>), and reports the outcome back to the grain, which persists it. HTTP waits never hold a
/// grain turn. A silo lost mid-delivery loses nothing: the grain's reminder schedules it again on the next silo.
/// </summary>
public sealed partial class WebhookDeliveries(IGrainFactory grains, Webhooks.Webhooks webhooks, ILogger<WebhookDeliveries> log) : BackgroundService
{
    private readonly Channel<string> _queue = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, byte> _scheduled = new(StringComparer.Ordinal);

    public void Schedule(string taskId)
    {
        if (_scheduled.TryAdd(taskId, 0))
        {
            _queue.Writer.TryWrite(taskId);
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, Math.Max(1, webhooks.Options.Concurrency)).Select(_ => RunAsync(stoppingToken)));

    private async Task RunAsync(CancellationToken stop)
    {
        try
        {
            await foreach (var taskId in _queue.Reader.ReadAllAsync(stop))
            {
                try
                {
                    await DeliverAsync(taskId, stop);
                }
                catch (Exception e) when (!stop.IsCancellationRequested)
                {
                    LogDeliveryError(taskId, e); // the grain's reminder schedules it again
                }
                finally
                {
                    _scheduled.TryRemove(taskId, out _);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private async Task DeliverAsync(string taskId, CancellationToken stop)
    {
        var task = grains.GetGrain<IAgentTaskGrain>(taskId);
        if (webhooks.Sender is not { } sender || await task.GetWebhookJobAsync() is not { } job)
        {
            return;
        }
        var result = await sender.SendAsync(new WebhookMessage(job.Url, job.Event, taskId, job.Body), stop);
        NeuroMeters.WebhookDeliveries.Add(1, new KeyValuePair<string, object?>("result", result.Delivered ? "delivered" : "failed"));
        NeuroMeters.WebhookAttempts.Add(result.Attempts);
        await task.RecordWebhookAsync(result.Delivered, result.Attempts, result.StatusCode, result.Error);
        LogDelivered(taskId, job.Event, result.Delivered, result.Attempts, result.StatusCode, result.Error);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "webhook {TaskId} {Event}: delivered={Delivered} attempts={Attempts} status={StatusCode} error={Error}")]
    private partial void LogDelivered(string taskId, string @event, bool delivered, int attempts, int? statusCode, string? error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "webhook {TaskId}: delivery interrupted; the task's reminder retries it")]
    private partial void LogDeliveryError(string taskId, Exception e);
}
