using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Neuro.WebRtc.Srtp;
using Neuro.WebRtc.Tests.Srtp;

namespace Neuro.WebRtc.Tests.Interop;

/// <summary>
/// Our SRTP/SRTCP against libsrtp 2 (Debian, via pylibsrtp), both directions and both profiles. aiortc only negotiates
/// AES_CM, so this is where AEAD_AES_128_GCM meets another implementation.
/// </summary>
public sealed class LibsrtpInteropTests
{
    public static TheoryData<string> Profiles => new() { "AES128_CM_SHA1_80", "AEAD_AES_128_GCM" };

    private static JsonElement RunLibsrtp(object request)
    {
        var info = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "peers", "libsrtp_peer.py"));
        using var process = Process.Start(info)!;
        process.StandardInput.Write(JsonSerializer.Serialize(request));
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(10_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("libsrtp peer did not finish");
        }
        Assert.True(process.ExitCode == 0, stderr.Result);
        return JsonDocument.Parse(stdout.Result).RootElement.Clone();
    }

    private static string Hex(byte[] b) => Convert.ToHexString(b).ToLowerInvariant();

    private static byte[] Rtcp(uint ssrc, int n)
    {
        var sr = new byte[28]; // sender report, no blocks
        sr[0] = 0x80; sr[1] = 200; sr[3] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(sr.AsSpan(4), ssrc);
        for (int i = 8; i < sr.Length; i++) sr[i] = (byte)(i * n);
        return sr;
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Our_srtp_and_libsrtp_read_each_other_across_a_sequence_wrap(string profileName)
    {
        var profile = profileName == "AEAD_AES_128_GCM" ? SrtpProfile.AeadAes128Gcm : SrtpProfile.AesCm128HmacSha1_80;
        byte[] key = RandomNumberGenerator.GetBytes(profile.MasterKeyLength), salt = RandomNumberGenerator.GetBytes(profile.MasterSaltLength);
        // 65500 .. 65535 then 0 .. 43: both sides must move the rollover counter at the same packet.
        var rtp = Enumerable.Range(0, 80).Select(i => SrtpContextTests.Rtp((ushort)(65500 + i), ssrc: 0x01020304, payload: 20 + i % 13, extension: i % 3 == 0)).ToArray();
        var rtcp = Enumerable.Range(0, 5).Select(i => Rtcp(0x01020304, i)).ToArray();

        using var ours = new SrtpContext(profile, key, salt);
        var ourRtp = rtp.Select(p => ours.ProtectRtp(p)).ToArray();
        var ourRtcp = rtcp.Select(p => ours.ProtectRtcp(p)).ToArray();

        var result = RunLibsrtp(new
        {
            profile = profileName,
            key = Hex([.. key, .. salt]),
            protect_rtp = rtp.Select(Hex),
            protect_rtcp = rtcp.Select(Hex),
            unprotect_rtp = ourRtp.Select(Hex),
            unprotect_rtcp = ourRtcp.Select(Hex),
        });

        // libsrtp reads what we protected.
        Assert.Equal(rtp.Select(Hex), result.GetProperty("unprotect_rtp").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(rtcp.Select(Hex), result.GetProperty("unprotect_rtcp").EnumerateArray().Select(e => e.GetString()));

        // We read what libsrtp protected (and RTP comes out byte-identical to ours: same keys, same IVs).
        using var receiver = new SrtpContext(profile, key, salt);
        var theirRtp = result.GetProperty("protect_rtp").EnumerateArray().Select(e => Convert.FromHexString(e.GetString()!)).ToArray();
        Assert.Equal(ourRtp.Select(Hex), theirRtp.Select(Hex));
        for (int i = 0; i < rtp.Length; i++)
        {
            Assert.Equal(SrtpStatus.Ok, receiver.UnprotectRtp(theirRtp[i], out var plain));
            Assert.Equal(rtp[i], plain);
        }
        foreach (var (packet, i) in result.GetProperty("protect_rtcp").EnumerateArray().Select((e, i) => (Convert.FromHexString(e.GetString()!), i)))
        {
            Assert.Equal(SrtpStatus.Ok, receiver.UnprotectRtcp(packet, out var plain));
            Assert.Equal(rtcp[i], plain);
        }
    }
}
