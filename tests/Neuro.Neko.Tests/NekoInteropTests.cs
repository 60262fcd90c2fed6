using System.Diagnostics;
using Neuro.Agents;
using Neuro.WebRtc;
using Xunit.Abstractions;

namespace Neuro.Neko.Tests;

/// <summary>Our client against the Neko v3 stand-in (aiohttp + aiortc 1.4.0): login, signaling, data channel, input, chat, drops.</summary>
public sealed class NekoInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    internal static NekoClient Client(NekoStandIn standIn, bool webRtc = true, string password = "neko", int maxReconnects = 10) => new(new NekoClientOptions
    {
        BaseUrl = standIn.BaseUrl,
        Username = "agent",
        Password = password,
        WebRtc = webRtc,
        Rtc = new RtcConfiguration(), // loopback: the stand-in's aiortc only offers 127.0.0.1
        ConnectTimeout = TimeSpan.FromSeconds(20),
        SilenceTimeout = TimeSpan.FromSeconds(5), // the stand-in beats every second
        ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
        ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        MaxReconnectAttempts = maxReconnects,
    });

    [Fact]
    public async Task Logs_in_negotiates_and_opens_the_server_data_channel()
    {
        await using var standIn = await NekoStandIn.StartAsync();
        await using var client = Client(standIn);
        using var cts = new CancellationTokenSource(Wait);
        var clock = Stopwatch.StartNew();
        TimeSpan offerAt = default, firstRtpAt = default;
        client.MessageReceived += m => { if (m.Event == "signal/provide") offerAt = clock.Elapsed; };
        client.RtpReceived += p => { if (!p.IsRtcp && firstRtpAt == default) firstRtpAt = clock.Elapsed; };
        await client.ConnectAsync(cts.Token);
        var openAt = clock.Elapsed;
        while (client.RtpPacketsReceived < 20) await Task.Delay(20, cts.Token);
        output.WriteLine($"login -> offer {offerAt.TotalMilliseconds:F0} ms; offer -> data channel open {(openAt - offerAt).TotalMilliseconds:F0} ms; " +
            $"offer -> first decrypted VP8 RTP {(firstRtpAt - offerAt).TotalMilliseconds:F0} ms");

        Assert.Equal(NekoConnectionState.Connected, client.State);
        Assert.StartsWith("agent-", client.SessionId);
        Assert.Equal((1280, 720), client.ScreenSize);
        Assert.NotNull(client.DataChannel);
        Assert.Equal("data", client.DataChannel!.Label);
        Assert.True(client.DataChannel.OpenedByRemote);
        Assert.Equal(RtcPeerConnectionState.Connected, client.PeerConnection!.State);

        // The VP8 track flowed (decrypted RTP, waited for above); decoding is the media branch's job.

        // Data-channel round trip through the stand-in's PONG.
        var rtts = new List<double>();
        for (int i = 0; i < 20; i++) rtts.Add((await client.PingAsync(cts.Token)).TotalMilliseconds);
        rtts.Sort();
        output.WriteLine($"data-channel PING/PONG round trip: median {rtts[10]:F2} ms, max {rtts[^1]:F2} ms");

        var state = await standIn.StateAsync();
        Assert.Equal(1, state.GetProperty("dc_open").GetInt32());
        Assert.Equal(20, state.GetProperty("pongs").GetInt32());
        // Our candidates went out trickled (signal/candidate) and the stand-in accepted them; its own came the same way
        // (it strips them from the offer), so the connection proves inbound trickle too.
        var inputs = await standIn.InputsAsync();
        Assert.Contains(inputs, e => Inputs.Describe(e) == "signal candidate");
        // Heartbeats are answered.
        await standIn.WaitForInputsAsync(_ => true, Wait);
        var beats = Stopwatch.StartNew();
        while ((await standIn.StateAsync()).GetProperty("heartbeats").GetInt32() < 1)
        {
            Assert.True(beats.Elapsed < Wait, "no client/heartbeat");
            await Task.Delay(100, cts.Token);
        }
    }

    [Theory]
    [InlineData(NekoInputPath.DataChannel)]
    [InlineData(NekoInputPath.WebSocket)]
    public async Task Clicks_typing_and_scrolling_arrive_with_the_right_coordinates_and_codes(NekoInputPath path)
    {
        await using var standIn = await NekoStandIn.StartAsync();
        await using var client = Client(standIn);
        using var cts = new CancellationTokenSource(Wait);
        await client.ConnectAsync(cts.Token);
        var cursor = new TaskCompletionSource<(int, int)>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.CursorMoved += (x, y) => cursor.TrySetResult((x, y));
        await client.RequestControlAsync(cts.Token);
        Assert.True(client.IsHost);

        await client.MoveAsync(1000, 700, path, cts.Token);
        await client.ButtonPressAsync(3, path, cts.Token);
        await client.TypeTextAsync("Hé\n", path, cts.Token);
        await client.ScrollAsync(0, -3, false, path, cts.Token);
        await client.ScrollAsync(2, 0, true, path, cts.Token);

        string p = path == NekoInputPath.DataChannel ? "dc" : "ws";
        string[] expected = path == NekoInputPath.DataChannel
            ?
            [
                "dc move 1000 700", "dc buttondown 3", "dc buttonup 3",
                "dc keydown 0x48", "dc keyup 0x48", "dc keydown 0xe9", "dc keyup 0xe9", "dc keydown 0xff0d", "dc keyup 0xff0d",
                "dc scroll 0 -3 ctrl=0 len=5", "dc scroll 2 0 ctrl=1 len=5",
            ]
            :
            [
                "ws move 1000 700", "ws buttonpress 3",
                "ws keypress 0x48", "ws keypress 0xe9", "ws keypress 0xff0d",
                "ws scroll 0 -3 ctrl=False", "ws scroll 2 0 ctrl=True",
            ];
        var inputs = await standIn.WaitForInputsAsync(all => Inputs.Input(all).Count >= expected.Length, Wait);
        Assert.Equal(expected, Inputs.Input(inputs));
        Assert.All(Inputs.Input(inputs), s => Assert.StartsWith(p, s));
        if (path == NekoInputPath.DataChannel)
        {
            // The stand-in answers a data-channel MOVE with CURSOR_POSITION, parsed by our client.
            Assert.Equal((1000, 700), await cursor.Task.WaitAsync(Wait));
        }
    }

    [Fact]
    public async Task Cookie_auth_login_and_websocket_only_control()
    {
        await using var standIn = await NekoStandIn.StartAsync(cookie: true);
        await using var client = Client(standIn, webRtc: false);
        using var cts = new CancellationTokenSource(Wait);
        await client.ConnectAsync(cts.Token);
        Assert.NotNull(client.Token); // read from the NEKO_SESSION cookie: the login body had none
        Assert.Null(client.DataChannel);
        await client.RequestControlAsync(cts.Token);
        await client.KeyPressAsync(Keysyms.Escape, NekoInputPath.WebSocket, cts.Token);
        var inputs = await standIn.WaitForInputsAsync(all => Inputs.Input(all).Count >= 1, Wait);
        Assert.Equal(["ws keypress 0xff1b"], Inputs.Input(inputs));
        await Assert.ThrowsAsync<NekoConnectionException>(() => client.MoveAsync(1, 1, NekoInputPath.DataChannel, cts.Token));
    }

    [Fact]
    public async Task Wrong_password_fails_with_the_login_status()
    {
        await using var standIn = await NekoStandIn.StartAsync();
        await using var client = Client(standIn, password: "wrong");
        using var cts = new CancellationTokenSource(Wait);
        var e = await Assert.ThrowsAsync<NekoLoginException>(() => client.ConnectAsync(cts.Token));
        Assert.Equal(401, e.Status);
        Assert.Equal(NekoConnectionState.Closed, client.State);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Screenshot_is_read_and_shows_the_current_frame_pattern(bool jpeg)
    {
        await using var standIn = await NekoStandIn.StartAsync(jpeg: jpeg);
        await using var client = Client(standIn);
        using var cts = new CancellationTokenSource(Wait);
        await client.ConnectAsync(cts.Token);
        while (client.RtpPacketsReceived < 30) await Task.Delay(20, cts.Token);
        await using var env = new NekoEnvironment(client, new HttpScreenshotFrameSource(client));
        int before = (await standIn.StateAsync()).GetProperty("frame_number").GetInt32();
        var png = await env.ScreenshotAsync(cts.Token);
        int after = (await standIn.StateAsync()).GetProperty("frame_number").GetInt32();
        var (w, h, channels, pixels) = PngDownscaler.Decode(png);
        Assert.Equal((320, 240), (w, h));
        int frame = FramePattern.Read(w, channels, pixels);
        output.WriteLine($"screenshot frame {frame} (stand-in was at {before}..{after})");
        Assert.InRange(frame, Math.Max(1, before), after);
        Assert.Equal((1280, 720), await env.GetScreenSizeAsync(cts.Token)); // screen_size, not the 320x240 video
    }

    [Fact]
    public async Task Video_frames_are_decoded_from_the_vp8_track_and_show_the_current_frame_pattern()
    {
        await using var standIn = await NekoStandIn.StartAsync();
        await using var client = Client(standIn);
        using var cts = new CancellationTokenSource(Wait);
        await client.ConnectAsync(cts.Token);
        var frames = new VideoFrameSource { SkipInitialFrames = 0, MaxAge = TimeSpan.FromSeconds(2) };
        using var video = new NekoVideo(client, frames);
        while (frames.FramesAccepted < 10) await Task.Delay(20, cts.Token);

        int before = (await standIn.StateAsync()).GetProperty("frame_number").GetInt32();
        var png = await frames.CapturePngAsync(cts.Token);
        int after = (await standIn.StateAsync()).GetProperty("frame_number").GetInt32();
        var (w, h, channels, pixels) = PngDownscaler.Decode(png);
        Assert.Equal((320, 240), (w, h));
        int frame = FramePattern.Read(w, channels, pixels);
        output.WriteLine($"decoded {video.FramesDecoded} VP8 frames; latest shows frame {frame} (stand-in at {before}..{after})");
        // A decoded frame is at most a few frames behind what the stand-in is drawing now (the jitter buffer's delay).
        Assert.InRange(frame, Math.Max(1, before - 30), after);
    }

    [Fact]
    public async Task Task_in_chat_starts_an_online_task_that_drives_input()
    {
        await using var standIn = await NekoStandIn.StartAsync();
        await using var client = Client(standIn);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await client.ConnectAsync(cts.Token);
        var chat = new List<NekoChatMessage>();
        client.ChatReceived += m => { lock (chat) chat.Add(m); };
        await using var env = new NekoEnvironment(client, new HttpScreenshotFrameSource(client), new NekoEnvironmentOptions { InputPath = NekoInputPath.DataChannel });
        var done = new TaskCompletionSource<(string, AgentRunResult)>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var online = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var loop = NekoOnlineMode.RunAsync(client, env,
            _ => new ScriptedPolicy(["{'action': 'CLICK', 'value': None, 'position': [0.5, 0.25]}"], "clicked"),
            instruction => new AgentRun(instruction, MaxSteps: 5, Timeout: TimeSpan.FromSeconds(20)),
            online.Token, (i, r) => done.TrySetResult((i, r)));

        await standIn.WaitForInputsAsync(all => all.Any(e => Inputs.Describe(e) == "chat Ready. Send a task in chat to begin."), Wait);
        await standIn.ChatFromOtherAsync("/task click the middle button");
        var (instruction, result) = await done.Task.WaitAsync(Wait);
        Assert.Equal("click the middle button", instruction);
        Assert.Equal(AgentOutcome.Completed, result.Outcome);
        Assert.Equal("clicked", result.Answer);

        var inputs = await standIn.WaitForInputsAsync(all => all.Any(e => Inputs.Describe(e).StartsWith("chat Completed task", StringComparison.Ordinal)), Wait);
        Assert.Equal(["dc move 640 180", "dc buttondown 1", "dc buttonup 1"], Inputs.Input(inputs));
        var said = inputs.Select(Inputs.Describe).Where(s => s.StartsWith("chat ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["chat Ready. Send a task in chat to begin.", "chat Starting task: click the middle button", "chat Answer: clicked",
            "chat Completed task: click the middle button (steps=2)."], said);
        // Our own lines came back from the server marked as ours; the /task line as someone else's.
        lock (chat)
        {
            Assert.Contains(chat, m => m.Text == "/task click the middle button" && !m.FromSelf && m.SenderId == "admin-standin");
            Assert.Contains(chat, m => m.Text.StartsWith("Starting task", StringComparison.Ordinal) && m.FromSelf);
        }
        online.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop.WaitAsync(Wait));
    }

    [Fact]
    public async Task A_failing_online_task_is_reported_and_online_mode_goes_on()
    {
        await using var standIn = await NekoStandIn.StartAsync();
        await using var client = Client(standIn, webRtc: false); // so data-channel input fails with NekoConnectionException
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await client.ConnectAsync(cts.Token);
        await using var env = new NekoEnvironment(client, new HttpScreenshotFrameSource(client), new NekoEnvironmentOptions { InputPath = NekoInputPath.DataChannel });
        var results = System.Threading.Channels.Channel.CreateUnbounded<(string, AgentRunResult)>();
        using var online = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var loop = NekoOnlineMode.RunAsync(client, env,
            _ => new ScriptedPolicy(["{'action': 'HOVER', 'value': None, 'position': [0.5, 0.5]}"]),
            instruction => new AgentRun(instruction, MaxSteps: 3, Timeout: TimeSpan.FromSeconds(10)),
            online.Token, (i, r) => results.Writer.TryWrite((i, r)));
        await standIn.WaitForInputsAsync(all => all.Any(e => Inputs.Describe(e) == "chat Ready. Send a task in chat to begin."), Wait);

        await standIn.ChatFromOtherAsync("/task first");
        var (first, r1) = await results.Reader.ReadAsync(cts.Token).AsTask().WaitAsync(Wait);
        Assert.Equal(("first", AgentOutcome.Failed), (first, r1.Outcome));
        Assert.Contains("data channel is not open", r1.Error);
        await standIn.ChatFromOtherAsync("/task second");
        var (second, r2) = await results.Reader.ReadAsync(cts.Token).AsTask().WaitAsync(Wait);
        Assert.Equal(("second", AgentOutcome.Failed), (second, r2.Outcome));
        var inputs = await standIn.WaitForInputsAsync(all => all.Count(e => Inputs.Describe(e).StartsWith("chat Task failed", StringComparison.Ordinal)) == 2, Wait);
        Assert.Contains(inputs, e => Inputs.Describe(e).StartsWith("chat Task failed: first: ", StringComparison.Ordinal));
        Assert.False(loop.IsCompleted);
        online.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop.WaitAsync(Wait));
    }

    [Fact]
    public async Task Dropped_connection_is_reported_and_reconnected()
    {
        await using var standIn = await NekoStandIn.StartAsync();
        await using var client = Client(standIn);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await client.ConnectAsync(cts.Token);
        var dropped = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Disconnected += r => dropped.TrySetResult(r);
        client.StateChanged += s => { if (s == NekoConnectionState.Connected) reconnected.TrySetResult(); };
        string firstSession = client.SessionId!;

        var clock = Stopwatch.StartNew();
        await standIn.DropAsync();
        string reason = await dropped.Task.WaitAsync(Wait);
        output.WriteLine($"drop reported after {clock.Elapsed.TotalMilliseconds:F0} ms: {reason}");
        await reconnected.Task.WaitAsync(Wait);
        output.WriteLine($"reconnected (new session, WebRTC and data channel) after {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(2, client.Connections);
        Assert.NotEqual(firstSession, client.SessionId); // login again: a new session
        Assert.Equal(2, (await standIn.StateAsync()).GetProperty("connections").GetInt32());

        await client.RequestControlAsync(cts.Token);
        await client.MoveAsync(5, 6, NekoInputPath.DataChannel, cts.Token);
        var inputs = await standIn.WaitForInputsAsync(all => Inputs.Input(all).Count >= 1, Wait);
        Assert.Equal(["dc move 5 6"], Inputs.Input(inputs));
    }

    [Fact]
    public async Task Mutated_server_messages_on_a_live_connection_do_not_break_it()
    {
        await using var standIn = await NekoStandIn.StartAsync();
        await using var client = Client(standIn);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await client.ConnectAsync(cts.Token);
        int drops = 0, tasks = 0, chats = 0;
        client.Disconnected += _ => Interlocked.Increment(ref drops);
        client.TaskRequested += _ => Interlocked.Increment(ref tasks);
        client.ChatReceived += _ => Interlocked.Increment(ref chats);

        await standIn.GarbageAsync(count: 3000, seed: 7);
        // The connection survives and still works both ways afterwards.
        await client.RequestControlAsync(cts.Token);
        await client.SendChatAsync("still here", cts.Token);
        await client.MoveAsync(7, 8, NekoInputPath.DataChannel, cts.Token);
        await client.MoveAsync(9, 10, NekoInputPath.WebSocket, cts.Token);
        var inputs = await standIn.WaitForInputsAsync(all => Inputs.Input(all).Count >= 2 && all.Any(e => Inputs.Describe(e) == "chat still here"), Wait);
        // Two transports: no order between them (SCTP's send completes when queued, not when delivered).
        Assert.Equal(["dc move 7 8", "ws move 9 10"], Inputs.Input(inputs).Order(StringComparer.Ordinal));
        Assert.Equal(0, drops);
        Assert.Equal(1, client.Connections);
        Assert.Equal(NekoConnectionState.Connected, client.State);
        Assert.True(chats > 0 && tasks > 0, $"the unmutated tenth should reach the handlers: {chats} chats, {tasks} tasks");
        output.WriteLine($"3000 messages: {chats} chat lines and {tasks} task requests got through the parser; no drop");
    }

    [Fact]
    public async Task A_dead_server_is_reported_never_hung()
    {
        var standIn = await NekoStandIn.StartAsync();
        await using var client = Client(standIn, maxReconnects: 3);
        using var cts = new CancellationTokenSource(Wait);
        await client.ConnectAsync(cts.Token);
        var clock = Stopwatch.StartNew();
        standIn.Kill();
        await standIn.DisposeAsync();
        await client.Completion.WaitAsync(Wait);
        output.WriteLine($"gave up after {clock.Elapsed.TotalMilliseconds:F0} ms: {client.Failure?.Message}");
        Assert.Equal(NekoConnectionState.Closed, client.State);
        Assert.IsType<NekoConnectionException>(client.Failure);
        await Assert.ThrowsAsync<NekoConnectionException>(() => client.MoveAsync(1, 1, NekoInputPath.WebSocket, cts.Token));

        // Connecting to nothing fails promptly too.
        await using var nobody = new NekoClient(new NekoClientOptions { BaseUrl = standIn.BaseUrl, Password = "neko", ConnectTimeout = TimeSpan.FromSeconds(5) });
        await Assert.ThrowsAnyAsync<Exception>(() => nobody.ConnectAsync(cts.Token));
        Assert.Equal(NekoConnectionState.Closed, nobody.State);
    }

    [Fact]
    public async Task A_frozen_server_is_detected_by_silence_and_given_up_on_within_bounds()
    {
        await using var standIn = await NekoStandIn.StartAsync();
        await using var client = new NekoClient(new NekoClientOptions
        {
            BaseUrl = standIn.BaseUrl, Password = "neko", Rtc = new RtcConfiguration(),
            SilenceTimeout = TimeSpan.FromSeconds(2), RequestTimeout = TimeSpan.FromSeconds(2), ConnectTimeout = TimeSpan.FromSeconds(3),
            ReconnectMinDelay = TimeSpan.FromMilliseconds(100), MaxReconnectAttempts = 2,
        });
        using var cts = new CancellationTokenSource(Wait);
        await client.ConnectAsync(cts.Token);
        var dropped = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Disconnected += r => dropped.TrySetResult(r);
        var clock = Stopwatch.StartNew();
        standIn.Signal("STOP");
        try
        {
            string reason = await dropped.Task.WaitAsync(Wait);
            output.WriteLine($"silence detected after {clock.Elapsed.TotalMilliseconds:F0} ms: {reason}");
            await client.Completion.WaitAsync(Wait);
            output.WriteLine($"gave up after {clock.Elapsed.TotalMilliseconds:F0} ms: {client.Failure?.Message} / {client.Failure?.InnerException?.Message}");
            Assert.Equal(NekoConnectionState.Closed, client.State);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        }
        finally
        {
            standIn.Signal("CONT");
        }
    }

    [Fact]
    public async Task Agent_loop_with_a_scripted_policy_drives_the_stand_in()
    {
        await using var standIn = await NekoStandIn.StartAsync();
        await using var client = Client(standIn);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await client.ConnectAsync(cts.Token);
        await using var env = new NekoEnvironment(client, new HttpScreenshotFrameSource(client),
            new NekoEnvironmentOptions { InputPath = NekoInputPath.DataChannel, NotchesPerScroll = 2 });
        var policy = new ScriptedPolicy(
        [
            "{'action': 'CLICK', 'value': None, 'position': [0.25, 0.5]}",
            "{'action': 'INPUT', 'value': 'ok', 'position': [0.1, 0.1]}",
            "{'action': 'ENTER', 'value': None, 'position': None}",
            "{'action': 'SCROLL', 'value': 'down', 'position': None, 'amount': 3}",
            "{'action': 'CLICK', 'value': 'right', 'position': [1.0, 1.0]}",
            "{'action': 'SELECT_TEXT', 'value': None, 'position': [[0.0, 0.0], [0.5, 0.5]]}",
            "{'action': 'COPY', 'value': 'x', 'position': None}",
        ], "done");
        var result = await AgentLoop.RunAsync(new AgentRun("exercise the stand-in", MaxSteps: 10, Timeout: TimeSpan.FromSeconds(30)), env, policy, cts.Token);
        Assert.Equal(AgentOutcome.Completed, result.Outcome);
        Assert.Equal(8, result.Steps.Count);
        Assert.All(result.Steps, s => Assert.Null(s.Error));

        string[] expected =
        [
            "dc move 320 360", "dc buttondown 1", "dc buttonup 1",
            "dc move 128 72", "dc buttondown 1", "dc buttonup 1", "dc keydown 0x6f", "dc keyup 0x6f", "dc keydown 0x6b", "dc keyup 0x6b",
            "dc keydown 0xff0d", "dc keyup 0xff0d",
            "dc scroll 0 -6 ctrl=0 len=5",
            "dc move 1279 719", "dc buttondown 3", "dc buttonup 3",
            "dc move 0 0", "dc buttondown 1", "dc move 640 360", "dc buttonup 1",
            "dc keydown 0xffe3", "dc keydown 0x63", "dc keyup 0x63", "dc keyup 0xffe3",
        ];
        var inputs = await standIn.WaitForInputsAsync(all => Inputs.Input(all).Count >= expected.Length, Wait);
        Assert.Equal(expected, Inputs.Input(inputs));
    }
}

internal static class FramePattern
{
    /// <summary>The stand-in's 16 blocks of 20x20 px in the top row, most significant bit first; sampled at block centres.</summary>
    public static int Read(int width, int channels, byte[] pixels)
    {
        int n = 0;
        for (int bit = 0; bit < 16; bit++)
        {
            int x = bit * 20 + 10, y = 10;
            byte v = pixels[(y * width + x) * channels];
            n = (n << 1) | (v > 128 ? 1 : 0);
        }
        return n;
    }
}
