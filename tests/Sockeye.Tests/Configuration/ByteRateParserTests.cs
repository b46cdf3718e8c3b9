using Sockeye.Configuration;

namespace Sockeye.Tests.Configuration;

public class ByteRateParserTests
{
    public static TheoryData<string, long> ValidRates => new()
    {
        { "0", 0 },
        { "65536", 65536 },
        { "512k", 512 * 1024 },
        { "512K", 512 * 1024 },
        { "10M", 10L << 20 },
        { "10m", 10L << 20 },
        { "1G", 1L << 30 },
        { "1.5M", 3L << 19 },
        { "10MiB", 10L << 20 },
        { "64KiB", 64 * 1024 },
        { "2048B", 2048 },
        { "10M/s", 10L << 20 },
        { " 1 m ", 1L << 20 },
    };

    [Theory]
    [MemberData(nameof(ValidRates))]
    public void TryParse_ValidText_ReturnsBytesPerSecond(string text, long expected)
    {
        Assert.True(ByteRateParser.TryParse(text, out long rate, out string problem), problem);
        Assert.Equal(expected, rate);
    }

    [Theory]
    [InlineData("")]
    [InlineData("fast")]
    [InlineData("10T")]
    [InlineData("-5M")]
    [InlineData("k")]
    [InlineData("1,5M")]
    [InlineData("99999999999G")]
    public void TryParse_Garbage_Refused(string text) => Assert.False(ByteRateParser.TryParse(text, out _, out _));

    [Theory]
    [InlineData("10MB")]
    [InlineData("512kb")]
    [InlineData("1GB")]
    public void TryParse_DecimalLookingSuffix_RefusedAsAmbiguous(string text)
    {
        Assert.False(ByteRateParser.TryParse(text, out _, out string problem));
        Assert.Contains("ambiguous", problem, StringComparison.Ordinal);
    }
}
