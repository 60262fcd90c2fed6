using System.Net;

namespace Neuro.Webhooks.Tests;

public sealed class CallbackUrlGuardTests
{
    private static readonly CallbackUrlGuard Strict = new([]);

    [Theory]
    [InlineData("http://127.0.0.1/hook")]
    [InlineData("http://127.9.9.9:8080/")]
    [InlineData("http://[::1]/")]
    [InlineData("http://10.1.2.3/")]
    [InlineData("http://172.16.0.1/")]
    [InlineData("http://172.31.255.255/")]
    [InlineData("http://192.168.1.1/")]
    [InlineData("http://100.64.0.1/")] // carrier-grade NAT
    [InlineData("http://169.254.169.254/latest/meta-data/")] // AWS/GCP/Azure metadata
    [InlineData("http://[fd00:ec2::254]/")] // AWS IPv6 metadata (ULA)
    [InlineData("http://[fe80::1]/")]
    [InlineData("http://0.0.0.0/")]
    [InlineData("http://[::]/")]
    [InlineData("http://[::ffff:10.0.0.1]/")] // IPv4-mapped private address
    [InlineData("http://[::ffff:127.0.0.1]/")]
    [InlineData("http://2130706433/")] // 127.0.0.1 written as one decimal number
    [InlineData("http://0x7f.1/")] // 127.0.0.1 in hex shorthand
    [InlineData("http://224.0.0.1/")]
    [InlineData("https://255.255.255.255/")]
    public async Task Internal_addresses_are_refused(string url)
    {
        var e = await Assert.ThrowsAsync<CallbackRefusedException>(() => Strict.CheckAsync(url));
        Assert.Contains("internal address", e.Message);
    }

    [Theory]
    [InlineData("ftp://example.com/")]
    [InlineData("file:///etc/passwd")]
    [InlineData("gopher://10.0.0.1/")]
    [InlineData("/relative/path")]
    [InlineData("not a url")]
    [InlineData("http://user:secret@example.com/")]
    public async Task Malformed_urls_are_refused_without_a_lookup(string url)
    {
        var looked = false;
        var guard = new CallbackUrlGuard([], (_, _) => { looked = true; return Task.FromResult(new[] { IPAddress.Parse("93.184.215.14") }); });
        await Assert.ThrowsAsync<CallbackRefusedException>(() => guard.CheckAsync(url));
        Assert.False(looked);
    }

    [Fact]
    public async Task Overlong_urls_are_refused() =>
        await Assert.ThrowsAsync<CallbackRefusedException>(() => Strict.CheckAsync("http://example.com/" + new string('a', CallbackUrlGuard.MaxUrlLength)));

    [Fact]
    public async Task A_name_is_refused_if_any_of_its_addresses_is_internal()
    {
        // A stand-in for DNS: one public and one private answer for the same name.
        var guard = new CallbackUrlGuard([], (_, _) => Task.FromResult(new[] { IPAddress.Parse("93.184.215.14"), IPAddress.Parse("10.0.0.7") }));
        var e = await Assert.ThrowsAsync<CallbackRefusedException>(() => guard.CheckAsync("https://hooks.example.com/x"));
        Assert.Contains("10.0.0.7", e.Message);
    }

    [Fact]
    public async Task Public_addresses_pass_and_the_allow_list_admits_named_networks()
    {
        var publicGuard = new CallbackUrlGuard([], (_, _) => Task.FromResult(new[] { IPAddress.Parse("93.184.215.14") }));
        Assert.Equal([IPAddress.Parse("93.184.215.14")], await publicGuard.CheckAsync("https://hooks.example.com/x"));

        var allowing = new CallbackUrlGuard(["127.0.0.1/32", "10.20.0.0/16"]);
        Assert.NotEmpty(await allowing.CheckAsync("http://127.0.0.1:9000/"));
        Assert.NotEmpty(await allowing.CheckAsync("http://10.20.3.4/"));
        await Assert.ThrowsAsync<CallbackRefusedException>(() => allowing.CheckAsync("http://127.0.0.2/"));
        await Assert.ThrowsAsync<CallbackRefusedException>(() => allowing.CheckAsync("http://10.21.0.1/"));
    }

    [Fact]
    public async Task A_name_that_does_not_resolve_is_refused()
    {
        var e = await Assert.ThrowsAsync<CallbackRefusedException>(() => Strict.CheckAsync("http://no-such-host.invalid/"));
        Assert.Contains("does not resolve", e.Message);
    }

    [Fact]
    public void A_bad_allow_list_entry_is_a_clear_configuration_error() =>
        Assert.Contains("CIDR", Assert.Throws<ArgumentException>(() => new CallbackUrlGuard(["10.0.0.0/99"])).Message);
}
