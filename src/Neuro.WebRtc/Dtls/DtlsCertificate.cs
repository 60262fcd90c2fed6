using System.Security.Cryptography;
using Neuro.WebRtc.Sdp;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Neuro.WebRtc.Dtls;

/// <summary>
/// The self-signed ECDSA P-256 certificate a peer connection presents in DTLS. WebRTC authenticates it only by the
/// sha-256 fingerprint carried in the SDP, so its names and validity period carry no meaning.
/// </summary>
public sealed class DtlsCertificate
{
    private DtlsCertificate(byte[] der, AsymmetricKeyParameter privateKey)
    {
        Der = der;
        PrivateKey = privateKey;
        Fingerprint = FingerprintOf(der);
    }

    /// <summary>The certificate's DER encoding.</summary>
    public byte[] Der { get; }
    public CertificateFingerprint Fingerprint { get; }
    internal AsymmetricKeyParameter PrivateKey { get; }

    public static DtlsCertificate Generate()
    {
        var random = new SecureRandom();
        var generator = new ECKeyPairGenerator();
        generator.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256r1, random));
        AsymmetricCipherKeyPair pair = generator.GenerateKeyPair();
        var name = new X509Name("CN=neuro-webrtc");
        var builder = new X509V3CertificateGenerator();
        builder.SetSerialNumber(new BigInteger(64, random).Add(BigInteger.One));
        builder.SetIssuerDN(name);
        builder.SetSubjectDN(name);
        // Backdated a day so a peer with a skewed clock does not reject it as not yet valid.
        builder.SetNotBefore(DateTime.UtcNow.AddDays(-1));
        builder.SetNotAfter(DateTime.UtcNow.AddDays(30));
        builder.SetPublicKey(pair.Public);
        X509Certificate certificate = builder.Generate(new Asn1SignatureFactory("SHA256WITHECDSA", pair.Private, random));
        return new DtlsCertificate(certificate.GetEncoded(), pair.Private);
    }

    public static CertificateFingerprint FingerprintOf(byte[] der) => new("sha-256", SHA256.HashData(der));
}
