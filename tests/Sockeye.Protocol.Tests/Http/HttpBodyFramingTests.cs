using Sockeye.Protocol.Http;
using static Sockeye.Protocol.Tests.Http.HttpParse;

namespace Sockeye.Protocol.Tests.Http;

public class HttpBodyFramingTests
{
    private static (HttpBodyKind Kind, long Length, HttpParseError Error) RequestFraming(string fields, int minor = 1)
    {
        HttpRequestHead head = Request($"POST http://a/ HTTP/1.{minor}\r\n{fields}\r\n");
        bool ok = head.TryGetBodyFraming(out HttpBodyFraming framing, out HttpParseError error);
        Assert.True(ok == (error == HttpParseError.None), "success and error disagree");
        return (framing.Kind, framing.ContentLength, error);
    }

    private static (HttpBodyKind Kind, long Length, HttpParseError Error) ResponseFraming(string statusAndFields, string method = "GET", int minor = 1)
    {
        HttpResponseHead head = Response($"HTTP/1.{minor} {statusAndFields}\r\n");
        bool ok = head.TryGetBodyFraming(method, out HttpBodyFraming framing, out HttpParseError error);
        Assert.True(ok == (error == HttpParseError.None), "success and error disagree");
        return (framing.Kind, framing.ContentLength, error);
    }

    [Theory]
    [InlineData("", HttpBodyKind.None, 0)]
    [InlineData("Content-Length: 0\r\n", HttpBodyKind.ContentLength, 0)]
    [InlineData("Content-Length: 42\r\n", HttpBodyKind.ContentLength, 42)]
    [InlineData("content-length: 5, 5\r\n", HttpBodyKind.ContentLength, 5)]
    [InlineData("Content-Length: 5\r\nContent-Length: 5\r\n", HttpBodyKind.ContentLength, 5)]
    [InlineData("Content-Length: 007\r\n", HttpBodyKind.ContentLength, 7)]
    [InlineData("Content-Length: 9223372036854775807\r\n", HttpBodyKind.ContentLength, long.MaxValue)]
    [InlineData("Transfer-Encoding: chunked\r\n", HttpBodyKind.Chunked, 0)]
    [InlineData("Transfer-Encoding: CHUNKED\r\n", HttpBodyKind.Chunked, 0)]
    [InlineData("Transfer-Encoding: gzip, chunked\r\n", HttpBodyKind.Chunked, 0)]
    [InlineData("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", HttpBodyKind.Chunked, 0)]
    [InlineData("Transfer-Encoding: ,chunked,\r\n", HttpBodyKind.Chunked, 0)]
    public void Request_Framing(string fields, HttpBodyKind kind, long length) =>
        Assert.Equal((kind, length, HttpParseError.None), RequestFraming(fields));

    [Theory]
    [InlineData("Content-Length: 5, 6\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("Content-Length: 5\r\nContent-Length: 6\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("Content-Length: -1\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("Content-Length: +1\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("Content-Length: 0x10\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("Content-Length: 1 2\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("Content-Length: 5,\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("Content-Length:\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("Content-Length: 9223372036854775808\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("Content-Length: 99999999999999999999999\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("Transfer-Encoding: chunked\r\nContent-Length: x\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("Transfer-Encoding: gzip\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("Transfer-Encoding: chunked, gzip\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("Transfer-Encoding: chunked, chunked\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("Transfer-Encoding: xchunked\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("Transfer-Encoding: \"chunked\"\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("Transfer-Encoding:\r\n", HttpParseError.ConflictingFraming)]
    public void Request_BadFraming_Refused(string fields, HttpParseError error) => Assert.Equal(error, RequestFraming(fields).Error);

    [Fact]
    public void Request_TransferEncodingInHttp10_ConflictingFraming() =>
        Assert.Equal(HttpParseError.ConflictingFraming, RequestFraming("Transfer-Encoding: chunked\r\n", minor: 0).Error);

    [Fact]
    public void Request_ChunkedWithParameter_Chunked() =>
        Assert.Equal(HttpBodyKind.Chunked, RequestFraming("Transfer-Encoding: chunked;q=1\r\n").Kind);

    [Theory]
    [InlineData("200 OK\r\nContent-Length: 5\r\n", "HEAD", HttpBodyKind.None, 0)]
    [InlineData("200 OK\r\nTransfer-Encoding: chunked\r\n", "HEAD", HttpBodyKind.None, 0)]
    [InlineData("100 Continue\r\n", "GET", HttpBodyKind.None, 0)]
    [InlineData("103 Early Hints\r\nLink: </a.css>\r\n", "GET", HttpBodyKind.None, 0)]
    [InlineData("204 No Content\r\nContent-Length: 5\r\n", "GET", HttpBodyKind.None, 0)]
    [InlineData("304 Not Modified\r\nContent-Length: 5\r\n", "GET", HttpBodyKind.None, 0)]
    [InlineData("200 Connection established\r\n", "CONNECT", HttpBodyKind.None, 0)]
    [InlineData("407 Proxy Authentication Required\r\nContent-Length: 3\r\n", "CONNECT", HttpBodyKind.ContentLength, 3)]
    [InlineData("200 OK\r\nTransfer-Encoding: chunked\r\n", "GET", HttpBodyKind.Chunked, 0)]
    [InlineData("200 OK\r\nTransfer-Encoding: gzip\r\n", "GET", HttpBodyKind.UntilClose, 0)]
    [InlineData("200 OK\r\nTransfer-Encoding: chunked, gzip\r\n", "GET", HttpBodyKind.UntilClose, 0)]
    [InlineData("200 OK\r\nContent-Length: 12\r\n", "GET", HttpBodyKind.ContentLength, 12)]
    [InlineData("200 OK\r\n", "GET", HttpBodyKind.UntilClose, 0)]
    [InlineData("404 Not Found\r\nContent-Length: 0\r\n", "POST", HttpBodyKind.ContentLength, 0)]
    [InlineData("500 \r\n", "GET", HttpBodyKind.UntilClose, 0)]
    public void Response_Framing(string statusAndFields, string method, HttpBodyKind kind, long length) =>
        Assert.Equal((kind, length, HttpParseError.None), ResponseFraming(statusAndFields, method));

    [Theory]
    [InlineData("200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("200 OK\r\nTransfer-Encoding: chunked, chunked\r\n", HttpParseError.ConflictingFraming)]
    [InlineData("200 OK\r\nTransfer-Encoding: \r\n", HttpParseError.ConflictingFraming)]
    [InlineData("200 OK\r\nContent-Length: 1, 2\r\n", HttpParseError.InvalidContentLength)]
    [InlineData("200 OK\r\nContent-Length: abc\r\n", HttpParseError.InvalidContentLength)]
    public void Response_BadFraming_Refused(string statusAndFields, HttpParseError error) =>
        Assert.Equal(error, ResponseFraming(statusAndFields).Error);

    [Fact]
    public void Response_TransferEncodingInHttp10_ConflictingFraming() =>
        Assert.Equal(HttpParseError.ConflictingFraming, ResponseFraming("200 OK\r\nTransfer-Encoding: chunked\r\n", minor: 0).Error);

    [Fact]
    public void Response_NullMethod_Throws() =>
        Assert.Throws<ArgumentNullException>(() => Response("HTTP/1.1 200 OK\r\n\r\n").TryGetBodyFraming(null!, out _, out _));
}
