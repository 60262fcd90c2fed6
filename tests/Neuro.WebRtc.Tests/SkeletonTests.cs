namespace Neuro.WebRtc.Tests;

public sealed class SkeletonTests
{
    [Fact]
    public void Transport_seam_is_public() => Assert.True(typeof(IDatagramTransport).IsPublic);
}
