using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Neuro.Webhooks;

public static class WebhookExtensions
{
    /// <summary>Options from <c>Neuro:Webhooks</c>, the callback guard, and a sender when a signing secret is set
    /// (<see cref="Webhooks.IsConfigured"/> tells callers whether webhooks can be accepted at all).</summary>
    public static IServiceCollection AddNeuroWebhooks(this IServiceCollection services, IConfiguration? configuration = null)
    {
        var options = services.AddOptions<WebhookOptions>();
        if (configuration is not null)
        {
            options.Bind(configuration.GetSection(WebhookOptions.Section));
        }
        services.TryAddSingleton(sp => new CallbackUrlGuard(sp.GetRequiredService<IOptions<WebhookOptions>>().Value.AllowedNetworks));
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<WebhookOptions>>().Value;
            return new Webhooks(o, sp.GetRequiredService<CallbackUrlGuard>(), o.SigningSecret is { Length: > 0 } ? new WebhookSender(o, sp.GetRequiredService<CallbackUrlGuard>()) : null);
        });
        return services;
    }
}

/// <summary>What the rest of the system needs of webhooks: the submit-time check and, when configured, the sender.</summary>
public sealed class Webhooks(WebhookOptions options, CallbackUrlGuard guard, WebhookSender? sender)
{
    public WebhookOptions Options { get; } = options;

    public CallbackUrlGuard Guard { get; } = guard;

    public WebhookSender? Sender { get; } = sender;

    public bool IsConfigured => Sender is not null;

    /// <summary>Why a callback URL cannot be accepted on submit, or null.</summary>
    public async Task<string?> RefusalAsync(string url, CancellationToken cancellationToken = default)
    {
        if (!IsConfigured)
        {
            return "webhooks are not configured on this cluster (set Neuro:Webhooks:SigningSecret); poll GET /api/v1/tasks/{task_id} instead";
        }
        try
        {
            await Guard.CheckAsync(url, cancellationToken);
            return null;
        }
        catch (CallbackRefusedException e)
        {
            return e.Message;
        }
    }
}
