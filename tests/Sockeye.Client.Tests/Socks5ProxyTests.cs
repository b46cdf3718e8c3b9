using System.Net;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Tests;

public sealed class Socks5ProxyTests
{
    [Theory]
    [InlineData("127.0.0.1", 1080, "127.0.0.1:1080", Socks5AddressType.IPv4)]
    [InlineData("::1", 1080, "[::1]:1080", Socks5AddressType.IPv6)]
    [InlineData("[::1]", 1080, "[::1]:1080", Socks5AddressType.IPv6)]
    [InlineData("proxy.example.test", 9050, "proxy.example.test:9050", Socks5AddressType.DomainName)]
    public void Constructor_Host_KeepsItAndItsAddressType(string host, int port, string text, Socks5AddressType type)
    {
        var proxy = new Socks5Proxy(host, port);

        Assert.Equal(text, proxy.ToString());
        Assert.Equal(type, proxy.Address.Type);
        Assert.Null(proxy.Credential);
    }

    [Fact]
    public void ToString_WithCredentials_NeverShowsThePassword()
    {
        var proxy = new Socks5Proxy("127.0.0.1", 1080, "alice", "secret");

        Assert.DoesNotContain("secret", proxy.ToString(), StringComparison.Ordinal);
        Assert.Equal("alice", proxy.Credential!.UserName);
    }

    [Theory]
    [InlineData("", 1080)]
    [InlineData("127.0.0.1", 0)]
    [InlineData("127.0.0.1", 65536)]
    public void Constructor_BadHostOrPort_Throws(string host, int port)
    {
        Assert.ThrowsAny<ArgumentException>(() => new Socks5Proxy(host, port));
    }

    [Fact]
    public void Constructor_CredentialOutOfRfc1929Range_Throws()
    {
        Assert.Throws<ArgumentException>(() => new Socks5Proxy("127.0.0.1", 1080, "", "secret"));
        Assert.Throws<ArgumentException>(() => new Socks5Proxy("127.0.0.1", 1080, "alice", ""));
        Assert.Throws<ArgumentException>(() => new Socks5Proxy("127.0.0.1", 1080, new string('a', 256), "secret"));
        Assert.Throws<ArgumentException>(() => new Socks5Proxy("127.0.0.1", 1080, "alice", new string('é', 128)));
    }

    [Theory]
    [InlineData("socks5h://127.0.0.1:1081", "127.0.0.1:1081", null, null)]
    [InlineData("socks5://proxy.example.test", "proxy.example.test:1080", null, null)]
    [InlineData("socks5h://alice:s%40cret@[::1]:1081", "[::1]:1081", "alice", "s@cret")]
    public void FromUri_ProxyUri_ReadsHostPortAndCredentials(string uri, string text, string? user, string? password)
    {
        var proxy = Socks5Proxy.FromUri(new Uri(uri));

        Assert.Equal(text, proxy.ToString());
        Assert.Equal(user, proxy.Credential?.UserName);
        Assert.Equal(password, proxy.Credential?.Password);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080")]
    [InlineData("socks4://127.0.0.1:1080")]
    public void FromUri_OtherScheme_Throws(string uri)
    {
        Assert.Throws<ArgumentException>(() => Socks5Proxy.FromUri(new Uri(uri)));
    }

    [Fact]
    public void Constructor_IPEndPoint_UsesItsAddressAndPort()
    {
        var proxy = new Socks5Proxy(new IPEndPoint(IPAddress.IPv6Loopback, 1080));

        Assert.Equal("::1", proxy.Host);
        Assert.Equal(1080, proxy.Port);
    }
}
