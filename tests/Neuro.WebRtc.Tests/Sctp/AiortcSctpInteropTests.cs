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
            peer.CloseStdin();
            await peer.WaitForAsync("EVENT state CLOSED");
        }
        await theirs.Closed.WaitAsync(Timeout);
    }

    private static async Task ExpectAsync(DataChannel channel, byte[] expected, bool text)
    {
        var m = await channel.Messages.ReadAsync().AsTask().WaitAsync(Timeout);
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
