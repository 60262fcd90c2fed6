namespace Neuro.WebRtc.Srtp;

/// <summary>An SRTP protection profile negotiated by DTLS <c>use_srtp</c> (RFC 5764 §4.1.2, RFC 7714 §14.2).</summary>
public sealed record SrtpProfile(string Name, int DtlsId, int MasterKeyLength, int MasterSaltLength, bool IsAead, int AuthTagLength)
{
    public static readonly SrtpProfile AesCm128HmacSha1_80 = new("SRTP_AES128_CM_HMAC_SHA1_80", 0x0001, 16, 14, IsAead: false, AuthTagLength: 10);
    public static readonly SrtpProfile AeadAes128Gcm = new("SRTP_AEAD_AES_128_GCM", 0x0007, 16, 12, IsAead: true, AuthTagLength: 16);

    public static SrtpProfile? FromDtlsId(int id) => id switch
    {
        0x0001 => AesCm128HmacSha1_80,
        0x0007 => AeadAes128Gcm,
        _ => null,
    };
}

/// <summary>The master keys and salts for both directions, split out of the DTLS exporter output (RFC 5764 §4.2).</summary>
public sealed record SrtpKeys(SrtpProfile Profile, byte[] LocalMasterKey, byte[] LocalMasterSalt, byte[] RemoteMasterKey, byte[] RemoteMasterSalt)
{
    /// <summary>The exporter output is client key | server key | client salt | server salt.</summary>
    public static SrtpKeys FromKeyingMaterial(SrtpProfile profile, byte[] material, bool isDtlsClient)
    {
        int k = profile.MasterKeyLength, s = profile.MasterSaltLength;
        if (material.Length != 2 * (k + s)) throw new ArgumentException("keying material has the wrong length", nameof(material));
        byte[] clientKey = material[..k], serverKey = material[k..(2 * k)];
        byte[] clientSalt = material[(2 * k)..(2 * k + s)], serverSalt = material[(2 * k + s)..];
        return isDtlsClient
            ? new SrtpKeys(profile, clientKey, clientSalt, serverKey, serverSalt)
            : new SrtpKeys(profile, serverKey, serverSalt, clientKey, clientSalt);
    }
}
