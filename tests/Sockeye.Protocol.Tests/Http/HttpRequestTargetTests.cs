using Sockeye.Protocol.Http;
using static Sockeye.Protocol.Tests.Http.HttpParse;

namespace Sockeye.Protocol.Tests.Http;

public class HttpRequestTargetTests
{
    private static (bool Ok, HttpRequestTarget Target, HttpParseError Error) Get(string method, string target)
    {
        HttpRequestHead head = Request($"{method} {target} HTTP/1.1\r\n\r\n");
        bool ok = head.TryGetTarget(out HttpRequestTarget result, out HttpParseError error);
        Assert.True(ok == (error == HttpParseError.None), "success and error disagree");
        return (ok, result, error);
    }

    [Theory]
    [InlineData("localhost:443", "localhost", 443)]
    [InlineData("Example.COM:80", "example.com", 80)]
    [InlineData("192.0.2.1:8080", "192.0.2.1", 8080)]
    [InlineData("[2001:DB8::1]:443", "2001:db8::1", 443)]
    [InlineData("[::ffff:192.0.2.1]:443", "::ffff:192.0.2.1", 443)]
    [InlineData("xn--bcher-kva.example:65535", "xn--bcher-kva.example", 65535)]
    [InlineData("a:00443", "a", 443)]
    public void TryGetTarget_ConnectAuthority_HostAndPort(string target, string host, int port) =>
        Assert.Equal((true, new HttpRequestTarget(host, (ushort)port, ""), HttpParseError.None), Get("CONNECT", target));

    [Theory]
    [InlineData("example.com", HttpParseError.MissingHost)] // no port
    [InlineData("example.com:", HttpParseError.MissingHost)]
    [InlineData(":443", HttpParseError.MissingHost)]
    [InlineData("example.com:0", HttpParseError.MissingHost)]
    [InlineData("example.com:65536", HttpParseError.MissingHost)]
    [InlineData("example.com:443443", HttpParseError.MissingHost)]
    [InlineData("example.com:-1", HttpParseError.MissingHost)]
    [InlineData("example.com:44a", HttpParseError.MissingHost)]
    [InlineData("[::1]", HttpParseError.MissingHost)]
    [InlineData("[::1]:", HttpParseError.MissingHost)]
    [InlineData("::1:443", HttpParseError.MissingHost)] // an unbracketed IPv6 address reads as host ":" then a bad port
    [InlineData("user@example.com:443", HttpParseError.Malformed)]
    [InlineData("[::1]x:443", HttpParseError.Malformed)]
    [InlineData("[::1:443", HttpParseError.Malformed)]
    [InlineData("[192.0.2.1]:443", HttpParseError.Malformed)]
    [InlineData("[fe80::1%25eth0]:443", HttpParseError.Malformed)]
    [InlineData("[v1.x]:443", HttpParseError.Malformed)]
    [InlineData("exa_mple.com:443", HttpParseError.None)]
    [InlineData("exa\"mple.com:443", HttpParseError.Malformed)]
    [InlineData("example.com:443/path", HttpParseError.MissingHost)]
    [InlineData("http://example.com:443", HttpParseError.MissingHost)]
    [InlineData("/path", HttpParseError.Malformed)]
    public void TryGetTarget_ConnectAuthority_RefusedWithItsError(string target, HttpParseError error) =>
        Assert.Equal(error, Get("CONNECT", target).Error);

    [Theory]
    [InlineData("http://example.com", "example.com", 80, "/")]
    [InlineData("http://example.com/", "example.com", 80, "/")]
    [InlineData("HTTP://EXAMPLE.com:8080/A/b?C=d#frag", "example.com", 8080, "/A/b?C=d")]
    [InlineData("http://example.com?q", "example.com", 80, "/?q")]
    [InlineData("http://example.com#f", "example.com", 80, "/")]
    [InlineData("http://[::1]/x", "::1", 80, "/x")]
    [InlineData("http://[::1]:81/x", "::1", 81, "/x")]
    [InlineData("http://192.0.2.1:80/", "192.0.2.1", 80, "/")]
    [InlineData("http://a%41b.example/", "a%41b.example", 80, "/")]
    [InlineData("http://a/%zz", "a", 80, "/%zz")] // the path goes on as sent; the origin judges it
    public void TryGetTarget_AbsoluteForm_HostPortAndPath(string target, string host, int port, string path) =>
        Assert.Equal((true, new HttpRequestTarget(host, (ushort)port, path), HttpParseError.None), Get("GET", target));

    [Theory]
    [InlineData("/index.html", HttpParseError.NotAProxyRequest)]
    [InlineData("*", HttpParseError.NotAProxyRequest)]
    [InlineData("https://example.com/", HttpParseError.UnsupportedScheme)]
    [InlineData("ftp://example.com/", HttpParseError.UnsupportedScheme)]
    [InlineData("ws://example.com/", HttpParseError.UnsupportedScheme)]
    [InlineData("httpx://example.com/", HttpParseError.UnsupportedScheme)]
    [InlineData("http:/example.com/", HttpParseError.Malformed)]
    [InlineData("http:example.com", HttpParseError.Malformed)]
    [InlineData("example.com:80", HttpParseError.UnsupportedScheme)] // a scheme "example.com"
    [InlineData("example.com", HttpParseError.Malformed)]
    [InlineData("1http://a/", HttpParseError.Malformed)]
    [InlineData("ht_tp://a/", HttpParseError.Malformed)]
    [InlineData(":80", HttpParseError.Malformed)]
    [InlineData("http:///path", HttpParseError.MissingHost)]
    [InlineData("http://:80/", HttpParseError.MissingHost)]
    [InlineData("http://a:/", HttpParseError.MissingHost)]
    [InlineData("http://a:0/", HttpParseError.MissingHost)]
    [InlineData("http://a:99999/", HttpParseError.MissingHost)]
    [InlineData("http://user:pass@a/", HttpParseError.Malformed)]
    [InlineData("http://user@a/", HttpParseError.Malformed)]
    [InlineData("http://a%4/", HttpParseError.Malformed)]
    [InlineData("http://a%/", HttpParseError.Malformed)]
    [InlineData("http://[::1/", HttpParseError.Malformed)]
    [InlineData("http://a<b/", HttpParseError.Malformed)]
    public void TryGetTarget_AbsoluteForm_RefusedWithItsError(string target, HttpParseError error) =>
        Assert.Equal(error, Get("GET", target).Error);

    [Fact]
    public void TryGetTarget_HostOf255Bytes_AcceptedAnd256Refused()
    {
        string host = string.Join('.', Enumerable.Repeat(new string('a', 63), 4))[..255];

        Assert.Equal(host, Get("GET", $"http://{host}/").Target.Host);
        Assert.Equal(HttpParseError.Malformed, Get("GET", $"http://{host}a/").Error);
        Assert.Equal(HttpParseError.Malformed, Get("CONNECT", $"{host}a:443").Error);
    }

    [Theory]
    [InlineData("example.com", 80, "example.com")]
    [InlineData("example.com", 8080, "example.com:8080")]
    [InlineData("::1", 80, "[::1]")]
    [InlineData("2001:db8::1", 443, "[2001:db8::1]:443")]
    public void Authority_BracketsIpv6AndOmitsPort80(string host, int port, string authority) =>
        Assert.Equal(authority, new HttpRequestTarget(host, (ushort)port, "/").Authority);
}
