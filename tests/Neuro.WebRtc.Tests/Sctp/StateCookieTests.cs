using Neuro.WebRtc.Sctp;

namespace Neuro.WebRtc.Tests.Sctp;

/// <summary>Speaks raw SCTP to a server association through the codec, to check what it accepts.</summary>
public sealed class StateCookieTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(400);

    [Fact]
    public async Task Forged_cookie_is_refused_and_the_genuine_one_is_accepted()
    {
        var (raw, serverLink) = InMemoryDatagramTransport.CreatePair();
        await using var server = SctpAssociation.Start(serverLink, SctpRole.Server, SctpTestPeers.FastOptions());
        const uint myTag = 0xA1B2C3D4;
        await raw.SendAsync(Packet(0, new SctpInitChunk
        {
            IsAck = false, InitiateTag = myTag, AdvertisedReceiverWindow = 100_000, OutboundStreams = 16, InboundStreams = 16,
            InitialTsn = 1000,
        }), default);
        var initAck = Parse(await raw.TryReceiveAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(myTag, initAck.VerificationTag);
        var ack = Assert.IsType<SctpInitChunk>(Assert.Single(initAck.Chunks));
        Assert.True(ack.IsAck);
        Assert.NotNull(ack.StateCookie);
        Assert.True(ack.ForwardTsnSupported);
        Assert.Contains((byte)SctpChunkType.Reconfig, ack.SupportedExtensions);
        // The server keeps no state for an INIT (stateless cookie).
        Assert.Equal(SctpState.Closed, server.State);

        // 1. Every single-bit flip of the cookie is refused: no COOKIE ACK, no association.
        var rng = new Random(3);
        for (int i = 0; i < 8; i++)
        {
            var forged = (byte[])ack.StateCookie!.Clone();
            int bit = rng.Next(forged.Length * 8);
            forged[bit / 8] ^= (byte)(1 << (bit % 8));
            await raw.SendAsync(Packet(ack.InitiateTag, new SctpCookieEchoChunk { Cookie = forged }), default);
        }
        // 2. A cookie made up from scratch with plausible fields (the attacker lacks the secret).
        var madeUp = new byte[ack.StateCookie!.Length];
        ack.StateCookie.AsSpan(0, 33).CopyTo(madeUp);
        await raw.SendAsync(Packet(ack.InitiateTag, new SctpCookieEchoChunk { Cookie = madeUp }), default);
        Assert.Null(await raw.TryReceiveAsync(Quiet));
        Assert.Equal(SctpState.Closed, server.State);

        // 3. The genuine cookie, but in a packet with another verification tag: refused as well.
        await raw.SendAsync(Packet(ack.InitiateTag ^ 1, new SctpCookieEchoChunk { Cookie = ack.StateCookie }), default);
        Assert.Null(await raw.TryReceiveAsync(Quiet));

        // 4. The genuine cookie is accepted: the same code path answers, so the refusals above were real.
        await raw.SendAsync(Packet(ack.InitiateTag, new SctpCookieEchoChunk { Cookie = ack.StateCookie }), default);
        var cookieAck = Parse(await raw.TryReceiveAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(myTag, cookieAck.VerificationTag);
        Assert.Equal(SctpChunkType.CookieAck, Assert.Single(cookieAck.Chunks).Type);
        await server.ConnectAsync().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(SctpState.Established, server.State);
        await raw.DisposeAsync();
    }

    [Fact]
    public async Task Stale_cookie_is_answered_with_a_stale_cookie_error()
    {
        var (raw, serverLink) = InMemoryDatagramTransport.CreatePair();
        var options = new SctpOptions { CookieLifetime = TimeSpan.FromMilliseconds(100), RtoMin = TimeSpan.FromMilliseconds(50) };
        await using var server = SctpAssociation.Start(serverLink, SctpRole.Server, options);
        await raw.SendAsync(Packet(0, new SctpInitChunk
        {
            IsAck = false, InitiateTag = 77, AdvertisedReceiverWindow = 100_000, OutboundStreams = 4, InboundStreams = 4, InitialTsn = 5,
        }), default);
        var ack = (SctpInitChunk)Parse(await raw.TryReceiveAsync(TimeSpan.FromSeconds(5))).Chunks[0];
        await Task.Delay(300);
        await raw.SendAsync(Packet(ack.InitiateTag, new SctpCookieEchoChunk { Cookie = ack.StateCookie! }), default);
        var reply = Parse(await raw.TryReceiveAsync(TimeSpan.FromSeconds(5)));
        var error = Assert.IsType<SctpErrorChunk>(Assert.Single(reply.Chunks));
        Assert.False(error.IsAbort);
        Assert.Equal(SctpErrorCauseCode.StaleCookie, Assert.Single(error.Causes).Code);
        Assert.Equal(SctpState.Closed, server.State);
        await raw.DisposeAsync();
    }

    private static byte[] Packet(uint tag, SctpChunk chunk) =>
        new SctpPacket { SourcePort = 5000, DestinationPort = 5000, VerificationTag = tag, Chunks = [chunk] }.Encode();

    private static SctpPacket Parse(byte[]? datagram)
    {
        Assert.NotNull(datagram);
        Assert.True(SctpPacket.TryParse(datagram, out var packet, out var error), error);
        return packet;
    }
}
