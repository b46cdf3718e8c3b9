using Sockeye.Configuration;

namespace Sockeye.Tests.Configuration;

public class DurationParserTests
{
    public static TheoryData<string, TimeSpan> ValidDurations => new()
    {
        { "250ms", TimeSpan.FromMilliseconds(250) },
        { "10s", TimeSpan.FromSeconds(10) },
        { "5m", TimeSpan.FromMinutes(5) },
        { "1h", TimeSpan.FromHours(1) },
        { "10", TimeSpan.FromSeconds(10) },
        { "1.5s", TimeSpan.FromMilliseconds(1500) },
        { "00:05:00", TimeSpan.FromMinutes(5) },
        { "0", TimeSpan.Zero },
        { "30S", TimeSpan.FromSeconds(30) },
        { " 2m ", TimeSpan.FromMinutes(2) },
        { "100us", TimeSpan.FromMicroseconds(100) },
        { "100µs", TimeSpan.FromMicroseconds(100) },
        { "0.1ms", TimeSpan.FromMicroseconds(100) },
        { "1500us", TimeSpan.FromMilliseconds(1.5) },
        { "0us", TimeSpan.Zero },
    };

    [Theory]
    [MemberData(nameof(ValidDurations))]
    public void TryParse_ValidText_ReturnsDuration(string text, TimeSpan expected)
    {
        Assert.True(DurationParser.TryParse(text, out TimeSpan duration));
        Assert.Equal(expected, duration);
    }

    [Fact]
    public void TryParse_BareNumber_MeansSecondsNotDays()
    {
        Assert.True(DurationParser.TryParse("10", out TimeSpan duration));
        Assert.NotEqual(TimeSpan.FromDays(10), duration);
        Assert.Equal(TimeSpan.FromSeconds(10), duration);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(null)]
    [InlineData("5x")]
    [InlineData("-1s")]
    [InlineData("abc")]
    [InlineData("s")]
    [InlineData("ms")]
    [InlineData("us")]
    [InlineData("-5us")]
    [InlineData("-00:05:00")]
    [InlineData("1e3s")]
    [InlineData("99999999999h")]
    public void TryParse_InvalidText_ReturnsFalse(string? text)
    {
        Assert.False(DurationParser.TryParse(text, out _));
    }
}
