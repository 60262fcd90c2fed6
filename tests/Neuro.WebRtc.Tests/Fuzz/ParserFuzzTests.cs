using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Neuro.WebRtc.Ice;
using Neuro.WebRtc.Sdp;
using Neuro.WebRtc.Tests.Sdp;

namespace Neuro.WebRtc.Tests.Fuzz;

/// <summary>
/// Seeded mutation fuzzing: valid inputs with random damage. Every input must give a result or an error value; no
/// exception may escape, and the whole run is time-bounded so a hang or quadratic blow-up fails the test.
/// </summary>
public sealed class ParserFuzzTests
{
    private const int Iterations = 10_000;

    private static readonly byte[][] StunSeeds =
    [
        Convert.FromHexString("000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf"),
        Convert.FromHexString("0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96"),
        new StunMessage(StunClass.ErrorResponse, StunMessage.BindingMethod).AddErrorCode(487, "Role Conflict")
            .AddXorMappedAddress(new IPEndPoint(IPAddress.IPv6Loopback, 5000)).Encode("pwd"u8.ToArray(), fingerprint: true),
    ];

    private static byte[] Mutate(Random random, byte[] seed)
    {
        var data = new List<byte>(seed);
        int edits = random.Next(1, 6);
        for (int e = 0; e < edits; e++)
        {
            switch (random.Next(6))
            {
                case 0 when data.Count > 0: data[random.Next(data.Count)] ^= (byte)(1 << random.Next(8)); break;
                case 1 when data.Count > 0: data[random.Next(data.Count)] = (byte)random.Next(256); break;
                case 2 when data.Count > 0:
                {
                    int at = random.Next(data.Count);
                    data.RemoveRange(at, Math.Min(data.Count - at, random.Next(1, 9)));
                    break;
                }
                case 3: data.InsertRange(random.Next(data.Count + 1), Enumerable.Range(0, random.Next(1, 9)).Select(_ => (byte)random.Next(256))); break;
                case 4 when data.Count > 4: data[2] = (byte)random.Next(256); data[3] = (byte)random.Next(256); break; // the length field
                case 5 when data.Count > 0:
                {
                    int cut = random.Next(data.Count); // truncation
                    data.RemoveRange(cut, data.Count - cut);
                    break;
                }
            }
        }
        return data.ToArray();
    }

    [Fact]
    public void Stun_parser_survives_mutated_messages()
    {
        var random = new Random(20261123);
        var watch = Stopwatch.StartNew();
        int parsed = 0, rejected = 0;
        for (int i = 0; i < Iterations; i++)
        {
            byte[] input = Mutate(random, StunSeeds[i % StunSeeds.Length]);
            if (StunMessage.TryParse(input, out var m, out string? error))
            {
                parsed++;
                // Every accessor must cope with whatever attribute values survived.
                _ = m!.Username;
                _ = m.Priority;
                _ = m.IceControlling;
                _ = m.IceControlled;
                _ = m.ErrorCode;
                _ = m.XorMappedAddress;
                _ = m.VerifyIntegrity("VOkJxbRl1RmTxUk/WvJxBt"u8.ToArray());
                _ = m.VerifyFingerprint();
            }
            else
            {
                rejected++;
                Assert.False(string.IsNullOrEmpty(error));
            }
        }
        // Both outcomes occur, or the mutations are not exercising the parser.
        Assert.True(parsed > 100 && rejected > 100, $"parsed {parsed}, rejected {rejected}");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Stun_parser_survives_random_bytes()
    {
        var random = new Random(5);
        for (int i = 0; i < Iterations; i++)
        {
            var input = new byte[random.Next(0, 200)];
            random.NextBytes(input);
            if (input.Length >= 8 && random.Next(2) == 0)
            {
                // Give half of them a plausible header so the attribute loop runs.
                input[0] = (byte)random.Next(4);
                input[2] = (byte)((input.Length - 20) >> 8);
                input[3] = (byte)(input.Length - 20);
                input[4] = 0x21; input[5] = 0x12; input[6] = 0xA4; input[7] = 0x42;
            }
            if (StunMessage.TryParse(input, out var m, out _))
            {
                _ = m!.XorMappedAddress;
                _ = m.VerifyFingerprint();
            }
        }
    }

    private const string SdpAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789 :=/-.\r\n\t ABCZ+;,é\u0000";

    private static string MutateText(Random random, string seed)
    {
        var lines = seed.Split("\r\n").ToList();
        int edits = random.Next(1, 6);
        for (int e = 0; e < edits; e++)
        {
            int li = random.Next(lines.Count);
            string line = lines[li];
            switch (random.Next(7))
            {
                case 0: lines.RemoveAt(li); if (lines.Count == 0) lines.Add(""); break;
                case 1: lines.Insert(random.Next(lines.Count + 1), line); break;
                case 2 when line.Length > 0:
                {
                    var chars = line.ToCharArray();
                    chars[random.Next(chars.Length)] = SdpAlphabet[random.Next(SdpAlphabet.Length)];
                    lines[li] = new string(chars);
                    break;
                }
                case 3 when line.Length > 0: lines[li] = line[..random.Next(line.Length)]; break;
                case 4: lines[li] = line + " " + random.NextInt64().ToString(System.Globalization.CultureInfo.InvariantCulture); break;
                case 5:
                {
                    // Swap a number for an extreme one.
                    string[] parts = line.Split(' ');
                    parts[random.Next(parts.Length)] = random.Next(3) switch { 0 => "99999999999999999999", 1 => "-1", _ => "65536" };
                    lines[li] = string.Join(' ', parts);
                    break;
                }
                case 6: lines.Insert(random.Next(lines.Count + 1), "a=" + new string(Enumerable.Range(0, random.Next(40)).Select(_ => SdpAlphabet[random.Next(SdpAlphabet.Length)]).ToArray())); break;
            }
        }
        return string.Join("\r\n", lines);
    }

    [Fact]
    public void Sdp_parser_survives_mutated_descriptions()
    {
        var random = new Random(8866);
        string[] seeds = [SessionDescriptionTests.ServerOffer, new RtcPeerConnection(new RtcConfiguration { OfferAudio = "sendrecv" }).CreateOffer().ToString()];
        var watch = Stopwatch.StartNew();
        int parsed = 0, rejected = 0;
        for (int i = 0; i < Iterations; i++)
        {
            string input = MutateText(random, seeds[i % seeds.Length]);
            if (SessionDescription.TryParse(input, out var sd, out var error))
            {
                parsed++;
                _ = sd!.BundleGroup;
                foreach (var m in sd.Media)
                {
                    _ = (m.Mid, m.RtcpMux, m.Direction, m.SctpPort, m.MaxMessageSize, m.Setup, m.Fingerprint, m.EndOfCandidates);
                    _ = (sd.IceUfrag(m), sd.IcePwd(m), sd.Fingerprint(m), sd.Setup(m));
                    foreach (var map in m.RtpMaps) { _ = m.Fmtp(map.PayloadType); _ = m.RtcpFeedback(map.PayloadType).Count(); }
                    foreach (var c in m.Candidates) { _ = c.EndPoint; _ = c.ToString(); }
                }
                // What we print we can read back.
                Assert.True(SessionDescription.TryParse(sd.ToString(), out _, out var again), again?.ToString());
            }
            else
            {
                rejected++;
                Assert.True(error!.Line >= 0);
            }
        }
        Assert.True(parsed > 100 && rejected > 100, $"parsed {parsed}, rejected {rejected}");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task Answering_mutated_offers_never_throws_anything_but_argument_errors()
    {
        var random = new Random(3264);
        for (int i = 0; i < 300; i++)
        {
            if (!SessionDescription.TryParse(MutateText(random, SessionDescriptionTests.ServerOffer), out var sd, out _)) continue;
            await using var pc = new RtcPeerConnection();
            try
            {
                pc.SetRemoteDescription(RtcSdpType.Offer, sd!);
                _ = pc.CreateAnswer().ToString();
            }
            catch (ArgumentException)
            {
                // A description missing what negotiation needs is refused with a reason; anything else is a bug.
            }
        }
    }

    [Fact]
    public async Task Ice_agent_ignores_garbage_datagrams_and_still_connects()
    {
        var a = new IceAgent();
        var b = new IceAgent();
        await using var _ = a;
        await using var __ = b;
        a.Gather();
        b.Gather();
        var target = b.LocalCandidates[0].EndPoint!;
        using (var noise = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            var random = new Random(99);
            for (int i = 0; i < 2000; i++)
            {
                byte[] junk = i % 2 == 0 ? Mutate(random, StunSeeds[i % StunSeeds.Length]) : RandomBytes(random);
                if (junk.Length > 0) noise.SendTo(junk, target);
            }
        }
        a.SetRemoteCredentials(b.LocalUfrag, b.LocalPwd);
        b.SetRemoteCredentials(a.LocalUfrag, a.LocalPwd);
        foreach (var c in b.LocalCandidates) a.AddRemoteCandidate(c);
        foreach (var c in a.LocalCandidates) b.AddRemoteCandidate(c);
        a.Start(true);
        b.Start(false);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Task.WhenAll(a.WaitConnectedAsync(cts.Token), b.WaitConnectedAsync(cts.Token));
        Assert.Equal(IceConnectionState.Connected, b.State);

        static byte[] RandomBytes(Random random)
        {
            var bytes = new byte[random.Next(1, 300)];
            random.NextBytes(bytes);
            return bytes;
        }
    }

    [Fact]
    public void Candidate_parser_survives_random_text()
    {
        var random = new Random(8445);
        const string seed = "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.2 rport 46154 generation 0";
        for (int i = 0; i < Iterations; i++)
        {
            string text = MutateText(random, seed.Replace(' ', '\n')).Replace("\r\n", " ");
            if (IceCandidate.TryParse(text, out var c))
            {
                _ = c!.EndPoint;
                Assert.True(IceCandidate.TryParse(c.ToString(), out var again));
                Assert.Equal(c, again);
            }
        }
    }
}
