using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Threading.Channels;
using Neuro.WebRtc.Sctp;
using Xunit.Abstractions;

namespace Neuro.WebRtc.Tests.Sctp;

/// <summary>
/// Our SCTP and DCEP against aiortc's (python3-aiortc, an independent implementation) over loopback UDP: the wire
/// format, checksum, handshake, DCEP, fragmentation, stream reset and teardown have to agree with someone else's.
/// </summary>
public sealed class AiortcSctpInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData("client", SctpRole.Server)] // aiortc sends INIT; we answer and are the DTLS client (even ids)
    [InlineData("server", SctpRole.Client)] // we send INIT and are the DTLS server (odd ids); aiortc answers
    [InlineData("client", SctpRole.Client)] // both send INIT (aiortc ignores ours, we answer its INIT mid-handshake)
    public async Task Data_channels_interoperate_with_aiortc(string aiortcRole, SctpRole ourRole)
    {
        bool weAreDtlsClient = aiortcRole == "client";
        await using var udp = new UdpDatagramTransport();
        await using var peer = await AiortcPeer.StartAsync(udp.LocalPort, aiortcRole, output);
        udp.Connect(peer.Port);
        // aiortc's INIT sender is its ICE-controlling side, the DTLS server in practice: hence the explicit role.
        await using var channels = SctpDataChannels.Start(udp, weAreDtlsClient, new SctpOptions(), ourRole);
        await channels.Association.ConnectAsync().WaitAsync(Timeout);

        // aiortc opens a channel and speaks first.
        var theirs = await channels.IncomingChannels.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(("from-aiortc", "neko"), (theirs.Label, theirs.Protocol));
        Assert.Equal(weAreDtlsClient ? 1 : 0, theirs.Id % 2);
        var hello = await theirs.Messages.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.True(hello.IsText);
        Assert.Equal("hello from aiortc", hello.Text);

        // We open one; aiortc echoes what it gets, keeping text/binary and message boundaries.
        var echo = await channels.CreateDataChannelAsync("echo", new DataChannelOptions { Protocol = "p" });
        Assert.Equal(weAreDtlsClient ? 0 : 1, echo.Id % 2);
        await peer.WaitForAsync($"EVENT channel {echo.Id} echo p 1");
        await echo.Opened.WaitAsync(Timeout);
        var binary = RandomNumberGenerator.GetBytes(3000);   // 3 fragments
        var large = RandomNumberGenerator.GetBytes(60_000);  // ~52 fragments
        await echo.SendAsync("ping");
        await echo.SendAsync(binary);
        await echo.SendAsync(large);
        await echo.SendAsync("");
        await ExpectAsync(echo, "ping"u8.ToArray(), text: true);
        await ExpectAsync(echo, binary, text: false);
        await ExpectAsync(echo, large, text: false);
        await ExpectAsync(echo, [], text: true);
        await peer.WaitForAsync("EVENT message echo binary 60000");

        // Closing resets the stream (RFC 6525); aiortc sees the channel close.
        await echo.CloseAsync().WaitAsync(Timeout);
        await peer.WaitForAsync("EVENT closed echo");

        if (weAreDtlsClient)
        {
            // aiortc going away sends ABORT.
            peer.CloseStdin();
            var closed = await channels.Association.Closed.WaitAsync(Timeout);
            Assert.False(closed.Graceful);
            Assert.Contains("abort", closed.Reason);
        }
        else
        {
            await channels.Association.ShutdownAsync().WaitAsync(Timeout);
            var closed = await channels.Association.Closed;
            Assert.True(closed.Graceful, closed.Reason);
            await peer.WaitForAsync("EVENT association closed"); // aiortc reached CLOSED through the shutdown
        }
        await theirs.Closed.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Reliable_and_partially_reliable_channels_interoperate_with_aiortc_under_loss()
    {
        await using var udp = new UdpDatagramTransport();
        await using var peer = await AiortcPeer.StartAsync(udp.LocalPort, "server", output);
        udp.Connect(peer.Port);
        // 5% of datagrams lost each way, on our side of the socket: both stacks retransmit to each other.
        var lossy = new LossyDatagramTransport(udp, 0.05, seed: 5);
        await using var channels = SctpDataChannels.Start(lossy, isDtlsClient: false, new SctpOptions { RtoMin = TimeSpan.FromMilliseconds(200) });
        // Default role: we send INIT too, so this connects whichever side aiortc thinks should start.
        await channels.Association.ConnectAsync().WaitAsync(Timeout);

        // Reliable, ordered: every echo comes back intact and in order despite loss in all four legs.
        var echo = await channels.CreateDataChannelAsync("echo", new DataChannelOptions { Protocol = "p" });
        var sent = Enumerable.Range(0, 60).Select(i =>
        {
            var data = new byte[i % 6 == 0 ? 20_000 : 200 + i];
            new Random(i).NextBytes(data);
            return data;
        }).ToArray();
        foreach (var m in sent) await echo.SendAsync(m);
        foreach (var m in sent) await ExpectAsync(echo, m, text: false, TimeSpan.FromSeconds(60));

        // Partially reliable (send once): lost messages are abandoned with FORWARD TSN, which aiortc must accept
        // to move its ordered stream on; the final message after the loss stops still arrives.
        var once = await channels.CreateDataChannelAsync("once", new DataChannelOptions { MaxRetransmits = 0 });
        await peer.WaitForAsync($"EVENT channel {once.Id} once");
        // One message per packet (the pause stops bundling), so at 5% loss some are lost with near certainty.
        for (int i = 0; i < 150; i++)
        {
            await once.SendAsync($"m{i}");
            await Task.Delay(3);
        }
        await Task.Delay(3000);
        var before = channels.Association.Statistics;
        lossy.Loss = 0; // "last" is sent once too: it must not be lost itself
        await once.SendAsync("last");
        var echoed = new List<string>();
        while (true)
        {
            var m = await once.Messages.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60));
            echoed.Add(m.Text);
            if (m.Text == "last") break;
        }
        output.WriteLine($"PR: {echoed.Count - 1} of 150 echoed; abandoned {before.AbandonedMessages}, FORWARD TSN sent {before.ForwardTsnsSent}; " +
                         $"datagrams dropped {lossy.Dropped}; retransmissions {before.Retransmissions}");
        var numbers = echoed.SkipLast(1).Select(t => int.Parse(t[1..])).ToList();
        Assert.Equal(numbers.Distinct().Order(), numbers);
        Assert.True(before.AbandonedMessages > 0 && before.ForwardTsnsSent > 0, "no message was abandoned: FORWARD TSN untested");
        Assert.True(numbers.Count < 150);
    }

    private static async Task ExpectAsync(DataChannel channel, byte[] expected, bool text, TimeSpan? timeout = null)
    {
        var m = await channel.Messages.ReadAsync().AsTask().WaitAsync(timeout ?? Timeout);
        Assert.Equal(text, m.IsText);
        Assert.True(expected.AsSpan().SequenceEqual(m.Data.Span), $"echo of {expected.Length} bytes differs ({m.Data.Length} bytes back)");
    }

    private sealed class AiortcPeer : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
        private readonly ITestOutputHelper _output;

        private AiortcPeer(Process process, ITestOutputHelper output)
        {
            _process = process;
            _output = output;
        }

        public int Port { get; private set; }

        public static async Task<AiortcPeer> StartAsync(int ourPort, string role, ITestOutputHelper output)
        {
            var psi = new ProcessStartInfo("/usr/bin/python3", [Script(), ourPort.ToString(), role])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var process = Process.Start(psi) ?? throw new InvalidOperationException("python3 did not start");
            var peer = new AiortcPeer(process, output);
            _ = Task.Run(async () =>
            {
                while (await process.StandardOutput.ReadLineAsync() is { } line)
                {
                    peer._lines.Writer.TryWrite(line);
                }
                peer._lines.Writer.TryComplete();
            });
            _ = Task.Run(async () =>
            {
                while (await process.StandardError.ReadLineAsync() is { } line) output.WriteLine($"aiortc stderr: {line}");
            });
            var port = await peer.WaitForAsync("PORT ");
            peer.Port = int.Parse(port["PORT ".Length..]);
            return peer;
        }

        public async Task<string> WaitForAsync(string prefix)
        {
            using var cts = new CancellationTokenSource(Timeout);
            try
            {
                while (true)
                {
                    var line = await _lines.Reader.ReadAsync(cts.Token);
                    _output.WriteLine($"aiortc: {line}");
                    if (line.StartsWith(prefix, StringComparison.Ordinal)) return line;
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
            {
                throw new TimeoutException($"aiortc never printed '{prefix}' (exited: {_process.HasExited})");
            }
        }

        public void CloseStdin() => _process.StandardInput.Close();

        public async ValueTask DisposeAsync()
        {
            try
            {
                _process.StandardInput.Close();
            }
            catch (IOException)
            {
            }
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
            }
            _process.Dispose();
        }

        private static string Script([CallerFilePath] string here = "") =>
            Path.Combine(Path.GetDirectoryName(here)!, "aiortc_sctp_peer.py");
    }
}
