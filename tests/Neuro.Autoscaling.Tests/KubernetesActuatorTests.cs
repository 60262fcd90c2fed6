using System.Collections.Concurrent;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Neuro.Autoscaling;
using Neuro.Kubernetes;
using Neuro.Testing;

namespace Neuro.Autoscaling.Tests;

/// <summary>The Kubernetes actuator against a fake API server (a stand-in: no Kubernetes API server runs here) that
/// records what it is sent and answers like the scale subresource does.</summary>
public sealed class KubernetesActuatorTests
{
    private sealed record Seen(string Method, string Path, string? ContentType, string Body);

    private static async Task<(LocalSite Site, ConcurrentQueue<Seen> Requests)> FakeApiServer()
    {
        var requests = new ConcurrentQueue<Seen>();
        var site = await LocalSite.StartAsync(app => app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            requests.Enqueue(new Seen(context.Request.Method, context.Request.Path, context.Request.ContentType, await reader.ReadToEndAsync()));
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"x"},"spec":{"replicas":1}}""");
        }));
        return (site, requests);
    }

    private static IKubernetes Client(LocalSite site) => new k8s.Kubernetes(new KubernetesClientConfiguration { Host = site.Url });

    [Fact]
    public async Task A_decision_patches_the_scale_subresource_with_desired_plus_warm_replicas()
    {
        var (site, requests) = await FakeApiServer();
        await using var _ = site;
        var actuator = new KubernetesReplicaActuator(Client(site), new Dictionary<string, ScaleTarget>
        {
            ["web-agents"] = new() { Kind = "Deployment", Name = "neuro-agents-web", Namespace = "neuro" },
            ["gpu-llm"] = new() { Kind = "StatefulSet", Name = "llm", Namespace = "inference" },
        });

        await actuator.ApplyAsync("web-agents", new ScalingDecision(4, "test", WarmPoolReplicas: 1));
        await actuator.ApplyAsync("gpu-llm", new ScalingDecision(0, "scale to zero"));
        await actuator.ApplyAsync("not-mapped", new ScalingDecision(9, "ignored"));

        var sent = requests.ToArray();
        Assert.Equal(2, sent.Length);
        Assert.Equal("PATCH", sent[0].Method);
        Assert.Equal("/apis/apps/v1/namespaces/neuro/deployments/neuro-agents-web/scale", sent[0].Path);
        Assert.StartsWith("application/merge-patch+json", sent[0].ContentType);
        Assert.Equal("""{"spec":{"replicas":5}}""", sent[0].Body);
        Assert.Equal("/apis/apps/v1/namespaces/inference/statefulsets/llm/scale", sent[1].Path);
        Assert.Equal("""{"spec":{"replicas":0}}""", sent[1].Body);
    }

    [Fact]
    public async Task An_unknown_kind_is_a_clear_error_and_sends_nothing()
    {
        var (site, requests) = await FakeApiServer();
        await using var _ = site;
        var actuator = new KubernetesReplicaActuator(Client(site), new Dictionary<string, ScaleTarget> { ["p"] = new() { Kind = "DaemonSet", Name = "x" } });
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => actuator.ApplyAsync("p", new ScalingDecision(1, "t")));
        Assert.Contains("Deployment or StatefulSet", e.Message);
        Assert.Empty(requests);
    }
}
