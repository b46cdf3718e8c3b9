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
    [InlineData("socks5h://127.0.0.1:1081", ProxyKind.Socks5, "127.0.0.1:1081", null, null)]
    [InlineData("socks5://proxy.example.test", ProxyKind.Socks5, "proxy.example.test:1080", null, null)]
    [InlineData("socks5h://alice:s%40cret@[::1]:1081", ProxyKind.Socks5, "[::1]:1081", "alice", "s@cret")]
    [InlineData("socks4a://127.0.0.1:1081", ProxyKind.Socks4a, "127.0.0.1:1081", null, null)]
    [InlineData("socks4://proxy.example.test", ProxyKind.Socks4a, "proxy.example.test:1080", null, null)]
    [InlineData("socks4a://al%20ice@proxy.example.test:9", ProxyKind.Socks4a, "proxy.example.test:9", "al ice", "")]
    [InlineData("socks4://alice:ignored@127.0.0.1", ProxyKind.Socks4a, "127.0.0.1:1080", "alice", "ignored")]
    [InlineData("http://127.0.0.1:3128", ProxyKind.Http, "127.0.0.1:3128", null, null)]
    [InlineData("http://proxy.example.test", ProxyKind.Http, "proxy.example.test:1080", null, null)]
    [InlineData("http://proxy.example.test/", ProxyKind.Http, "proxy.example.test:1080", null, null)]
    [InlineData("http://proxy.example.test:80", ProxyKind.Http, "proxy.example.test:80", null, null)]
    [InlineData("http://bob:p%3Aw%40d@[::1]:80/", ProxyKind.Http, "[::1]:80", "bob", "p:w@d")]
    [InlineData("http://bob:pw@[::1]", ProxyKind.Http, "[::1]:1080", "bob", "pw")]
    [InlineData("HTTP://PROXY.example.test:8080", ProxyKind.Http, "proxy.example.test:8080", null, null)]
    public void FromUri_ProxyUri_ReadsKindHostPortAndCredentials(string uri, ProxyKind kind, string text, string? user, string? password)
    {
        var proxy = Socks5Proxy.FromUri(new Uri(uri));

        Assert.Equal(kind, proxy.Kind);
        Assert.Equal(text, proxy.ToString());
        Assert.Equal(user, proxy.Credential?.UserName);
        Assert.Equal(password, proxy.Credential?.Password);
    }

    [Theory]
    [InlineData("https://127.0.0.1:8080")]
    [InlineData("socks6://127.0.0.1:1080")]
    [InlineData("ftp://127.0.0.1:21")]
    [InlineData("file:///tmp/proxy")]
    public void FromUri_OtherScheme_Throws(string uri)
    {
        Assert.Throws<ArgumentException>(() => Socks5Proxy.FromUri(new Uri(uri)));
    }

    [Theory]
    [InlineData("socks5h://alice@127.0.0.1")]        // RFC 1929 has no empty password
    [InlineData("http://alice@127.0.0.1")]           // nor has the codec's Basic
    [InlineData("http://a%3Ab:pw@127.0.0.1")]        // RFC 7617: no colon in a Basic user-id
    [InlineData("socks4a://a%00b@127.0.0.1")]        // USERID ends at NUL
    public void FromUri_CredentialsOutOfRangeForTheKind_Throws(string uri)
    {
        Assert.Throws<ArgumentException>(() => Socks5Proxy.FromUri(new Uri(uri)));
    }

    [Fact]
    public void Constructor_WithoutKind_IsSocks5()
    {
        Assert.Equal(ProxyKind.Socks5, new Socks5Proxy("127.0.0.1", 1080).Kind);
        Assert.Equal(ProxyKind.Socks5, new Socks5Proxy(new IPEndPoint(IPAddress.Loopback, 1080)).Kind);
        Assert.Equal(ProxyKind.Socks5, new Socks5Proxy("127.0.0.1", 1080, "alice", "secret").Kind);
    }

    [Fact]
    public void Constructor_Socks4aWithUserOnly_TakesIt()
    {
        var proxy = new Socks5Proxy(ProxyKind.Socks4a, new IPEndPoint(IPAddress.Loopback, 1080), new NetworkCredential("alice", ""));

        Assert.Equal(ProxyKind.Socks4a, proxy.Kind);
        Assert.Equal("127.0.0.1:1080", proxy.ToString());
        Assert.Equal("alice", proxy.Credential!.UserName);
    }

    [Fact]
    public void Constructor_UndefinedKind_Throws()
    {
        Assert.Throws<ArgumentException>(() => new Socks5Proxy((ProxyKind)7, "127.0.0.1", 1080));
    }

    [Fact]
    public void Constructor_IPEndPoint_UsesItsAddressAndPort()
    {
        var proxy = new Socks5Proxy(new IPEndPoint(IPAddress.IPv6Loopback, 1080));

        Assert.Equal("::1", proxy.Host);
        Assert.Equal(1080, proxy.Port);
    }
}
