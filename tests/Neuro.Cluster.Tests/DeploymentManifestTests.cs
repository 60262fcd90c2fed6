using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Neuro.Core.Sessions;
using Neuro.Silo;

namespace Neuro.Cluster.Tests;

/// <summary>The Kubernetes manifests configure the silo through Neuro__* environment variables; every one of them must bind
/// to a real option, with a value the option accepts, or a typo would silently fall back to a default in production.</summary>
public sealed class DeploymentManifestTests
{
    private static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Neuro.Orleans.sln")))
            {
                return Path.Combine(dir.FullName, relative);
            }
        }
        throw new DirectoryNotFoundException("repository root not found");
    }

    [Fact]
    public void Silo_manifest_settings_bind_to_real_options()
    {
        var yaml = File.ReadAllText(RepoFile("k8s/silo.yaml"));
        var settings = Regex.Matches(yaml, @"- name: (Neuro__\S+)\s+value: (\S+)")
            .ToDictionary(m => m.Groups[1].Value.Replace("__", ":"), m => (string?)m.Groups[2].Value.Trim('"'));
        Assert.Contains("Neuro:Cluster", settings.Keys);
        var config = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        var sessions = config.GetSection(SessionLimits.Section);
        var silo = config.GetSection(NeuroSiloOptions.Section);
        var options = new NeuroSiloOptions();
        foreach (var child in silo.GetChildren().Where(c => c.Key != "Sessions"))
        {
            Assert.NotNull(typeof(NeuroSiloOptions).GetProperty(child.Key));
        }
        silo.Bind(options);
        options.Validate();
        Assert.True(options.IsRedis);
        var limits = new SessionLimits();
        sessions.Bind(limits, o => o.ErrorOnUnknownConfiguration = true);
        Assert.Equal(TimeSpan.FromMinutes(30), limits.IdleTtl);
    }

    [Fact]
    public void Silo_pods_carry_the_labels_orleans_kubernetes_hosting_reads()
    {
        var yaml = File.ReadAllText(RepoFile("k8s/silo.yaml"));
        Assert.Matches(@"orleans/serviceId: neuro", yaml);
        Assert.Matches(@"orleans/clusterId: neuro", yaml);
        foreach (var env in new[] { "POD_NAME", "POD_NAMESPACE", "POD_IP" })
        {
            Assert.Contains($"- name: {env}", yaml);
        }
    }
}
