using System.Net;
using System.Text;
using Neuro.WebRtc.Ice;

namespace Neuro.WebRtc.Tests.Ice;

public sealed class StunMessageTests
{
    // RFC 5769 §2.1 and §2.2 sample messages, short-term password below.
    private const string SampleRequest =
        "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b1" +
        "51263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf";
    private const string SampleIpv4Response =
        "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643000800142b91f599fd9e" +
        "90c38c7489f92af9ba53f06be7d780280004c07d4c96";
    private static readonly byte[] Password = Encoding.UTF8.GetBytes("VOkJxbRl1RmTxUk/WvJxBt");

    [Fact]
    public void Rfc5769_sample_request_parses_and_verifies()
    {
        var m = StunMessage.Parse(Convert.FromHexString(SampleRequest));
        Assert.Equal(StunClass.Request, m.Class);
        Assert.Equal(StunMessage.BindingMethod, m.Method);
        Assert.Equal("evtj:h6vY", m.Username);
        Assert.Equal(0x6e0001ffu, m.Priority);
        Assert.Equal(0x932ff9b151263b36UL, m.IceControlled);
        Assert.Null(m.IceControlling);
        Assert.True(m.VerifyIntegrity(Password));
        Assert.True(m.VerifyFingerprint());
        Assert.False(m.VerifyIntegrity(Encoding.UTF8.GetBytes("wrong password")));
    }

    [Fact]
    public void Rfc5769_sample_response_carries_the_xor_mapped_address()
    {
        var m = StunMessage.Parse(Convert.FromHexString(SampleIpv4Response));
        Assert.Equal(StunClass.SuccessResponse, m.Class);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 32853), m.XorMappedAddress);
        Assert.True(m.VerifyIntegrity(Password));
        Assert.True(m.VerifyFingerprint());
    }

    [Fact]
    public void Built_request_verifies_and_a_flipped_bit_breaks_it()
    {
        var request = new StunMessage(StunClass.Request, StunMessage.BindingMethod)
            .AddUsername("remote:local").AddPriority(0x6e0001ff).AddRole(controlling: true, 42).AddUseCandidate();
        byte[] bytes = request.Encode(Password, fingerprint: true);

        var parsed = StunMessage.Parse(bytes);
        Assert.Equal(request.TransactionId, parsed.TransactionId);
        Assert.Equal(42UL, parsed.IceControlling);
        Assert.True(parsed.Has(StunAttributeType.UseCandidate));
        Assert.True(parsed.VerifyIntegrity(Password));
        Assert.True(parsed.VerifyFingerprint());

        bytes[25] ^= 0x01; // inside USERNAME
        var tampered = StunMessage.Parse(bytes);
        Assert.False(tampered.VerifyIntegrity(Password));
        Assert.False(tampered.VerifyFingerprint());
    }

    [Theory]
    [InlineData("192.0.2.1", 32853)]
    [InlineData("2001:db8:1234:5678:11:2233:4455:6677", 32853)]
    public void Xor_mapped_address_round_trips(string ip, int port)
    {
        var ep = new IPEndPoint(IPAddress.Parse(ip), port);
        var m = new StunMessage(StunClass.SuccessResponse, StunMessage.BindingMethod).AddXorMappedAddress(ep);
        Assert.Equal(ep, StunMessage.Parse(m.Encode(null, fingerprint: false)).XorMappedAddress);
    }

    [Fact]
    public void Error_code_round_trips()
    {
        var m = new StunMessage(StunClass.ErrorResponse, StunMessage.BindingMethod).AddErrorCode(487, "Role Conflict");
        var parsed = StunMessage.Parse(m.Encode(Password, fingerprint: true));
        Assert.Equal(StunClass.ErrorResponse, parsed.Class);
        Assert.Equal(487, parsed.ErrorCode);
    }

    [Theory]
    [InlineData("0001")]                                             // shorter than a header
    [InlineData("000100042112a442b7e7a701bc34d686fa87dfae")]         // length beyond the packet
    [InlineData("000100002112a443b7e7a701bc34d686fa87dfae")]         // wrong cookie
    [InlineData("c00100002112a442b7e7a701bc34d686fa87dfae")]         // top bits set
    [InlineData("000100082112a442b7e7a701bc34d686fa87dfae00060010aabbccdd")] // attribute runs past the end
    public void Malformed_messages_are_rejected(string hex)
    {
        Assert.False(StunMessage.TryParse(Convert.FromHexString(hex), out var m, out string? error));
        Assert.Null(m);
        Assert.False(string.IsNullOrEmpty(error));
    }
}
