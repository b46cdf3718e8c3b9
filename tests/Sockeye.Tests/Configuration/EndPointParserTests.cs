using System.Net;
using Sockeye.Configuration;

namespace Sockeye.Tests.Configuration;

public class EndPointParserTests
{
    [Theory]
    [InlineData("127.0.0.1:1080", "127.0.0.1", 1080)]
    [InlineData("[::1]:1080", "::1", 1080)]
    [InlineData("localhost:1080", "127.0.0.1", 1080)]
    [InlineData("LocalHost:1080", "127.0.0.1", 1080)]
    [InlineData("*:1080", "0.0.0.0", 1080)]
    [InlineData("127.0.0.1:0", "127.0.0.1", 0)]
    [InlineData("[::]:65535", "::", 65535)]
    [InlineData(" 10.1.2.3:80 ", "10.1.2.3", 80)]
    public void TryParse_ValidEndPoint_ReturnsAddressAndPort(string text, string address, int port)
    {
        Assert.True(EndPointParser.TryParse(text, out IPEndPoint? endPoint, out string problem), problem);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), endPoint);
        Assert.Equal("", problem);
    }

    [Fact]
    public void TryParse_UnbracketedIPv6_ProblemMentionsBrackets()
    {
        Assert.False(EndPointParser.TryParse("::1:1080", out IPEndPoint? endPoint, out string problem));
        Assert.Null(endPoint);
        Assert.Contains("bracket", problem, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("127.0.0.1:99999", "99999")]
    [InlineData("127.0.0.1:-1", "-1")]
    [InlineData("127.0.0.1:", "127.0.0.1:")]
    [InlineData(":1080", ":1080")]
    [InlineData("host.example:80", "host.example")]
    [InlineData("[127.0.0.1]:80", "[127.0.0.1]")]
    [InlineData("[::1]", "[::1]")]
    public void TryParse_InvalidEndPoint_ProblemQuotesTheBadPart(string text, string quoted)
    {
        Assert.False(EndPointParser.TryParse(text, out IPEndPoint? endPoint, out string problem));
        Assert.Null(endPoint);
        Assert.Contains(quoted, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData(null)]
    public void TryParse_Empty_ProblemSaysEmpty(string? text)
    {
        Assert.False(EndPointParser.TryParse(text, out IPEndPoint? endPoint, out string problem));
        Assert.Null(endPoint);
        Assert.Contains("empty", problem, StringComparison.Ordinal);
    }
}
