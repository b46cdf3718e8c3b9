using System.Buffers;
using Sockeye.Protocol.Http;
using static Sockeye.Protocol.Tests.Http.HttpParse;

namespace Sockeye.Protocol.Tests.Http;

public class HttpRequestHeadTests
{
    /// <summary>What real clients send to a proxy (captured from curl 7.88.1, git 2.39 over libcurl, .NET's HttpClient).</summary>
    public static TheoryData<string> RealRequests => new()
    {
        "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\nUser-Agent: curl/7.88.1\r\nProxy-Connection: Keep-Alive\r\n\r\n",
        "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n",
        "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nProxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n",
        "CONNECT github.com:443 HTTP/1.1\r\nHost: github.com:443\r\nUser-Agent: git/2.39.5\r\nProxy-Connection: Keep-Alive\r\n\r\n",
        "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n",
        "GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n",
        "POST http://example.com:8080/upload HTTP/1.1\r\nHost: example.com:8080\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 2\r\n\r\n",
        "GET http://example.com/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    };

    [Theory]
    [MemberData(nameof(RealRequests))]
    public void TryParse_RealClientRequest_ParsesAtEverySplitPointAndNeedsMoreUntilLastByte(string text) =>
        ParsesAtEverySplitAndNeedsMoreBefore(text, request: true);

    [Fact]
    public void TryParse_CurlConnect_GivesEveryPart()
    {
        const string text = "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\nUser-Agent: curl/7.88.1\r\nProxy-Connection: Keep-Alive\r\n\r\n";
        HttpRequestHead head = Request(text);

        Assert.Equal("CONNECT", head.Method);
        Assert.True(head.IsConnect);
        Assert.Equal("localhost:443", head.Target);
        Assert.Equal(1, head.MinorVersion);
        Assert.Equal(text.Length, head.Length);
        Assert.Equal(
            [new("Host", "localhost:443"), new("User-Agent", "curl/7.88.1"), new("Proxy-Connection", "Keep-Alive")],
            head.Fields);
        Assert.True(head.KeepAlive);
        Assert.Equal("curl/7.88.1", head.GetField("user-agent"));
        Assert.Null(head.GetField("Accept"));
        Assert.True(head.TryGetTarget(out HttpRequestTarget target, out _));
        Assert.Equal(new HttpRequestTarget("localhost", 443, ""), target);
        Assert.Equal("CONNECT localhost:443 HTTP/1.1", head.ToString());
    }

    [Fact]
    public void TryParse_BareLfLineEndings_Accepted()
    {
        HttpRequestHead head = Request("GET http://a/ HTTP/1.1\nHost: a\n\n");

        Assert.Equal("a", head.GetField("Host"));
        Assert.Equal(32, head.Length);
    }

    [Theory]
    [InlineData("\r\nGET http://a/ HTTP/1.1\r\n\r\n", 2)]
    [InlineData("\n\r\n\n\r\nGET http://a/ HTTP/1.1\r\n\r\n", 6)]
    public void TryParse_LeadingEmptyLines_SkippedAndCounted(string text, int leading)
    {
        HttpRequestHead head = Request(text);

        Assert.Equal("GET", head.Method);
        Assert.Equal(leading + 26, head.Length);
    }

    [Fact]
    public void TryParse_FiveLeadingEmptyLines_Malformed() =>
        Rejects("\r\n\r\n\r\n\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n", request: true, HttpParseError.Malformed);

    [Fact]
    public void TryParse_ValueWhitespaceAndObsText_TrimmedAndKeptAsLatin1()
    {
        HttpRequestHead head = Request("GET http://a/ HTTP/1.1\r\nX-A: \t caf\xe9 au lait \t\r\nX-Empty:\r\nX-Spaces:   \r\n\r\n");

        Assert.Equal("caf\u00e9 au lait", head.GetField("x-a"));
        Assert.Equal("", head.GetField("X-Empty"));
        Assert.Equal("", head.GetField("X-Spaces"));
    }

    [Fact]
    public void TryParse_RepeatedField_FirstReturnedAllKept()
    {
        HttpRequestHead head = Request("GET http://a/ HTTP/1.1\r\nVia: 1.0 one\r\nvia: 1.1 two\r\n\r\n");

        Assert.Equal("1.0 one", head.GetField("VIA"));
        Assert.Equal(2, head.Fields.Count);
    }

    [Fact]
    public void TryParse_PipelinedBytes_LeftUnread()
    {
        byte[] bytes = Bytes("POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET");
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        Assert.True(HttpRequestHead.TryParse(ref reader, HttpHeadLimits.Default, out HttpRequestHead? head, out _));
        Assert.Equal(head.Length, reader.Consumed);
        Assert.Equal("helloGET"u8.ToArray(), reader.UnreadSequence.ToArray());
    }

    [Fact]
    public void TryParse_Empty_NeedsMore() => Assert.Equal(new HeadOutcome(false, HttpParseError.None, 0, ""), RequestOutcome([], HttpHeadLimits.Default));

    [Theory]
    [InlineData("GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n")] // whitespace before the colon (RFC 9112 §5.1)
    [InlineData("GET http://a/ HTTP/1.1\r\nHost\t: a\r\n\r\n")]
    [InlineData("GET http://a/ HTTP/1.1\r\nX-A: 1\r\n continued\r\n\r\n")] // obs-fold
    [InlineData("GET http://a/ HTTP/1.1\r\n Host: a\r\n\r\n")] // whitespace before the first field
    [InlineData("GET http://a/ HTTP/1.1\r\nX-A: 1\r2\r\n\r\n")] // bare CR in a value
    [InlineData("GET http://a/ HTTP/1.1\rHost: a\r\n\r\n")] // bare CR ending a line
    [InlineData("GET http://a/ HTTP/1.1\r\n\rX")] // bare CR where the head ends
    [InlineData("GET http://a/ HTTP/1.1\r\nX-A: a\0b\r\n\r\n")] // NUL
    [InlineData("GET http://a/ HTTP/1.1\r\nX-A: a\x7f\r\n\r\n")] // DEL
    [InlineData("GET http://a/ HTTP/1.1\r\nX-A: a\x01\r\n\r\n")]
    [InlineData("GET http://a/ HTTP/1.1\r\nX(A): 1\r\n\r\n")] // not a token
    [InlineData("GET http://a/ HTTP/1.1\r\nX\xe9: 1\r\n\r\n")]
    [InlineData("GET http://a/ HTTP/1.1\r\n: no name\r\n\r\n")]
    [InlineData("GET http://a/ HTTP/1.1\r\nNoColon\r\n\r\n")]
    [InlineData("GET  http://a/ HTTP/1.1\r\n\r\n")] // two spaces
    [InlineData("GET http://a/  HTTP/1.1\r\n\r\n")]
    [InlineData(" GET http://a/ HTTP/1.1\r\n\r\n")]
    [InlineData("GET\thttp://a/ HTTP/1.1\r\n\r\n")] // HTAB is not a separator in a strict request line
    [InlineData("GET http://a/\xe9 HTTP/1.1\r\n\r\n")] // non-ASCII target
    [InlineData("GET http://a/ HTTP/1.1 \r\n\r\n")]
    [InlineData("GET http://a/\r\n\r\n")] // HTTP/0.9
    [InlineData("GET http://a/ http/1.1\r\n\r\n")] // the version is case-sensitive
    [InlineData("GET http://a/ HTTP/11\r\n\r\n")]
    [InlineData("GET http://a/ HTTP/1.1.1\r\n\r\n")]
    [InlineData("G(T http://a/ HTTP/1.1\r\n\r\n")]
    [InlineData("GET\r\n\r\n")]
    [InlineData("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")] // a TLS ClientHello: refused at its first byte
    [InlineData("\x05\x01\x00")] // a SOCKS5 greeting
    [InlineData("<html")] // not a token: refused before the line ends
    public void TryParse_BrokenGrammar_Malformed(string text) => Rejects(text, request: true, HttpParseError.Malformed);

    [Theory]
    [InlineData("G")]
    [InlineData("GET")]
    [InlineData("GET ")]
    [InlineData("GET <not checked until the line ends>")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public void TryParse_StartOfAPossibleRequestLine_NeedsMore(string text) => Assert.Equal(HttpParseError.None, RequestError(text));

    [Theory]
    [InlineData("GET http://a/ HTTP/2.0\r\n\r\n")]
    [InlineData("GET http://a/ HTTP/1.2\r\n\r\n")]
    [InlineData("GET http://a/ HTTP/0.9\r\n\r\n")]
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")] // the HTTP/2 preface
    public void TryParse_OtherVersion_UnsupportedVersion(string text) => Rejects(text, request: true, HttpParseError.UnsupportedVersion);

    [Fact]
    public void TryParse_RequestLineAtItsLimit_Accepted()
    {
        var limits = new HttpHeadLimits(32, 1024, 10);
        string line = "GET http://a/" + new string('x', 32 - 24) + " HTTP/1.1\r\n";
        Assert.Equal(32, line.Length);

        Assert.Equal(HttpParseError.None, RequestError(line + "\r\n", limits));
        Assert.True(RequestOutcome(Bytes(line + "\r\n"), limits).Parsed);
    }

    [Fact]
    public void TryParse_RequestLineOneByteOverItsLimit_TooLongAsSoonAsTheLimitArrives()
    {
        var limits = new HttpHeadLimits(32, 1024, 10);
        string line = "GET http://a/" + new string('x', 32 - 23) + " HTTP/1.1\r\n";

        Rejects(line + "\r\n", request: true, HttpParseError.RequestLineTooLong, limits);
        // A client dripping an endless line is refused at the 32nd byte, not later.
        Assert.Equal(HttpParseError.None, RequestError(new string('A', 31), limits));
        Assert.Equal(HttpParseError.RequestLineTooLong, RequestError(new string('A', 32), limits));
        // The CR is in, its LF would be the 33rd byte.
        Assert.Equal(HttpParseError.RequestLineTooLong, RequestError(line[..32], limits));
    }

    [Fact]
    public void TryParse_LimitBreachedInsideAnInvalidLine_TheEarlierByteDecides()
    {
        var limits = new HttpHeadLimits(16, 1024, 10);

        Assert.Equal(HttpParseError.Malformed, RequestError("GET \0" + new string('x', 40), limits));
        Assert.Equal(HttpParseError.RequestLineTooLong, RequestError(new string('x', 16) + "\0", limits));
    }

    [Fact]
    public void TryParse_HeadPastItsLimit_HeadTooLargeAsSoonAsTheLimitArrives()
    {
        var limits = new HttpHeadLimits(64, 64, 10);
        string head = "GET http://a/ HTTP/1.1\r\nX-A: " + new string('v', 64) + "\r\n\r\n";

        Rejects(head, request: true, HttpParseError.HeadTooLarge, limits);
        Assert.Equal(HttpParseError.None, RequestError(head[..63], limits));
        Assert.Equal(HttpParseError.HeadTooLarge, RequestError(head[..64], limits));
    }

    [Fact]
    public void TryParse_HeadExactlyAtItsLimit_Accepted()
    {
        string head = "GET http://a/ HTTP/1.1\r\nX-A: 1\r\n\r\n";
        var limits = new HttpHeadLimits(64, head.Length, 10);

        Assert.Equal(head.Length, Request(head, limits).Length);
        Rejects(head, request: true, HttpParseError.HeadTooLarge, limits with { MaxHeadLength = head.Length - 1 });
    }

    [Fact]
    public void TryParse_RequestLineLongerThanTheHeadLimit_HeadTooLarge()
    {
        var limits = new HttpHeadLimits(1024, 20, 10);

        Assert.Equal(HttpParseError.HeadTooLarge, RequestError("GET http://a/" + new string('x', 40), limits));
    }

    [Fact]
    public void TryParse_FieldCount_LimitedAtTheFirstFieldTooMany()
    {
        var limits = new HttpHeadLimits(1024, 4096, 3);
        const string three = "GET http://a/ HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n";

        Assert.Equal(3, Request(three + "\r\n", limits).Fields.Count);
        Rejects(three + "D: 4\r\n\r\n", request: true, HttpParseError.HeadTooLarge, limits);
        Assert.Equal(HttpParseError.HeadTooLarge, RequestError(three + "D", limits));
        Assert.Equal(HttpParseError.None, RequestError(three + "\r", limits));
    }

    [Fact]
    public void TryParse_IncompleteOrRefused_AllocatesNothing()
    {
        // A client dripping its head is parsed once per read: the attempts before the head is whole must cost no garbage.
        byte[] partialBytes = Bytes("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88.1\r\n");
        var partial = new ReadOnlySequence<byte>(partialBytes);
        var refused = new ReadOnlySequence<byte>(Bytes("GET http://example.com/ HTTP/1.1\r\nHost : example.com\r\n\r\n"));
        ReadOnlySequence<byte> split = TestSupport.Sequences.SplitAt(partialBytes, 10);
        Parse(partial);
        Parse(refused);
        Parse(split);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            Parse(partial);
            Parse(refused);
            Parse(split);
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());

        static void Parse(ReadOnlySequence<byte> bytes)
        {
            var reader = new SequenceReader<byte>(bytes);
            Assert.False(HttpRequestHead.TryParse(ref reader, HttpHeadLimits.Default, out _, out _));
        }
    }

    [Fact]
    public void TryParse_LimitsOfZero_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(static () =>
        {
            var reader = new SequenceReader<byte>(ReadOnlySequence<byte>.Empty);
            return HttpRequestHead.TryParse(ref reader, default, out _, out _);
        });
    }

    [Theory]
    [InlineData("GET http://a/ HTTP/1.1\r\n\r\n", true)]
    [InlineData("GET http://a/ HTTP/1.1\r\nConnection: close\r\n\r\n", false)]
    [InlineData("GET http://a/ HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n", false)]
    [InlineData("GET http://a/ HTTP/1.1\r\nProxy-Connection: close\r\n\r\n", false)]
    [InlineData("GET http://a/ HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false)]
    [InlineData("GET http://a/ HTTP/1.1\r\nConnection: closed\r\n\r\n", true)]
    [InlineData("GET http://a/ HTTP/1.0\r\n\r\n", false)]
    [InlineData("GET http://a/ HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true)]
    [InlineData("GET http://a/ HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n", true)]
    [InlineData("GET http://a/ HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false)]
    [InlineData("GET http://a/ HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", false)]
    public void KeepAlive_FollowsRfc9112Section9_3(string text, bool keepAlive) => Assert.Equal(keepAlive, Request(text).KeepAlive);

    [Theory]
    [InlineData("connect")]
    [InlineData("Connect")]
    public void IsConnect_MethodIsCaseSensitive(string method) => Assert.False(Request($"{method} a:1 HTTP/1.1\r\n\r\n").IsConnect);

    [Fact]
    public void TryParse_UnusualMethod_KeptAsSent() => Assert.Equal("M-SEARCH", Request("M-SEARCH http://a/ HTTP/1.1\r\n\r\n").Method);

    [Fact]
    public void Write_ParsedHead_WritesItBackWithCrlf()
    {
        HttpRequestHead head = Request("\r\nGET http://a/ HTTP/1.0\nX-A:  1 \nB:\n\n");

        Assert.Equal("GET http://a/ HTTP/1.0\r\nX-A: 1\r\nB: \r\n\r\n", System.Text.Encoding.Latin1.GetString(Write(head)));
    }

    [Fact]
    public void Create_ThenWrite_ParsesToTheSameHead()
    {
        HttpRequestHead created = HttpRequestHead.Create("PUT", "http://a:8080/x?y", 0, [new("Content-Length", "3"), new("X", "caf\u00e9")]);
        byte[] written = Write(created);
        HttpRequestHead parsed = Request(System.Text.Encoding.Latin1.GetString(written));

        Assert.Equal(written.Length, created.Length);
        Assert.Equal(Summarize(created), Summarize(parsed));
    }

    [Theory]
    [InlineData("G T", "/", 1)]
    [InlineData("", "/", 1)]
    [InlineData("GET", "", 1)]
    [InlineData("GET", "/a b", 1)]
    [InlineData("GET", "/\u00e9", 1)]
    public void Create_InvalidLine_Throws(string method, string target, int minor) =>
        Assert.ThrowsAny<ArgumentException>(() => HttpRequestHead.Create(method, target, minor, []));

    [Theory]
    [InlineData(-1)]
    [InlineData(2)]
    public void Create_OtherVersion_Throws(int minor) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => HttpRequestHead.Create("GET", "/", minor, []));

    [Theory]
    [InlineData("Bad Name", "v")]
    [InlineData("", "v")]
    [InlineData("X", "a\r\nInjected: 1")]
    [InlineData("X", " leading")]
    [InlineData("X", "trailing\t")]
    [InlineData("X", "\u0100")]
    [InlineData("X", "nul\0")]
    public void Create_InvalidField_Throws(string name, string value) =>
        Assert.Throws<ArgumentException>(() => HttpRequestHead.Create("GET", "/", 1, [new(name, value)]));
}
