using System.Buffers;
using System.Text;
using Sockeye.Protocol.Http;
using static Sockeye.Protocol.Tests.Http.HttpParse;

namespace Sockeye.Protocol.Tests.Http;

public class HttpProxyMessagesTests
{
    private static string Forward(string requestText, string? via = HttpProxyMessages.DefaultVia)
    {
        HttpRequestHead request = Request(requestText);
        Assert.True(request.TryGetTarget(out HttpRequestTarget target, out _));
        var output = new ArrayBufferWriter<byte>();
        int written = HttpProxyMessages.WriteForwardedRequest(request, target, via, output);
        Assert.Equal(output.WrittenCount, written);
        return Encoding.Latin1.GetString(output.WrittenSpan);
    }

    private static string ForwardResponse(string responseText, bool keepAlive, int clientMinor, string? via = null)
    {
        var output = new ArrayBufferWriter<byte>();
        int written = HttpProxyMessages.WriteForwardedResponse(Response(responseText), keepAlive, clientMinor, via, output);
        Assert.Equal(output.WrittenCount, written);
        return Encoding.Latin1.GetString(output.WrittenSpan);
    }

    [Fact]
    public void WriteForwardedRequest_CurlGet_OriginFormHostFirstHopByHopGoneViaLast() =>
        Assert.Equal(
            "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nVia: 1.1 sockeye\r\n\r\n",
            Forward("GET http://Example.com:80/index.html?q=1#top HTTP/1.1\r\nHost: example.com\r\nProxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n"));

    [Fact]
    public void WriteForwardedRequest_EveryHopByHopField_Removed() =>
        Assert.Equal(
            "POST / HTTP/1.1\r\nHost: a:8080\r\nContent-Length: 0\r\nX-Keep: 1\r\n\r\n",
            Forward(
                "POST http://a:8080 HTTP/1.0\r\nConnection: close, X-Secret\r\nconnection: x-other\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
                + "Proxy-Authorization: Basic x\r\nProxy-Authenticate: Basic\r\nTE: trailers\r\nUpgrade: websocket\r\nX-Secret: s\r\nX-Other: o\r\n"
                + "Content-Length: 0\r\nX-Keep: 1\r\nHost: wrong.example\r\nhost: wrong.again\r\n\r\n",
                via: null));

    [Fact]
    public void WriteForwardedRequest_Ipv6AndClientVia_BracketedAndViaAppended() =>
        Assert.Equal(
            "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\nVia: 1.0 upstream\r\nTransfer-Encoding: chunked\r\nVia: 1.1 sockeye\r\n\r\n",
            Forward("GET http://[2001:db8::1]:8080 HTTP/1.1\r\nVia: 1.0 upstream\r\nTransfer-Encoding: chunked\r\n\r\n"));

    [Fact]
    public void WriteForwardedRequest_ConnectTarget_Throws()
    {
        HttpRequestHead request = Request("CONNECT a:443 HTTP/1.1\r\n\r\n");
        Assert.True(request.TryGetTarget(out HttpRequestTarget target, out _));

        Assert.Throws<ArgumentException>(() => HttpProxyMessages.WriteForwardedRequest(request, target, null, new ArrayBufferWriter<byte>()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("1.1 a\r\nX: y")]
    [InlineData(" 1.1 a")]
    public void WriteForwardedRequest_BadVia_Throws(string via)
    {
        HttpRequestHead request = Request("GET http://a/ HTTP/1.1\r\n\r\n");
        Assert.True(request.TryGetTarget(out HttpRequestTarget target, out _));

        Assert.Throws<ArgumentException>(() => HttpProxyMessages.WriteForwardedRequest(request, target, via, new ArrayBufferWriter<byte>()));
    }

    [Fact]
    public void WriteForwardedRequest_BadHandMadeTarget_Throws()
    {
        HttpRequestHead request = Request("GET http://a/ HTTP/1.1\r\n\r\n");

        Assert.Throws<ArgumentException>(() => HttpProxyMessages.WriteForwardedRequest(request, new HttpRequestTarget("a", 80, "/x y"), null, new ArrayBufferWriter<byte>()));
        Assert.Throws<ArgumentException>(() => HttpProxyMessages.WriteForwardedRequest(request, new HttpRequestTarget("a\r\nX: y", 80, "/"), null, new ArrayBufferWriter<byte>()));
        Assert.Throws<ArgumentException>(() => HttpProxyMessages.WriteForwardedRequest(request, default, null, new ArrayBufferWriter<byte>()));
    }

    [Theory]
    [InlineData(true, 1, "")]
    [InlineData(false, 1, "Connection: close\r\n")]
    [InlineData(true, 0, "Connection: keep-alive\r\n")]
    [InlineData(false, 0, "Connection: close\r\n")]
    public void WriteForwardedResponse_ConnectionFollowsTheProxysDecision(bool keepAlive, int clientMinor, string connection) =>
        Assert.Equal(
            $"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 sockeye\r\n{connection}\r\n",
            ForwardResponse("HTTP/1.0 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nContent-Length: 2\r\nProxy-Authenticate: Basic\r\n\r\n", keepAlive, clientMinor, HttpProxyMessages.DefaultVia));

    [Fact]
    public void WriteForwardedResponse_EmptyReason_KeptEmpty() =>
        Assert.Equal("HTTP/1.1 204 \r\nUpgrade-Insecure: x\r\n\r\n", ForwardResponse("HTTP/1.1 204\r\nUpgrade-Insecure: x\r\nUpgrade: h2c\r\nTE: x\r\n\r\n", keepAlive: true, clientMinor: 1));

    [Theory]
    [InlineData(400, "Bad Request")]
    [InlineData(403, "Forbidden")]
    [InlineData(407, "Proxy Authentication Required")]
    [InlineData(414, "URI Too Long")]
    [InlineData(431, "Request Header Fields Too Large")]
    [InlineData(502, "Bad Gateway")]
    [InlineData(504, "Gateway Timeout")]
    [InlineData(505, "HTTP Version Not Supported")]
    public void WriteStatus_ProxyError_ParsesWithItsBody(int status, string reason)
    {
        Span<byte> buffer = stackalloc byte[HttpProxyMessages.MaxStatusLength];
        int length = HttpProxyMessages.WriteStatus(buffer, status);
        string body = $"{status} {reason}\n";

        Assert.Equal(
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}",
            Encoding.ASCII.GetString(buffer[..length]));
        Assert.Equal(reason, HttpProxyMessages.ReasonPhrase(status));
        HttpResponseHead head = Response(Encoding.ASCII.GetString(buffer[..length]));
        Assert.True(head.TryGetBodyFraming("GET", out HttpBodyFraming framing, out _));
        Assert.Equal(new HttpBodyFraming(HttpBodyKind.ContentLength, body.Length), framing);
        Assert.Equal(length, head.Length + body.Length);
        Assert.False(head.KeepAlive);
    }

    [Fact]
    public void WriteStatus_Realm_ChallengesWithTheRealmEscaped()
    {
        Span<byte> buffer = stackalloc byte[HttpProxyMessages.MaxStatusLength];
        int length = HttpProxyMessages.WriteStatus(buffer, 407, "say \"hi\" \\o/");
        HttpResponseHead head = Response(Encoding.ASCII.GetString(buffer[..length]));

        Assert.Equal("Basic realm=\"say \\\"hi\\\" \\\\o/\"", head.GetField("Proxy-Authenticate"));
    }

    [Fact]
    public void WriteStatus_LongestCase_FitsInMaxStatusLength()
    {
        Span<byte> buffer = stackalloc byte[HttpProxyMessages.MaxStatusLength];
        foreach (int status in new[] { 407, 431, 511, 505, 203 })
        {
            int length = HttpProxyMessages.WriteStatus(buffer, status, new string('"', HttpProxyMessages.MaxRealmLength));
            Assert.InRange(length, 1, HttpProxyMessages.MaxStatusLength);
        }
    }

    [Theory]
    [InlineData(199)]
    [InlineData(204)]
    [InlineData(304)]
    [InlineData(600)]
    public void WriteStatus_StatusWithoutABody_Throws(int status) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => HttpProxyMessages.WriteStatus(new byte[512], status));

    [Theory]
    [InlineData("tab\there")]
    [InlineData("caf\u00e9")]
    [InlineData("line\r\nbreak")]
    public void WriteStatus_UnprintableRealm_Throws(string realm) =>
        Assert.Throws<ArgumentException>(() => HttpProxyMessages.WriteStatus(new byte[512], 407, realm));

    [Fact]
    public void WriteStatus_RealmTooLongOrDestinationTooShort_Throws()
    {
        Assert.Throws<ArgumentException>(() => HttpProxyMessages.WriteStatus(new byte[512], 407, new string('r', HttpProxyMessages.MaxRealmLength + 1)));
        Assert.Throws<ArgumentException>(() => HttpProxyMessages.WriteStatus(new byte[100], 400));
    }

    [Fact]
    public void WriteConnectEstablished_WritesTheTunnelResponse()
    {
        Span<byte> buffer = stackalloc byte[64];
        int length = HttpProxyMessages.WriteConnectEstablished(buffer);

        Assert.Equal(HttpProxyMessages.ConnectEstablishedLength, length);
        Assert.Equal("HTTP/1.1 200 Connection established\r\n\r\n", Encoding.ASCII.GetString(buffer[..length]));
        Assert.True(Response("HTTP/1.1 200 Connection established\r\n\r\n").TryGetBodyFraming("CONNECT", out HttpBodyFraming framing, out _));
        Assert.Equal(HttpBodyKind.None, framing.Kind);
        Assert.Throws<ArgumentException>(() => HttpProxyMessages.WriteConnectEstablished(new byte[38]));
    }

    [Theory]
    [InlineData(200, "OK")]
    [InlineData(599, "")]
    [InlineData(418, "")]
    public void ReasonPhrase_StandardOrEmpty(int status, string reason) => Assert.Equal(reason, HttpProxyMessages.ReasonPhrase(status));

    [Theory]
    [InlineData(HttpParseError.Malformed, 400)]
    [InlineData(HttpParseError.RequestLineTooLong, 414)]
    [InlineData(HttpParseError.HeadTooLarge, 431)]
    [InlineData(HttpParseError.UnsupportedVersion, 505)]
    [InlineData(HttpParseError.InvalidContentLength, 400)]
    [InlineData(HttpParseError.ConflictingFraming, 400)]
    [InlineData(HttpParseError.MissingHost, 400)]
    [InlineData(HttpParseError.NotAProxyRequest, 400)]
    [InlineData(HttpParseError.UnsupportedScheme, 400)]
    [InlineData(HttpParseError.InvalidChunk, 400)]
    public void ToStatusCode_EveryError(HttpParseError error, int status) => Assert.Equal(status, error.ToStatusCode());

    [Fact]
    public void ToStatusCode_None_Throws() => Assert.Throws<ArgumentOutOfRangeException>(() => HttpParseError.None.ToStatusCode());
}
