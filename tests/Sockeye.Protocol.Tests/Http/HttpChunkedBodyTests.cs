using Sockeye.Protocol.Http;
using static Sockeye.Protocol.Tests.Http.HttpParse;

namespace Sockeye.Protocol.Tests.Http;

public class HttpChunkedBodyTests
{
    /// <summary>Feeds <paramref name="text"/> in one piece; returns (ok, consumed, complete).</summary>
    private static (bool Ok, int Consumed, bool Complete) Feed(string text, HttpChunkedBody body = default)
    {
        bool ok = body.TryAdvance(Bytes(text), out int consumed, out HttpParseError error);
        Assert.Equal(ok ? HttpParseError.None : HttpParseError.InvalidChunk, error);
        return (ok, consumed, body.IsComplete);
    }

    [Theory]
    [InlineData("0\r\n\r\n")]
    [InlineData("5\r\nhello\r\n0\r\n\r\n")]
    [InlineData("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")]
    [InlineData("A\r\n0123456789\r\n0\r\n\r\n")]
    [InlineData("a\r\n0123456789\r\n00000\r\n\r\n")]
    [InlineData("5;name=value\r\nhello\r\n0;last\r\n\r\n")]
    [InlineData("5 ; name=\"quoted value\"\r\nhello\r\n0\r\n\r\n")]
    [InlineData("5\t;ext\r\nhello\r\n0\r\n\r\n")]
    [InlineData("5\r\nhello\r\n0\r\nExpires: never\r\nX-Checksum: abc \r\n\r\n")]
    [InlineData("0000000000000000000000001\r\nx\r\n0\r\n\r\n")]
    [InlineData("2\r\n\r\n\r\n0\r\n\r\n")] // data that looks like CRLF
    public void TryAdvance_ValidBody_CompletesExactlyAtItsEndInAnySplit(string text)
    {
        Assert.Equal((true, text.Length, true), Feed(text));
        Assert.Equal((true, text.Length, true), Feed(text + "GET http://next/ HTTP/1.1\r\n"));
        byte[] bytes = Bytes(text);
        for (int split = 0; split <= bytes.Length; split++)
        {
            var body = new HttpChunkedBody();
            Assert.True(body.TryAdvance(bytes.AsSpan(0, split), out int first, out _));
            Assert.Equal(split, first);
            Assert.Equal(split == bytes.Length, body.IsComplete);
            Assert.True(body.TryAdvance(bytes.AsSpan(split), out int second, out _));
            Assert.Equal(bytes.Length - split, second);
            Assert.True(body.IsComplete);
        }

        var dripped = default(HttpChunkedBody);
        for (int i = 0; i < bytes.Length; i++)
        {
            Assert.False(dripped.IsComplete);
            Assert.True(dripped.TryAdvance(bytes.AsSpan(i, 1), out int one, out _));
            Assert.Equal(1, one);
        }

        Assert.True(dripped.IsComplete);
        Assert.True(dripped.TryAdvance("more"u8, out int after, out _));
        Assert.Equal(0, after);
    }

    [Theory]
    [InlineData("\r\n")] // no size
    [InlineData("g\r\n")]
    [InlineData("-1\r\n")]
    [InlineData("0x5\r\n")]
    [InlineData("5\nhello\r\n")] // bare LF after the size
    [InlineData("5\r\rhello")]
    [InlineData("5 \r\nhello\r\n")] // whitespace with no extension
    [InlineData("5;a\nb\r\nhello\r\n")] // a bare LF inside an extension: the classic desync
    [InlineData("5;a\0\r\nhello\r\n")]
    [InlineData("5\r\nhelloX\r\n")] // data longer than its size
    [InlineData("5\r\nhello\n0\r\n\r\n")] // bare LF after data
    [InlineData("5\r\nhello\rX")]
    [InlineData("10000000000000000\r\n")] // 2^64: past long
    [InlineData("8000000000000000\r\n")] // 2^63: past long by one
    [InlineData("0\r\n\n")] // bare LF ending the body
    [InlineData("0\r\n\rX")]
    [InlineData("0\r\n Folded: x\r\n\r\n")]
    [InlineData("0\r\nBad Name: x\r\n\r\n")]
    [InlineData("0\r\nNoColon\r\n\r\n")]
    [InlineData("0\r\nX: a\0\r\n\r\n")]
    [InlineData("0\r\nX: a\n\r\n")]
    public void TryAdvance_BrokenFraming_InvalidChunk(string text)
    {
        var body = default(HttpChunkedBody);
        Assert.False(body.TryAdvance(Bytes(text), out int consumed, out HttpParseError error));
        Assert.Equal(HttpParseError.InvalidChunk, error);
        Assert.Equal(0, consumed);
        Assert.False(body.IsComplete);
        // Broken for good: even nothing more fails.
        Assert.False(body.TryAdvance([], out _, out error));
        Assert.Equal(HttpParseError.InvalidChunk, error);
    }

    [Fact]
    public void TryAdvance_LargestSize_Accepted()
    {
        var body = default(HttpChunkedBody);

        Assert.True(body.TryAdvance("7fffffffffffffff\r\n"u8, out int consumed, out _));
        Assert.Equal(18, consumed);
        Assert.True(body.TryAdvance(new byte[100_000], out consumed, out _));
        Assert.Equal(100_000, consumed);
        Assert.False(body.IsComplete);
    }

    [Fact]
    public void TryAdvance_SizeLineAtItsLimit_AcceptedAndOneMoreRefused()
    {
        string line = "1;" + new string('x', 13) + "\r\n"; // 17 bytes
        Assert.True(Feed(line + "a\r\n0\r\n\r\n", new HttpChunkedBody(17, 64)).Complete);
        // Refused as soon as the 17th byte arrives (here the LF), not when the line ends.
        Assert.False(Feed(line, new HttpChunkedBody(16, 64)).Ok);
        Assert.True(Feed(line[..^1], new HttpChunkedBody(16, 64)).Ok);
        Assert.False(Feed(line[..^2] + "xx", new HttpChunkedBody(16, 64)).Ok);
    }

    [Fact]
    public void TryAdvance_TrailerAtItsLimit_AcceptedAndOneMoreRefused()
    {
        const string trailer = "X: 12345\r\n\r\n"; // 12 bytes
        Assert.True(Feed("0\r\n" + trailer, new HttpChunkedBody(16, 12)).Complete);
        Assert.False(Feed("0\r\n" + trailer, new HttpChunkedBody(16, 11)).Ok);
    }

    [Fact]
    public void TryAdvance_DefaultAndParameterless_UseTheDefaultLimits()
    {
        string longLine = "1;" + new string('x', HttpChunkedBody.DefaultMaxLineLength - 4) + "\r\n";
        Assert.True(Feed(longLine).Ok);
        Assert.False(Feed("1;" + new string('x', HttpChunkedBody.DefaultMaxLineLength)).Ok);
        Assert.False(Feed("1;" + new string('x', HttpChunkedBody.DefaultMaxLineLength), new HttpChunkedBody()).Ok);
    }

    [Theory]
    [InlineData(2, 16)]
    [InlineData(16, 1)]
    public void Constructor_LimitTooSmall_Throws(int line, int trailer) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new HttpChunkedBody(line, trailer));

    [Fact]
    public void TryAdvance_LargeData_AllocatesNothing()
    {
        byte[] chunk = Bytes("4000\r\n" + new string('x', 0x4000) + "\r\n");
        var body = default(HttpChunkedBody);
        Assert.True(body.TryAdvance(chunk, out _, out _));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            Assert.True(body.TryAdvance(chunk, out _, out _));
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
