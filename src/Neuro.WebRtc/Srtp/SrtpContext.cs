using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Neuro.WebRtc.Srtp;

/// <summary>Why an inbound packet was dropped; <see cref="Ok"/> means it authenticated and was decrypted.</summary>
public enum SrtpStatus { Ok, Malformed, AuthenticationFailed, Replayed, TooOld }

/// <summary>
/// One direction of SRTP and SRTCP (RFC 3711 AES_CM_128_HMAC_SHA1_80, RFC 7714 AEAD_AES_128_GCM): the session keys of
/// one master key and salt, and per-SSRC rollover counters and replay windows. Not thread-safe; a send path and a
/// receive path each own one.
/// </summary>
public sealed class SrtpContext : IDisposable
{
    /// <summary>RFC 3711 §3.3.2 minimum; it is also what libsrtp uses.</summary>
    public const int ReplayWindowSize = 64;
    private const int RtcpIndexLength = 4;

    private readonly SrtpProfile _profile;
    private readonly Aes _rtpCipher;
    private readonly Aes _rtcpCipher;
    private readonly AesGcm? _rtpGcm;
    private readonly AesGcm? _rtcpGcm;
    private readonly byte[] _rtpSalt;
    private readonly byte[] _rtcpSalt;
    // Keyed once and reset by each GetHashAndReset: re-keying HMAC per packet costs more than hashing it.
    private readonly IncrementalHash? _rtpHmac;
    private readonly IncrementalHash? _rtcpHmac;
    private readonly Dictionary<uint, RtpStreamState> _rtp = [];
    private readonly Dictionary<uint, RtcpStreamState> _rtcp = [];

    public SrtpContext(SrtpProfile profile, byte[] masterKey, byte[] masterSalt)
    {
        if (masterKey.Length != profile.MasterKeyLength) throw new ArgumentException("wrong master key length", nameof(masterKey));
        if (masterSalt.Length != profile.MasterSaltLength) throw new ArgumentException("wrong master salt length", nameof(masterSalt));
        _profile = profile;
        // RFC 7714 §11: the GCM profile's 96-bit master salt goes through the same AES-CM PRF, zero-padded to 112 bits.
        byte[] salt14 = new byte[14];
        masterSalt.CopyTo(salt14, 0);
        int sessionSaltLength = profile.IsAead ? 12 : 14;
        byte[] rtpKey = DeriveSessionKey(masterKey, salt14, 0, 16);
        byte[] rtcpKey = DeriveSessionKey(masterKey, salt14, 3, 16);
        _rtpSalt = DeriveSessionKey(masterKey, salt14, 2, sessionSaltLength);
        _rtcpSalt = DeriveSessionKey(masterKey, salt14, 5, sessionSaltLength);
        _rtpCipher = Aes.Create();
        _rtpCipher.Key = rtpKey;
        _rtcpCipher = Aes.Create();
        _rtcpCipher.Key = rtcpKey;
        if (profile.IsAead)
        {
            _rtpGcm = new AesGcm(rtpKey, 16);
            _rtcpGcm = new AesGcm(rtcpKey, 16);
        }
        else
        {
            _rtpHmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, DeriveSessionKey(masterKey, salt14, 1, 20));
            _rtcpHmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, DeriveSessionKey(masterKey, salt14, 4, 20));
        }
    }

    /// <summary>
    /// RFC 3711 §4.3.1 with key_derivation_rate 0: AES-CM keystream under the master key, starting from the master salt
    /// with the label XORed in at byte 7.
    /// </summary>
    public static byte[] DeriveSessionKey(byte[] masterKey, byte[] masterSalt14, byte label, int length)
    {
        var iv = new byte[16];
        masterSalt14.AsSpan(0, 14).CopyTo(iv);
        iv[7] ^= label;
        using var aes = Aes.Create();
        aes.Key = masterKey;
        var output = new byte[length];
        AesCounterXor(aes, iv, output);
        return output;
    }

    /// <summary>XORs the AES counter-mode keystream starting at <paramref name="iv"/> into <paramref name="data"/>.</summary>
    internal static void AesCounterXor(Aes aes, ReadOnlySpan<byte> iv, Span<byte> data)
    {
        if (data.IsEmpty) return;
        // All counter blocks go through AES in one call: per-call overhead, not AES, dominates for 16-byte blocks.
        int blocks = (data.Length + 15) / 16;
        byte[] rented = System.Buffers.ArrayPool<byte>.Shared.Rent(blocks * 16);
        try
        {
            Span<byte> counters = rented.AsSpan(0, blocks * 16);
            ushort start = BinaryPrimitives.ReadUInt16BigEndian(iv[14..]);
            for (int b = 0; b < blocks; b++)
            {
                var block = counters.Slice(b * 16, 16);
                iv.CopyTo(block);
                // The low 16 bits count blocks; RFC 3711 keeps packets below 2^16 blocks so no carry is needed beyond them.
                BinaryPrimitives.WriteUInt16BigEndian(block[14..], (ushort)(start + b));
            }
            aes.EncryptEcb(counters, counters, PaddingMode.None);
            int i = 0;
            for (; i + 8 <= data.Length; i += 8)
            {
                ulong x = BinaryPrimitives.ReadUInt64LittleEndian(data[i..]) ^ BinaryPrimitives.ReadUInt64LittleEndian(counters[i..]);
                BinaryPrimitives.WriteUInt64LittleEndian(data[i..], x);
            }
            for (; i < data.Length; i++) data[i] ^= counters[i];
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Length of the fixed RTP header, CSRCs and header extension, or -1 when the packet is not RTP.</summary>
    public static int RtpHeaderLength(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 12 || packet[0] >> 6 != 2) return -1;
        int length = 12 + 4 * (packet[0] & 0x0F);
        if ((packet[0] & 0x10) != 0)
        {
            if (packet.Length < length + 4) return -1;
            length += 4 + 4 * BinaryPrimitives.ReadUInt16BigEndian(packet[(length + 2)..]);
        }
        return length <= packet.Length ? length : -1;
    }

    /// <summary>RFC 5761 §4: RTCP packet types 192-223 share the RTP version bits; 200-206 are the ones in use.</summary>
    public static bool IsRtcp(ReadOnlySpan<byte> packet) => packet.Length >= 8 && packet[1] is >= 192 and <= 223;

    public byte[] ProtectRtp(ReadOnlySpan<byte> packet)
    {
        int headerLength = RtpHeaderLength(packet);
        if (headerLength < 0) throw new ArgumentException("not an RTP packet", nameof(packet));
        ushort seq = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        uint ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet[8..]);
        uint roc;
        if (!_rtp.TryGetValue(ssrc, out var state))
        {
            _rtp[ssrc] = new RtpStreamState { LastSeq = seq };
            roc = 0;
        }
        else if (IsNewer(seq, state.LastSeq))
        {
            if (seq < state.LastSeq) state.Roc++; // the sequence number wrapped
            state.LastSeq = seq;
            roc = state.Roc;
        }
        else
        {
            // A resent older packet; if it is numerically above the newest one it was sent before the wrap.
            roc = seq > state.LastSeq && state.Roc > 0 ? state.Roc - 1 : state.Roc;
        }

        var output = new byte[packet.Length + _profile.AuthTagLength];
        packet.CopyTo(output);
        if (_profile.IsAead)
        {
            Span<byte> nonce = stackalloc byte[12];
            RtpGcmNonce(ssrc, roc, seq, nonce);
            _rtpGcm!.Encrypt(nonce, packet[headerLength..], output.AsSpan(headerLength, packet.Length - headerLength),
                output.AsSpan(packet.Length, 16), packet[..headerLength]);
            return output;
        }
        Span<byte> iv = stackalloc byte[16];
        CounterIv(_rtpSalt, ssrc, ((ulong)roc << 16) | seq, iv);
        AesCounterXor(_rtpCipher, iv, output.AsSpan(headerLength, packet.Length - headerLength));
        RtpAuthTag(output.AsSpan(0, packet.Length), roc, output.AsSpan(packet.Length));
        return output;
    }

    public SrtpStatus UnprotectRtp(ReadOnlySpan<byte> packet, out byte[]? plain)
    {
        plain = null;
        int headerLength = RtpHeaderLength(packet);
        if (headerLength < 0 || packet.Length < headerLength + _profile.AuthTagLength) return SrtpStatus.Malformed;
        ushort seq = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        uint ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet[8..]);
        _rtp.TryGetValue(ssrc, out var state);
        uint roc = state is null ? 0 : EstimateRoc(state, seq);
        ulong index = ((ulong)roc << 16) | seq;
        if (state is not null)
        {
            var replay = state.Window.Check(index);
            if (replay != SrtpStatus.Ok) return replay;
        }
        int bodyLength = packet.Length - _profile.AuthTagLength;
        var output = packet[..bodyLength].ToArray();
        if (_profile.IsAead)
        {
            Span<byte> nonce = stackalloc byte[12];
            RtpGcmNonce(ssrc, roc, seq, nonce);
            try
            {
                _rtpGcm!.Decrypt(nonce, packet[headerLength..bodyLength], packet[bodyLength..], output.AsSpan(headerLength), packet[..headerLength]);
            }
            catch (AuthenticationTagMismatchException)
            {
                return SrtpStatus.AuthenticationFailed;
            }
        }
        else
        {
            Span<byte> tag = stackalloc byte[10];
            RtpAuthTag(packet[..bodyLength], roc, tag);
            if (!CryptographicOperations.FixedTimeEquals(tag, packet[bodyLength..])) return SrtpStatus.AuthenticationFailed;
            Span<byte> iv = stackalloc byte[16];
            CounterIv(_rtpSalt, ssrc, index, iv);
            AesCounterXor(_rtpCipher, iv, output.AsSpan(headerLength));
        }
        // Only an authenticated packet may move the rollover counter and the window (RFC 3711 §3.3.2).
        if (state is null) _rtp[ssrc] = state = new RtpStreamState { Roc = roc, LastSeq = seq };
        if (index > state.Window.Highest || !state.Window.HasAny)
        {
            state.Roc = roc;
            state.LastSeq = seq;
        }
        state.Window.Accept(index);
        plain = output;
        return SrtpStatus.Ok;
    }

    public byte[] ProtectRtcp(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 8) throw new ArgumentException("not an RTCP packet", nameof(packet));
        uint ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet[4..]);
        if (!_rtcp.TryGetValue(ssrc, out var state)) _rtcp[ssrc] = state = new RtcpStreamState();
        uint index = state.NextIndex;
        state.NextIndex = (state.NextIndex + 1) & 0x7FFFFFFF;
        uint eIndex = 0x80000000 | index;
        if (_profile.IsAead)
        {
            // RFC 7714 §9: header | ciphertext | tag | E+index, with E+index authenticated as AAD.
            var output = new byte[packet.Length + 16 + RtcpIndexLength];
            packet[..8].CopyTo(output);
            BinaryPrimitives.WriteUInt32BigEndian(output.AsSpan(output.Length - 4), eIndex);
            Span<byte> nonce = stackalloc byte[12];
            RtcpGcmNonce(ssrc, index, nonce);
            Span<byte> aad = stackalloc byte[12];
            packet[..8].CopyTo(aad);
            BinaryPrimitives.WriteUInt32BigEndian(aad[8..], eIndex);
            _rtcpGcm!.Encrypt(nonce, packet[8..], output.AsSpan(8, packet.Length - 8), output.AsSpan(packet.Length, 16), aad);
            return output;
        }
        var result = new byte[packet.Length + RtcpIndexLength + _profile.AuthTagLength];
        packet.CopyTo(result);
        Span<byte> iv = stackalloc byte[16];
        CounterIv(_rtcpSalt, ssrc, index, iv);
        AesCounterXor(_rtcpCipher, iv, result.AsSpan(8, packet.Length - 8));
        BinaryPrimitives.WriteUInt32BigEndian(result.AsSpan(packet.Length), eIndex);
        Span<byte> mac = stackalloc byte[20];
        RtcpAuthTag(result.AsSpan(0, packet.Length + RtcpIndexLength), mac);
        mac[.._profile.AuthTagLength].CopyTo(result.AsSpan(packet.Length + RtcpIndexLength));
        return result;
    }

    public SrtpStatus UnprotectRtcp(ReadOnlySpan<byte> packet, out byte[]? plain)
    {
        plain = null;
        int trailer = RtcpIndexLength + _profile.AuthTagLength;
        if (packet.Length < 8 + trailer || packet[0] >> 6 != 2) return SrtpStatus.Malformed;
        uint ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet[4..]);
        uint eIndex;
        int bodyEnd;
        if (_profile.IsAead)
        {
            eIndex = BinaryPrimitives.ReadUInt32BigEndian(packet[^4..]);
            bodyEnd = packet.Length - 4 - 16;
        }
        else
        {
            bodyEnd = packet.Length - trailer;
            eIndex = BinaryPrimitives.ReadUInt32BigEndian(packet[bodyEnd..]);
        }
        uint index = eIndex & 0x7FFFFFFF;
        bool encrypted = (eIndex & 0x80000000) != 0;
        _rtcp.TryGetValue(ssrc, out var state);
        if (state is not null)
        {
            var replay = state.Window.Check(index);
            if (replay != SrtpStatus.Ok) return replay;
        }
        var output = packet[..bodyEnd].ToArray();
        if (_profile.IsAead)
        {
            Span<byte> nonce = stackalloc byte[12];
            RtcpGcmNonce(ssrc, index, nonce);
            Span<byte> aad = stackalloc byte[12];
            packet[..8].CopyTo(aad);
            BinaryPrimitives.WriteUInt32BigEndian(aad[8..], eIndex);
            if (!encrypted) return SrtpStatus.Malformed; // we never negotiate unencrypted SRTCP
            try
            {
                _rtcpGcm!.Decrypt(nonce, packet[8..bodyEnd], packet[bodyEnd..(bodyEnd + 16)], output.AsSpan(8), aad);
            }
            catch (AuthenticationTagMismatchException)
            {
                return SrtpStatus.AuthenticationFailed;
            }
        }
        else
        {
            Span<byte> mac = stackalloc byte[20];
            RtcpAuthTag(packet[..(bodyEnd + RtcpIndexLength)], mac);
            if (!CryptographicOperations.FixedTimeEquals(mac[.._profile.AuthTagLength], packet[(bodyEnd + RtcpIndexLength)..])) return SrtpStatus.AuthenticationFailed;
            if (encrypted)
            {
                Span<byte> iv = stackalloc byte[16];
                CounterIv(_rtcpSalt, ssrc, index, iv);
                AesCounterXor(_rtcpCipher, iv, output.AsSpan(8));
            }
        }
        if (state is null) _rtcp[ssrc] = state = new RtcpStreamState();
        state.Window.Accept(index);
        plain = output;
        return SrtpStatus.Ok;
    }

    /// <summary>The rollover counter a sender used for <paramref name="seq"/> (RFC 3711 Appendix A).</summary>
    private static uint EstimateRoc(RtpStreamState state, ushort seq)
    {
        uint roc = state.Roc;
        int sl = state.LastSeq;
        if (sl < 0x8000)
        {
            if (seq - sl > 0x8000 && roc > 0) return roc - 1;
            return roc;
        }
        if (sl - 0x8000 > seq) return roc + 1;
        return roc;
    }

    private static bool IsNewer(ushort seq, ushort than) => seq != than && (ushort)(seq - than) < 0x8000;

    /// <summary>RFC 3711 §4.1.1: IV = (salt·2^16) XOR (SSRC·2^64) XOR (index·2^16).</summary>
    private static void CounterIv(byte[] salt, uint ssrc, ulong index, Span<byte> iv)
    {
        iv.Clear();
        salt.AsSpan(0, 14).CopyTo(iv);
        Span<byte> tmp = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tmp, ssrc);
        for (int i = 0; i < 4; i++) iv[4 + i] ^= tmp[i];
        for (int i = 0; i < 6; i++) iv[8 + i] ^= (byte)(index >> (40 - 8 * i));
    }

    private void RtcpAuthTag(ReadOnlySpan<byte> authenticated, Span<byte> mac)
    {
        _rtcpHmac!.AppendData(authenticated);
        _rtcpHmac.GetHashAndReset(mac);
    }

    private void RtpAuthTag(ReadOnlySpan<byte> authenticated, uint roc, Span<byte> tag)
    {
        var hmac = _rtpHmac!;
        hmac.AppendData(authenticated);
        Span<byte> rocBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(rocBytes, roc);
        hmac.AppendData(rocBytes);
        Span<byte> mac = stackalloc byte[20];
        hmac.GetHashAndReset(mac);
        mac[..10].CopyTo(tag);
    }

    /// <summary>RFC 7714 §8.1: 00 00 | SSRC | ROC | SEQ, XORed with the 12-byte session salt.</summary>
    private void RtpGcmNonce(uint ssrc, uint roc, ushort seq, Span<byte> nonce)
    {
        nonce.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(nonce[2..], ssrc);
        BinaryPrimitives.WriteUInt32BigEndian(nonce[6..], roc);
        BinaryPrimitives.WriteUInt16BigEndian(nonce[10..], seq);
        for (int i = 0; i < 12; i++) nonce[i] ^= _rtpSalt[i];
    }

    /// <summary>RFC 7714 §9.1: 00 00 | SSRC | 00 00 | 0+SRTCP index, XORed with the session salt.</summary>
    private void RtcpGcmNonce(uint ssrc, uint index, Span<byte> nonce)
    {
        nonce.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(nonce[2..], ssrc);
        BinaryPrimitives.WriteUInt32BigEndian(nonce[8..], index & 0x7FFFFFFF);
        for (int i = 0; i < 12; i++) nonce[i] ^= _rtcpSalt[i];
    }

    public void Dispose()
    {
        _rtpCipher.Dispose();
        _rtcpCipher.Dispose();
        _rtpGcm?.Dispose();
        _rtcpGcm?.Dispose();
        _rtpHmac?.Dispose();
        _rtcpHmac?.Dispose();
    }

    private sealed class RtpStreamState
    {
        public uint Roc;
        public ushort LastSeq;
        public ReplayWindow Window;
    }

    private sealed class RtcpStreamState
    {
        public uint NextIndex;
        public ReplayWindow Window;
    }
}

/// <summary>A sliding 64-packet window over extended indices (RFC 3711 §3.3.2).</summary>
internal struct ReplayWindow
{
    private ulong _bits; // bit i set: Highest - i was received
    public ulong Highest { get; private set; }
    public bool HasAny { get; private set; }

    public readonly SrtpStatus Check(ulong index)
    {
        if (!HasAny || index > Highest) return SrtpStatus.Ok;
        ulong delta = Highest - index;
        if (delta >= SrtpContext.ReplayWindowSize) return SrtpStatus.TooOld;
        return (_bits & (1UL << (int)delta)) != 0 ? SrtpStatus.Replayed : SrtpStatus.Ok;
    }

    public void Accept(ulong index)
    {
        if (!HasAny)
        {
            HasAny = true;
            Highest = index;
            _bits = 1;
            return;
        }
        if (index > Highest)
        {
            ulong shift = index - Highest;
            _bits = shift >= 64 ? 1 : (_bits << (int)shift) | 1;
            Highest = index;
        }
        else
        {
            _bits |= 1UL << (int)(Highest - index);
        }
    }
}
