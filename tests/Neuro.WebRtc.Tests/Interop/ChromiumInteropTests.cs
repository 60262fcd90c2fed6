using System.Diagnostics;
using System.Net;
using System.Text;
using Neuro.WebRtc.Sdp;
using Neuro.WebRtc.Srtp;
using Xunit.Abstractions;

namespace Neuro.WebRtc.Tests.Interop;

/// <summary>
/// Our transport against headless Chromium's RTCPeerConnection. The page offers a canvas video track and a data
/// channel; signaling is plain HTTP to a listener in the test, so no DevTools driving is needed.
/// </summary>
public sealed class ChromiumInteropTests(ITestOutputHelper output)
{
    private const string Page = """
        <!doctype html><html><body><script>
        const post = (path, body) => fetch(path, { method: 'POST', body });
        (async () => {
          try {
            const pc = new RTCPeerConnection();
            pc.onconnectionstatechange = () => post('/state', pc.connectionState);
            const canvas = document.createElement('canvas');
            canvas.width = 160; canvas.height = 120;
            const ctx = canvas.getContext('2d');
            let n = 0;
            setInterval(() => { ctx.fillStyle = `rgb(${(n * 40) % 256}, 80, ${255 - (n * 40) % 256})`; ctx.fillRect(0, 0, 160, 120); n++; }, 33);
            const stream = canvas.captureStream(30);
            pc.addTrack(stream.getVideoTracks()[0], stream);
            pc.createDataChannel('data');
            await pc.setLocalDescription(await pc.createOffer());
            await new Promise(resolve => {
              if (pc.iceGatheringState === 'complete') resolve();
              pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
              setTimeout(resolve, 3000);
            });
            await post('/offer', pc.localDescription.sdp);
            const answer = await (await fetch('/answer')).text();
            await pc.setRemoteDescription({ type: 'answer', sdp: answer });
          } catch (e) { post('/log', String(e)); }
        })();
        </script></body></html>
        """;

    [Theory]
    [InlineData(Neuro.WebRtc.Dtls.DtlsRole.Client, false)]
    [InlineData(Neuro.WebRtc.Dtls.DtlsRole.Server, false)]
    [InlineData(Neuro.WebRtc.Dtls.DtlsRole.Client, true)]
    public Task Chromium_offers_video_we_answer_and_decrypt_its_srtp(Neuro.WebRtc.Dtls.DtlsRole ourRole, bool tcpOnly) =>
        RunAsync(ourRole, tcpOnly, mdns: false);

    /// <summary>
    /// Chromium's default: its host candidates are mDNS names we cannot resolve, so we only learn its address from its
    /// checks (a peer-reflexive candidate, RFC 8445 §7.3.1.3).
    /// </summary>
    [Fact]
    public Task Chromium_with_mdns_candidates_connects_through_peer_reflexive_learning() =>
        RunAsync(Neuro.WebRtc.Dtls.DtlsRole.Client, tcpOnly: false, mdns: true);

    private async Task RunAsync(Neuro.WebRtc.Dtls.DtlsRole ourRole, bool tcpOnly, bool mdns)
    {
        Assert.True(File.Exists("/usr/bin/chromium"), "Debian's chromium is required (test.sh installs it)");
        int port = Neuro.Testing.FreePort.Next();
        using var http = new HttpListener();
        http.Prefixes.Add($"http://127.0.0.1:{port}/");
        http.Start();
        var offerText = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var answerText = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var browserLog = new StringBuilder();
        using var stop = new CancellationTokenSource();
        var server = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                HttpListenerContext context;
                try { context = await http.GetContextAsync(); } catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    string body = await new StreamReader(context.Request.InputStream).ReadToEndAsync();
                    string path = context.Request.Url!.AbsolutePath;
                    string reply = "";
                    switch (path)
                    {
                        case "/": reply = Page; context.Response.ContentType = "text/html"; break;
                        case "/offer": offerText.TrySetResult(body); break;
                        case "/answer": reply = await answerText.Task.WaitAsync(TimeSpan.FromSeconds(20)); break;
                        default: lock (browserLog) browserLog.AppendLine($"{path}: {body}"); break;
                    }
                    byte[] bytes = Encoding.UTF8.GetBytes(reply);
                    context.Response.OutputStream.Write(bytes);
                    context.Response.Close();
                });
            }
        });

        string profile = Directory.CreateTempSubdirectory("neuro-webrtc-chromium-").FullName;
        var start = new ProcessStartInfo("/usr/bin/chromium") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var flag in new[]
                 {
                     "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
                     // Loopback candidates, and plain addresses instead of mDNS names (see notes-dotnet-stack.md §5).
                     "--allow-loopback-in-peer-connection", mdns ? "--enable-features=WebRtcHideLocalIpsWithMdns" : "--disable-features=WebRtcHideLocalIpsWithMdns",
                     $"--user-data-dir={profile}", $"http://127.0.0.1:{port}/",
                 }) start.ArgumentList.Add(flag);
        using var chromium = Process.Start(start)!;
        chromium.ErrorDataReceived += (_, _) => { };
        chromium.OutputDataReceived += (_, _) => { };
        chromium.BeginErrorReadLine();
        chromium.BeginOutputReadLine();
        try
        {
            var clock = Stopwatch.StartNew();
            string sdp = await offerText.Task.WaitAsync(TimeSpan.FromSeconds(20));
            var offer = SessionDescription.Parse(sdp);
            int vp8 = offer.Media.First(m => m.Kind == "video").RtpMaps.First(r => r.EncodingName == "VP8").PayloadType;
            var offered = offer.Media[0].Candidates.Where(c => c.Transport == "udp").ToList();
            output.WriteLine("chromium's UDP candidates: " + string.Join(", ", offered.Select(c => c.Address)));
            if (mdns) Assert.All(offered, c => Assert.Null(c.EndPoint));

            // TCP only: we offer just a passive ICE-TCP candidate, so Chromium has to connect to it actively (RFC 6544).
            await using var pc = new RtcPeerConnection(new RtcConfiguration
            {
                AnswerDtlsRole = ourRole,
                Ice = tcpOnly ? new Neuro.WebRtc.Ice.IceAgentOptions { Udp = false, Tcp = true } : new Neuro.WebRtc.Ice.IceAgentOptions(),
            });
            pc.SetRemoteDescription(RtcSdpType.Offer, offer);
            var answer = pc.CreateAnswer();
            pc.SetLocalDescription(RtcSdpType.Answer, answer);
            var offerAt = clock.Elapsed;
            answerText.SetResult(answer.ToString());

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await pc.ConnectAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                lock (browserLog) throw new TimeoutException($"not connected: ICE {pc.Ice.State}\noffer:\n{sdp}\nanswer:\n{answer}\nbrowser:\n{browserLog}");
            }
            output.WriteLine($"answer -> connected {(clock.Elapsed - offerAt).TotalMilliseconds:F0} ms, SRTP profile {pc.SrtpKeys.Profile.Name}");
            Assert.Equal(ourRole, pc.DtlsRole);
            Assert.Equal(tcpOnly, pc.Ice.SelectedIsTcp);
            // The DTLS server picks the profile: Chromium (as server) takes AES_CM; we (as server) prefer GCM, which Chromium offers.
            Assert.Equal(ourRole == Neuro.WebRtc.Dtls.DtlsRole.Server ? SrtpProfile.AeadAes128Gcm : SrtpProfile.AesCm128HmacSha1_80, pc.SrtpKeys.Profile);

            int video = 0;
            while (video < 10 && await pc.ReceiveAsync(cts.Token) is { } packet)
            {
                if (!packet.IsRtcp && (packet.Data[1] & 0x7F) == vp8) video++;
            }
            output.WriteLine($"10 VP8 packets decrypted after {(clock.Elapsed - offerAt).TotalMilliseconds:F0} ms; rejected {pc.ReceiveCounts.Rejected}");
            Assert.Equal(10, video);
            Assert.Equal(0, pc.ReceiveCounts.Rejected);
        }
        finally
        {
            if (!chromium.HasExited) chromium.Kill(entireProcessTree: true);
            await chromium.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
            stop.Cancel();
            http.Stop();
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
