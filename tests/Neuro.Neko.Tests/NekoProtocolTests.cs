using System.Text;

namespace Neuro.Neko.Tests;

public sealed class NekoProtocolTests
{
    [Fact]
    public void Binary_input_is_big_endian_with_the_payload_length_in_the_header()
    {
        Assert.Equal("01000404380438", Convert.ToHexString(NekoBinary.Move(1080, 1080)));
        Assert.Equal("02000500FFFFFD01", Convert.ToHexString(NekoBinary.Scroll(255, -3, true)));
        Assert.Equal("0300040000FF0D", Convert.ToHexString(NekoBinary.KeyDown(0xff0d)));
        Assert.Equal("04000401000123", Convert.ToHexString(NekoBinary.KeyUp(0x01000123)));
        Assert.Equal("05000400000003", Convert.ToHexString(NekoBinary.ButtonDown(3)));
        Assert.Equal("06000400000001", Convert.ToHexString(NekoBinary.ButtonUp(1)));
        Assert.Equal("0700080000000100000001", Convert.ToHexString(NekoBinary.Ping(0xFFFFFFFFUL + 1)));
        Assert.Equal("0100040000FFFF", Convert.ToHexString(NekoBinary.Move(-5, 70000))); // clamped, not wrapped
    }

    [Fact]
    public void Server_binary_messages_parse()
    {
        Assert.True(NekoBinary.TryParseServer(Convert.FromHexString("010007000A0014"), out var cursor, out _));
        Assert.Equal((NekoBinary.ServerCursorPosition, 10, 20), (cursor.Op, cursor.X, cursor.Y));
        var pong = Convert.FromHexString("030013" + "0000000100000002" + "0000000000000005");
        Assert.True(NekoBinary.TryParseServer(pong, out var p, out _));
        Assert.Equal(0xFFFFFFFFUL + 2, p.PingMilliseconds);
        Assert.True(NekoBinary.TryParseServer(Convert.FromHexString("02000E00100010000100018950"), out var image, out _));
        Assert.Equal("8950", Convert.ToHexString(image.Png.Span));
        Assert.False(NekoBinary.TryParseServer(Convert.FromHexString("0100070001"), out _, out var why));
        Assert.Contains("too short", why);
        Assert.False(NekoBinary.TryParseServer(Convert.FromHexString("09000300"), out _, out why));
        Assert.Contains("unknown opcode", why);
    }

    [Fact]
    public void Keysyms_for_typing()
    {
        Assert.Equal([0x41u, 0x20, 0x7e, 0xe9, 0x010020ac, 0x0101f600, Keysyms.Return, Keysyms.Tab], Keysyms.ForText("A ~é€😀\r\n\t"));
        Assert.Empty(Keysyms.ForText("\u0001\u0085"));
        Assert.Equal(Keysyms.Return, Keysyms.ForName("Enter"));
        Assert.Equal(Keysyms.F1 + 11, Keysyms.ForName("F12"));
        Assert.Equal(0x61u, Keysyms.ForName("a"));
        Assert.Null(Keysyms.ForName("nonsense"));
    }

    [Fact]
    public void Envelope_round_trip_and_payload_access()
    {
        string text = NekoMessage.Serialize("control/scroll", new { delta_x = 0, delta_y = -3, control_key = false });
        Assert.Equal("{\"event\":\"control/scroll\",\"payload\":{\"delta_x\":0,\"delta_y\":-3,\"control_key\":false}}", text);
        Assert.Equal("{\"event\":\"client/heartbeat\"}", NekoMessage.Serialize("client/heartbeat"));
        Assert.True(NekoMessage.TryParse("{\"event\":\"chat/message\",\"payload\":{\"id\":\"a-1\",\"content\":{\"text\":\"/task go\"}}}", out var m, out _));
        Assert.Equal("/task go", NekoEvents.ChatText(m!));
        Assert.Equal("a-1", m!.String("id"));
        Assert.True(NekoMessage.TryParse("{\"event\":\"screen/updated\",\"payload\":{\"width\":800,\"height\":\"600\"}}", out var s, out _));
        Assert.Null(NekoEvents.ScreenSize(s!.Payload)); // wrong type counts as missing
        Assert.False(NekoMessage.TryParse("[1,2]", out _, out var error));
        Assert.Equal("not a JSON object", error);
        Assert.False(NekoMessage.TryParse("{\"payload\":{}}", out _, out error));
        Assert.Equal("no event name", error);
    }

    [Theory]
    [InlineData("http://neko:8080", "ws://neko:8080/api/ws?token=a%2Bb")]
    [InlineData("https://example.com/neko", "wss://example.com/neko/api/ws?token=a%2Bb")]
    [InlineData("https://example.com/neko/", "wss://example.com/neko/api/ws?token=a%2Bb")]
    public void WebSocket_url_keeps_the_path_prefix_and_scheme(string baseUrl, string expected) =>
        Assert.Equal(expected, NekoClient.WebSocketUri(new Uri(baseUrl), "a+b").AbsoluteUri);

    [Theory]
    [InlineData("/task search the weather", "search the weather")]
    [InlineData("  /TASK   Book a flight ", "Book a flight")]
    [InlineData("/task", "")]
    [InlineData("/tasks list", null)]
    [InlineData("please /task x", null)]
    public void Task_command(string text, string? instruction) => Assert.Equal(instruction, NekoEvents.TaskInstruction(text));

    [Fact]
    public void Fuzzed_envelopes_and_binary_messages_never_throw()
    {
        var rng = new Random(20261123);
        string[] seeds =
        [
            "{\"event\":\"system/init\",\"payload\":{\"session_id\":\"a-1\",\"control_host\":{\"has_host\":true,\"host_id\":\"a-1\"},\"screen_size\":{\"width\":1280,\"height\":720,\"rate\":30}}}",
            "{\"event\":\"chat/message\",\"payload\":{\"id\":\"b\",\"created\":\"2026-01-01T00:00:00Z\",\"content\":{\"text\":\"/task do it\"}}}",
            "{\"event\":\"signal/candidate\",\"payload\":{\"candidate\":\"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}}",
            "{\"event\":\"control/host\",\"payload\":{\"id\":\"x\",\"has_host\":false}}",
            "{\"event\":\"system/heartbeat\"}",
        ];
        byte[][] binarySeeds =
        [
            Convert.FromHexString("010007000A0014"),
            Convert.FromHexString("030013000000010000000200000000000000050"[..38]),
            Convert.FromHexString("02000E00100010000100018950"),
        ];
        int parsed = 0, rejected = 0;
        for (int i = 0; i < 10_000; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(seeds[rng.Next(seeds.Length)]);
            Mutate(rng, ref bytes);
            string text = Encoding.UTF8.GetString(bytes);
            if (NekoMessage.TryParse(text, out var m, out _))
            {
                parsed++;
                // Every accessor the client uses on a peer's payload.
                _ = NekoEvents.ChatText(m!);
                _ = NekoEvents.ScreenSize(m!.Object("screen_size"));
                _ = NekoEvents.ScreenSize(m.Payload);
                _ = m.String("session_id");
                _ = m.Bool("has_host");
                _ = NekoMessage.String(m.Object("control_host"), "host_id");
                if (NekoEvents.ChatText(m) is { } t) _ = NekoEvents.TaskInstruction(t);
                if (m.String("candidate") is { } c) _ = Neuro.WebRtc.Ice.IceCandidate.TryParse(c, out _);
            }
            else rejected++;

            var bin = binarySeeds[rng.Next(binarySeeds.Length)].ToArray();
            Mutate(rng, ref bin);
            _ = NekoBinary.TryParseServer(bin, out _, out _);
        }
        Assert.True(parsed > 100 && rejected > 100, $"mutations too mild or too harsh: {parsed} parsed, {rejected} rejected");
    }

    private static void Mutate(Random rng, ref byte[] data)
    {
        int edits = rng.Next(1, 5);
        for (int e = 0; e < edits; e++)
        {
            switch (rng.Next(5))
            {
                case 0 when data.Length > 0: data[rng.Next(data.Length)] ^= (byte)(1 << rng.Next(8)); break;
                case 1 when data.Length > 0: data[rng.Next(data.Length)] = (byte)rng.Next(256); break;
                case 2: data = data[..rng.Next(data.Length + 1)]; break;
                case 3:
                    int at = rng.Next(data.Length + 1);
                    var insert = new byte[rng.Next(1, 8)];
                    rng.NextBytes(insert);
                    data = [.. data[..at], .. insert, .. data[at..]];
                    break;
                default:
                    // Structural tokens, so mutated JSON often stays JSON with odd types and nesting.
                    string[] tokens = ["{", "}", "[", "]", "\"", ":", ",", "null", "1e999", "-1", "\"x\"", "true"];
                    int pos = rng.Next(data.Length + 1);
                    data = [.. data[..pos], .. Encoding.UTF8.GetBytes(tokens[rng.Next(tokens.Length)]), .. data[pos..]];
                    break;
            }
        }
    }
}
