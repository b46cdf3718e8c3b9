using System.Net;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Tests.Rules;

public sealed class DestinationPatternTests
{
    [Theory]
    [InlineData("10.0.0.0/8", "10.0.0.0/8")]
    [InlineData(" 192.0.2.7 ", "192.0.2.7/32")]
    [InlineData("2001:db8::/32", "2001:db8::/32")]
    [InlineData("::1", "::1/128")]
    [InlineData("::ffff:10.0.0.0/104", "10.0.0.0/8")]
    [InlineData("Example.COM.", "example.com")]
    [InlineData("*.example.com", "*.example.com")]
    [InlineData("_sip._udp.example.com", "_sip._udp.example.com")]
    public void TryParse_Valid_RoundTripsToCanonicalText(string text, string expected)
    {
        Assert.True(DestinationPattern.TryParse(text, out DestinationPattern? pattern, out string? error), error);
        Assert.Equal(expected, pattern!.ToString());
    }

    [Theory]
    [InlineData("", "is needed")]
    [InlineData("*", "leave destinations out")]
    [InlineData("10.0.0.5/8", "bits set after its /8 prefix (the network would be 10.0.0.0/8)")]
    [InlineData("10.0.0.0/33", "longer than 32 bits")]
    [InlineData("2001:db8::/129", "longer than 128 bits")]
    [InlineData("10.0.0.0/x", "is not a network")]
    [InlineData("exa mple.com", "is not a network")]
    [InlineData("*.", "is not a network")]
    [InlineData("a..b", "is not a network")]
    [InlineData("**.example.com", "is not a network")]
    public void TryParse_Invalid_SaysWhy(string text, string reason)
    {
        Assert.False(DestinationPattern.TryParse(text, out DestinationPattern? pattern, out string? error));
        Assert.Null(pattern);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Network_DoesNotMatchNames_AndNameDoesNotMatchAddresses()
    {
        Assert.True(DestinationPattern.TryParse("127.0.0.0/8", out DestinationPattern? network, out _));
        Assert.True(DestinationPattern.TryParse("localhost", out DestinationPattern? name, out _));

        Assert.False(network!.Matches("localhost"));
        Assert.False(name!.Matches(IPAddress.Loopback));
        Assert.True(network.Matches(IPAddress.Parse("::ffff:127.0.0.1")));
    }
}

public sealed class PortRangeTests
{
    [Theory]
    [InlineData("443", 443, 443)]
    [InlineData("0", 0, 0)]
    [InlineData("8000-8999", 8000, 8999)]
    [InlineData(" 1 - 1023 ", 1, 1023)]
    [InlineData("65535", 65535, 65535)]
    public void TryParse_Valid(string text, int first, int last)
    {
        Assert.True(PortRange.TryParse(text, out PortRange range, out string? error), error);
        Assert.Equal(new PortRange((ushort)first, (ushort)last), range);
    }

    [Theory]
    [InlineData("", "is needed")]
    [InlineData("65536", "is not a port")]
    [InlineData("-1", "is not a port")]
    [InlineData("http", "is not a port")]
    [InlineData("90-80", "empty range")]
    [InlineData("1-2-3", "is not a port")]
    public void TryParse_Invalid_SaysWhy(string text, string reason)
    {
        Assert.False(PortRange.TryParse(text, out _, out string? error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Contains_IsInclusive()
    {
        var range = new PortRange(10, 20);

        Assert.True(range.Contains(10));
        Assert.True(range.Contains(20));
        Assert.False(range.Contains(9));
        Assert.False(range.Contains(21));
    }
}
