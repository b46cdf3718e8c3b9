using Sockeye.Protocol.Http;
using static Sockeye.Protocol.Tests.Http.HttpParse;

namespace Sockeye.Protocol.Tests.Http;

public class HttpResponseHeadTests
{
    public static TheoryData<string> RealResponses => new()
    {
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: 1256\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://example.com/\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: nginx\r\n\r\n",
        "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nDate: Sat, 05 Dec 2026 03:00:00 GMT\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 404 \r\n\r\n",
        "\r\nHTTP/1.1 204 No Content\r\n\r\n",
    };

    [Theory]
    [MemberData(nameof(RealResponses))]
    public void TryParse_RealResponse_ParsesAtEverySplitPointAndNeedsMoreUntilLastByte(string text) =>
        ParsesAtEverySplitAndNeedsMoreBefore(text, request: false);

    [Fact]
    public void TryParse_Response_GivesEveryPart()
    {
        const string text = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        HttpResponseHead head = Response(text);

        Assert.Equal(1, head.MinorVersion);
        Assert.Equal(404, head.StatusCode);
        Assert.Equal("Not Found", head.ReasonPhrase);
        Assert.Equal([new("Content-Length", "0"), new("Connection", "close")], head.Fields);
        Assert.Equal(text.Length, head.Length);
        Assert.False(head.KeepAlive);
        Assert.False(head.IsInterim);
        Assert.Equal("0", head.GetField("CONTENT-LENGTH"));
        Assert.Equal("HTTP/1.1 404 Not Found", head.ToString());
    }

    [Theory]
    [InlineData("HTTP/1.1 200\r\n\r\n", "")]
    [InlineData("HTTP/1.1 200 \r\n\r\n", "")]
    [InlineData("HTTP/1.1 200  Spaced  out \r\n\r\n", " Spaced  out ")]
    [InlineData("HTTP/1.1 200 Tr\xe8s\tbien\r\n\r\n", "Tr\u00e8s\tbien")]
    public void TryParse_ReasonPhrase_KeptAsSent(string text, string reason) => Assert.Equal(reason, Response(text).ReasonPhrase);

    [Theory]
    [InlineData("HTTP/1.1 100 Continue\r\n\r\n", true)]
    [InlineData("HTTP/1.1 103 Early Hints\r\n\r\n", true)]
    [InlineData("HTTP/1.1 101 Switching Protocols\r\n\r\n", false)]
    [InlineData("HTTP/1.1 200 OK\r\n\r\n", false)]
    [InlineData("HTTP/1.1 199 Odd\r\n\r\n", true)]
    public void IsInterim_1xxExcept101(string text, bool interim) => Assert.Equal(interim, Response(text).IsInterim);

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\n\r\n", true)]
    [InlineData("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false)]
    [InlineData("HTTP/1.1 200 OK\r\nProxy-Connection: close\r\n\r\n", true)] // responses: Connection only
    [InlineData("HTTP/1.0 200 OK\r\n\r\n", false)]
    [InlineData("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", true)]
    public void KeepAlive_ConnectionOnly(string text, bool keepAlive) => Assert.Equal(keepAlive, Response(text).KeepAlive);

    [Theory]
    [InlineData("HTTP/1.1 99 Low\r\n\r\n")]
    [InlineData("HTTP/1.1 099 Low\r\n\r\n")]
    [InlineData("HTTP/1.1 2000 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 20 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 2x0 OK\r\n\r\n")]
    [InlineData("HTTP/1.1  200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1\t200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 200\tOK\r\n\r\n")]
    [InlineData("HTTP/1.1 200 O\0K\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\rX\r\n\r\n")]
    [InlineData("http/1.1 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1\r\n\r\n")]
    [InlineData("HTTP/1.\r\n\r\n")]
    [InlineData("ICY 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nSet-Cookie : a=b\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX-A: 1\r\n\tfolded\r\n\r\n")]
    [InlineData("<html>")]
    [InlineData("HTTPS")]
    [InlineData("SSH-2.0-OpenSSH_9.2")]
    public void TryParse_BrokenGrammar_Malformed(string text) => Rejects(text, request: false, HttpParseError.Malformed);

    [Theory]
    [InlineData("H")]
    [InlineData("HTTP/")]
    [InlineData("HTTP/9")]
    public void TryParse_StartOfAPossibleStatusLine_NeedsMore(string text) => Assert.Equal(HttpParseError.None, ResponseError(text));

    [Theory]
    [InlineData("HTTP/2.0 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.2 200 OK\r\n\r\n")]
    public void TryParse_OtherVersion_UnsupportedVersion(string text) => Rejects(text, request: false, HttpParseError.UnsupportedVersion);

    [Fact]
    public void TryParse_StatusLinePastTheLineLimit_TooLong()
    {
        var limits = new HttpHeadLimits(20, 1024, 10);

        Rejects("HTTP/1.1 200 " + new string('x', 20) + "\r\n\r\n", request: false, HttpParseError.RequestLineTooLong, limits);
    }

    [Fact]
    public void TryParse_TooManyFields_HeadTooLarge() =>
        Rejects("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", request: false, HttpParseError.HeadTooLarge, new HttpHeadLimits(1024, 1024, 1));

    [Fact]
    public void Create_ThenWrite_ParsesToTheSameHead()
    {
        HttpResponseHead created = HttpResponseHead.Create(0, 599, "", [new("X", "y\u00ff")]);
        byte[] written = Write(created);

        Assert.Equal("HTTP/1.0 599 \r\nX: y\xff\r\n\r\n", System.Text.Encoding.Latin1.GetString(written));
        Assert.Equal(written.Length, created.Length);
        Assert.Equal(Summarize(created), Summarize(Response(System.Text.Encoding.Latin1.GetString(written))));
    }

    [Theory]
    [InlineData(2, 200, "OK")]
    [InlineData(1, 99, "OK")]
    [InlineData(1, 1000, "OK")]
    public void Create_OutOfRange_Throws(int minor, int status, string reason) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => HttpResponseHead.Create(minor, status, reason, []));

    [Theory]
    [InlineData("O\r\nK")]
    [InlineData("\u0100")]
    public void Create_BadReason_Throws(string reason) =>
        Assert.Throws<ArgumentException>(() => HttpResponseHead.Create(1, 200, reason, []));
}
