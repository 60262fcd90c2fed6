using Neuro.WebRtc.Sctp;

namespace Neuro.WebRtc.Tests.Sctp;

/// <summary>Two associations (or data channel endpoints) over one in-memory link, disposed together.</summary>
public sealed class SctpTestPeers : IAsyncDisposable
{
    /// <summary>Timers scaled down for a LAN-like in-memory link so lossy tests finish in seconds; the RFC defaults
    /// (RTO.Min 1 s) would only make them slower, not different.</summary>
    public static SctpOptions FastOptions(Action<SctpOptionsBuilder>? configure = null)
    {
        var b = new SctpOptionsBuilder();
        configure?.Invoke(b);
        return new SctpOptions
        {
            RtoInitial = TimeSpan.FromMilliseconds(200),
            RtoMin = TimeSpan.FromMilliseconds(50),
            RtoMax = TimeSpan.FromSeconds(2),
            DelayedAckTime = TimeSpan.FromMilliseconds(20),
            TimerTick = TimeSpan.FromMilliseconds(5),
            MaxRetransmissions = b.MaxRetransmissions,
            ReceiveBufferSize = b.ReceiveBufferSize,
            SendBufferSize = b.SendBufferSize,
            MaxMessageSize = b.MaxMessageSize,
            MaxReceiveMessageSize = Math.Min(b.MaxReceiveMessageSize, b.ReceiveBufferSize),
        };
    }

    public sealed class SctpOptionsBuilder
    {
        public int MaxRetransmissions { get; set; } = 20;
        public int ReceiveBufferSize { get; set; } = 1024 * 1024;
        public int SendBufferSize { get; set; } = 1024 * 1024;
        public int MaxMessageSize { get; set; } = 256 * 1024;
        public int MaxReceiveMessageSize { get; set; } = 256 * 1024;
    }

    public required InMemoryDatagramTransport LinkA { get; init; }
    public required InMemoryDatagramTransport LinkB { get; init; }
    public required SctpDataChannels A { get; init; }
    public required SctpDataChannels B { get; init; }

    /// <summary>A is the DTLS client (sends INIT, even stream ids), B the server; both established on return.</summary>
    public static async Task<SctpTestPeers> ConnectAsync(LinkProfile? aToB = null, LinkProfile? bToA = null,
        SctpOptions? optionsA = null, SctpOptions? optionsB = null, bool bothSendInit = false)
    {
        var (la, lb) = InMemoryDatagramTransport.CreatePair(aToB, bToA);
        var a = SctpDataChannels.Start(la, isDtlsClient: true, optionsA ?? FastOptions());
        var b = SctpDataChannels.Start(lb, isDtlsClient: false, optionsB ?? FastOptions(), bothSendInit ? SctpRole.Client : SctpRole.Server);
        var peers = new SctpTestPeers { LinkA = la, LinkB = lb, A = a, B = b };
        await Task.WhenAll(a.Association.ConnectAsync(), b.Association.ConnectAsync()).WaitAsync(TimeSpan.FromSeconds(20));
        return peers;
    }

    public async ValueTask DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
        await LinkA.DisposeAsync();
        await LinkB.DisposeAsync();
    }
}
