using Neuro.Abstractions;
using Neuro.Agents;
using Neuro.Neko;
using Neuro.WebRtc;

namespace Neuro.Grains;

/// <summary>Bound from <c>Neuro:Agents:Neko</c>. With a <see cref="Url"/>, agent slots drive that Neko server instead of a
/// local Chromium.</summary>
public sealed class NekoAgentSettings
{
    public const string Section = "Neuro:Agents:Neko";

    public string? Url { get; set; }

    public string Username { get; set; } = "agent";

    public string Password { get; set; } = "";

    /// <summary><c>WebSocket</c> (control events, as the original agent) or <c>DataChannel</c> (binary input over WebRTC).</summary>
    public NekoInputPath InputPath { get; set; } = NekoInputPath.DataChannel;

    /// <summary>Offer only loopback ICE candidates (a Neko server on this host, as in tests).</summary>
    public bool LoopbackOnly { get; set; }
}

/// <summary>
/// Agents on a Neko server: each agent slot opens one Neko session (login, WebSocket signaling, WebRTC with the video
/// track decoded into frames and the data channel for input) and keeps it between tasks; the slot's grain closes it on
/// deactivation. Frames come from the decoded video, with the HTTP screenshot as fallback.
/// </summary>
public sealed class NekoEnvironmentFactory(NekoAgentSettings settings) : IAgentEnvironmentFactory
{
    public bool KeepsEnvironments => true;

    public async Task<IAgentEnvironment> CreateAsync(AgentTaskSpec spec, CancellationToken cancellationToken)
    {
        var client = new NekoClient(new NekoClientOptions
        {
            BaseUrl = new Uri(settings.Url ?? throw new InvalidOperationException($"{NekoAgentSettings.Section}:Url is not set")),
            Username = settings.Username,
            Password = settings.Password,
            Rtc = settings.LoopbackOnly ? new RtcConfiguration() : null,
        });
        try
        {
            await client.ConnectAsync(cancellationToken);
            var frames = new VideoFrameSource(new HttpScreenshotFrameSource(client));
            var video = new NekoVideo(client, frames);
            return new NekoSlot(new NekoEnvironment(client, frames, new NekoEnvironmentOptions { InputPath = settings.InputPath, OwnsClient = true }), video);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>The environment plus the video decoder that feeds it, closed together.</summary>
    private sealed class NekoSlot(NekoEnvironment inner, NekoVideo video) : IAgentEnvironment
    {
        public Task<(int Width, int Height)> GetScreenSizeAsync(CancellationToken cancellationToken) => inner.GetScreenSizeAsync(cancellationToken);

        public Task<byte[]> ScreenshotAsync(CancellationToken cancellationToken) => inner.ScreenshotAsync(cancellationToken);

        public Task ExecuteAsync(AgentAction action, CancellationToken cancellationToken) => inner.ExecuteAsync(action, cancellationToken);

        public async ValueTask DisposeAsync()
        {
            video.Dispose();
            await inner.DisposeAsync();
        }
    }
}
