using System.Buffers.Binary;
using System.Security.Cryptography;
using Neuro.WebRtc.Srtp;

namespace Neuro.WebRtc.Tests.Srtp;

public sealed class SrtpContextTests
{
    [Fact]
    public void Key_derivation_matches_rfc3711_appendix_b3()
    {
        byte[] masterKey = Convert.FromHexString("E1F97A0D3E018BE0D64FA32C06DE4139");
        byte[] masterSalt = Convert.FromHexString("0EC675AD498AFEEBB6960B3AABE6");
        Assert.Equal(Convert.FromHexString("C61E7A93744F39EE10734AFE3FF7A087"), SrtpContext.DeriveSessionKey(masterKey, masterSalt, 0, 16));
        Assert.Equal(Convert.FromHexString("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"), SrtpContext.DeriveSessionKey(masterKey, masterSalt, 1, 20));
        Assert.Equal(Convert.FromHexString("30CBBC08863D8C85D49DB34A9AE1"), SrtpContext.DeriveSessionKey(masterKey, masterSalt, 2, 14));
    }

    [Fact]
    public void Aes_counter_keystream_matches_rfc3711_appendix_b2()
    {
        using var aes = Aes.Create();
        aes.Key = Convert.FromHexString("2B7E151628AED2A6ABF7158809CF4F3C");
        var keystream = new byte[48];
        SrtpContext.AesCounterXor(aes, Convert.FromHexString("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"), keystream);
        Assert.Equal(Convert.FromHexString(
            "E03EAD0935C95E80E166B16DD92B4EB4" + "D23513162B02D0F72A43A2FE4A5F97AB" + "41E95B3BB0A2E8DD477901E4FCA894C0"), keystream);
    }

    public static TheoryData<string> Profiles => new() { "SRTP_AES128_CM_HMAC_SHA1_80", "SRTP_AEAD_AES_128_GCM" };

    private static (SrtpContext Sender, SrtpContext Receiver) Pair(string profileName)
    {
        var profile = profileName == SrtpProfile.AeadAes128Gcm.Name ? SrtpProfile.AeadAes128Gcm : SrtpProfile.AesCm128HmacSha1_80;
        byte[] key = RandomNumberGenerator.GetBytes(profile.MasterKeyLength), salt = RandomNumberGenerator.GetBytes(profile.MasterSaltLength);
        return (new SrtpContext(profile, key, salt), new SrtpContext(profile, key, salt));
    }

    internal static byte[] Rtp(ushort seq, uint ssrc = 0xCAFEBABE, int payload = 100, bool extension = false)
    {
        int headerLength = 12 + (extension ? 8 : 0);
        var p = new byte[headerLength + payload];
        p[0] = (byte)(0x80 | (extension ? 0x10 : 0));
        p[1] = 96;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), seq);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(4), seq * 3000u);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(8), ssrc);
        if (extension)
        {
            p[12] = 0xBE; p[13] = 0xDE; p[15] = 1; // one-byte header extension, one word
            p[16] = 0x10; p[17] = 0x42;
        }
        for (int i = headerLength; i < p.Length; i++) p[i] = (byte)(i + seq);
        return p;
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Rtp_round_trips_and_hides_the_payload(string profile)
    {
        var (tx, rx) = Pair(profile);
        byte[] plain = Rtp(1, extension: true);
        byte[] protectedPacket = tx.ProtectRtp(plain);
        Assert.Equal(plain.Length + (profile.Contains("GCM") ? 16 : 10), protectedPacket.Length);
        Assert.Equal(plain.AsSpan(0, 20).ToArray(), protectedPacket.AsSpan(0, 20).ToArray()); // header stays clear
        Assert.NotEqual(plain.AsSpan(20).ToArray(), protectedPacket.AsSpan(20, plain.Length - 20).ToArray());
        Assert.Equal(SrtpStatus.Ok, rx.UnprotectRtp(protectedPacket, out var back));
        Assert.Equal(plain, back);
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Tampering_fails_authentication(string profile)
    {
        var (tx, rx) = Pair(profile);
        byte[] p = tx.ProtectRtp(Rtp(7));
        p[30] ^= 0x80;
        Assert.Equal(SrtpStatus.AuthenticationFailed, rx.UnprotectRtp(p, out var plain));
        Assert.Null(plain);
        byte[] q = tx.ProtectRtp(Rtp(8));
        q[1] ^= 0x01; // header is authenticated too
        Assert.Equal(SrtpStatus.AuthenticationFailed, rx.UnprotectRtp(q, out _));
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Replays_are_dropped_and_reordering_within_the_window_is_accepted(string profile)
    {
        var (tx, rx) = Pair(profile);
        var packets = Enumerable.Range(100, 80).Select(s => tx.ProtectRtp(Rtp((ushort)s))).ToArray();
        Assert.Equal(SrtpStatus.Ok, rx.UnprotectRtp(packets[10], out _));
        Assert.Equal(SrtpStatus.Replayed, rx.UnprotectRtp(packets[10], out _));
        Assert.Equal(SrtpStatus.Ok, rx.UnprotectRtp(packets[79], out _));
        Assert.Equal(SrtpStatus.Ok, rx.UnprotectRtp(packets[20], out _));   // 59 behind: inside the window
        Assert.Equal(SrtpStatus.Replayed, rx.UnprotectRtp(packets[20], out _));
        Assert.Equal(SrtpStatus.TooOld, rx.UnprotectRtp(packets[10], out _)); // 69 behind: outside
        Assert.Equal(SrtpStatus.TooOld, rx.UnprotectRtp(packets[0], out _));
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Rollover_counter_follows_sequence_wrap(string profile)
    {
        var (tx, rx) = Pair(profile);
        // 65530 .. 65535, 0 .. 9: the ROC goes to 1 at the wrap; both sides must agree or authentication fails.
        for (int i = 0; i < 16; i++)
        {
            ushort seq = (ushort)(65530 + i);
            byte[] plain = Rtp(seq);
            Assert.Equal(SrtpStatus.Ok, rx.UnprotectRtp(tx.ProtectRtp(plain), out var back));
            Assert.Equal(plain, back);
        }
        // A late packet from before the wrap still authenticates with ROC 0.
        var (tx2, rx2) = Pair(profile);
        byte[] first = tx2.ProtectRtp(Rtp(65534));
        byte[] before = tx2.ProtectRtp(Rtp(65535));
        byte[] after = tx2.ProtectRtp(Rtp(2));
        Assert.Equal(SrtpStatus.Ok, rx2.UnprotectRtp(first, out _));
        Assert.Equal(SrtpStatus.Ok, rx2.UnprotectRtp(after, out _));
        Assert.Equal(SrtpStatus.Ok, rx2.UnprotectRtp(before, out _));
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Rtcp_round_trips_and_rejects_replay_and_tampering(string profile)
    {
        var (tx, rx) = Pair(profile);
        // A receiver report with one block: V=2 RC=1 PT=201 length=7.
        var rr = new byte[32];
        rr[0] = 0x81; rr[1] = 201; rr[3] = 7;
        BinaryPrimitives.WriteUInt32BigEndian(rr.AsSpan(4), 0x11223344);
        for (int i = 8; i < rr.Length; i++) rr[i] = (byte)i;
        byte[] p1 = tx.ProtectRtcp(rr), p2 = tx.ProtectRtcp(rr);
        Assert.Equal(SrtpStatus.Ok, rx.UnprotectRtcp(p1, out var back));
        Assert.Equal(rr, back);
        Assert.Equal(SrtpStatus.Replayed, rx.UnprotectRtcp(p1, out _));
        p2[12] ^= 1;
        Assert.Equal(SrtpStatus.AuthenticationFailed, rx.UnprotectRtcp(p2, out _));
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Garbage_is_malformed_not_an_exception(string profile)
    {
        var (_, rx) = Pair(profile);
        var random = new Random(7);
        for (int i = 0; i < 2000; i++)
        {
            var junk = new byte[random.Next(0, 64)];
            random.NextBytes(junk);
            var status = rx.UnprotectRtp(junk, out var plain);
            Assert.NotEqual(SrtpStatus.Ok, status);
            Assert.Null(plain);
            Assert.NotEqual(SrtpStatus.Ok, rx.UnprotectRtcp(junk, out _));
        }
    }
}
