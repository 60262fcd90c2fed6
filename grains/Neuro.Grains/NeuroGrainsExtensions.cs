using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Neuro.Core.Sessions;
using Neuro.Webhooks;
using Orleans.Runtime.Placement;

namespace Neuro.Grains;

public static class NeuroGrainsExtensions
{
    /// <summary>Everything the Neuro grains need on a silo: options, the clock, and resource-owner placement.
    /// Storage named <see cref="NeuroStorage.Name"/> and a reminder service are the host's choice.</summary>
    public static ISiloBuilder AddNeuroGrains(this ISiloBuilder silo, IConfiguration? configuration = null)
    {
        var options = silo.Services.AddOptions<SessionLimits>();
        if (configuration is not null)
        {
            options.Bind(configuration.GetSection(SessionLimits.Section));
        }
        var quotas = silo.Services.AddOptions<Neuro.Core.Tasks.TaskQuotaOptions>();
        if (configuration is not null)
        {
            quotas.Bind(configuration.GetSection(Neuro.Core.Tasks.TaskQuotaOptions.Section));
        }
        silo.Services.TryAddSingleton(_ => new NeuroClock(TimeProvider.System));
        var modelSection = configuration?.GetSection("Neuro:Agents:Model");
        silo.Services.TryAddSingleton(new AgentModelSettings(modelSection?.Exists() == true ? modelSection.Get<Neuro.Agents.OpenAiPolicyOptions>() : null));
        var ocr = new Neuro.Ocr.OcrOptions();
        if (configuration?[$"{AgentOcr.Section}:ModelDirectory"] is { Length: > 0 } ocrModels)
        {
            ocr.ModelDirectory = ocrModels;
        }
        silo.Services.TryAddSingleton(new AgentOcr(ocr));
        var neko = configuration?.GetSection(NekoAgentSettings.Section).Get<NekoAgentSettings>();
        if (neko?.Url is { Length: > 0 })
        {
            silo.Services.TryAddSingleton<IAgentEnvironmentFactory>(new NekoEnvironmentFactory(neko)); // agents drive a remote Neko browser
        }
        silo.Services.TryAddSingleton<IAgentEnvironmentFactory>(_ => new ChromiumEnvironmentFactory(
            new Neuro.Agents.ChromiumOptions { Executable = configuration?["Neuro:Agents:Chromium"] ?? "/usr/bin/chromium" }));
        var inference = silo.Services.AddOptions<Neuro.Grains.Inference.InferenceSettings>();
        if (configuration is not null)
        {
            inference.Bind(configuration.GetSection(Neuro.Grains.Inference.InferenceSettings.Section));
        }
        silo.Services.TryAddSingleton<Neuro.Grains.Inference.InferenceHost>();
        var autoscaling = silo.Services.AddOptions<AutoscalingSettings>();
        if (configuration is not null)
        {
            autoscaling.Bind(configuration.GetSection(AutoscalingSettings.Section));
        }
        silo.Services.TryAddSingleton<Neuro.Autoscaling.Live.IReplicaActuator, Neuro.Autoscaling.Live.NoExternalActuator>();
        silo.Services.AddNeuroModelPools(configuration);
        silo.Services.AddNeuroWebhooks(configuration);
        silo.Services.TryAddSingleton<WebhookDeliveries>();
        silo.Services.AddHostedService(sp => sp.GetRequiredService<WebhookDeliveries>());
        silo.Services.AddPlacementDirector<ResourceOwnerPlacement, ResourceOwnerPlacementDirector>();
        return silo;
    }

    /// <summary>Model pools (<see cref="ModelPoolGrain"/>): their capacity and SLO settings from
    /// <c>Neuro:Autoscaling:Models</c>, checked when the silo starts so a bad value names its key there.</summary>
    public static IServiceCollection AddNeuroModelPools(this IServiceCollection services, IConfiguration? configuration = null)
    {
        var options = services.AddOptions<Neuro.Autoscaling.Live.ModelPoolOptions>();
        if (configuration is not null)
        {
            options.Bind(configuration.GetSection(Neuro.Autoscaling.Live.ModelPoolOptions.Section));
        }
        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IValidateOptions<Neuro.Autoscaling.Live.ModelPoolOptions>, ModelPoolOptionsValidator>());
        return services;
    }

    private static string? Problem(Neuro.Autoscaling.Live.ModelPoolOptions o) =>
        o.Validate() is { } bad ? $"{Neuro.Autoscaling.Live.ModelPoolOptions.Section}:{bad.Field} {bad.Message}"
        : o.PerModel.Keys.Select(m => (Model: m, Bad: o.For(m).Validate())).FirstOrDefault(x => x.Bad is not null) is { Bad: { } b } per
            ? $"{Neuro.Autoscaling.Live.ModelPoolOptions.Section}:PerModel:{per.Model}:{b.Field} {b.Message}" : null;

    private sealed class ModelPoolOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<Neuro.Autoscaling.Live.ModelPoolOptions>
    {
        public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, Neuro.Autoscaling.Live.ModelPoolOptions options) =>
            Problem(options) is { } problem ? Microsoft.Extensions.Options.ValidateOptionsResult.Fail(problem) : Microsoft.Extensions.Options.ValidateOptionsResult.Success;
    }
}
