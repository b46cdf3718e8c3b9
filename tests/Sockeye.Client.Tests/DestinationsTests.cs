using System.Net;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Tests;

public sealed class DestinationsTests
{
    [Theory]
    [InlineData("192.0.2.1", Socks5AddressType.IPv4, "192.0.2.1")]
    [InlineData("2001:db8::1", Socks5AddressType.IPv6, "2001:db8::1")]
    [InlineData("[2001:db8::1]", Socks5AddressType.IPv6, "2001:db8::1")]
    [InlineData("example.test", Socks5AddressType.DomainName, "example.test")]
    [InlineData("localhost", Socks5AddressType.DomainName, "localhost")]
    // The short and hex forms are IPv4 to inet_aton, the URL standard and System.Uri alike.
    [InlineData("0x7f.1", Socks5AddressType.IPv4, "127.0.0.1")]
    [InlineData("example.test.", Socks5AddressType.DomainName, "example.test.")]
    public void FromHost_Literal_IsAnAddressAndAnythingElseAName(string host, Socks5AddressType type, string text)
    {
        Socks5Address address = Destinations.FromHost(host, "host");

        Assert.Equal(type, address.Type);
        Assert.Equal(text, address.ToString());
    }

    [Fact]
    public void FromIPAddress_IPv4MappedIPv6_IsSentAsIPv4()
    {
        Socks5Address address = Destinations.FromIPAddress(IPAddress.Parse("::ffff:192.0.2.1"));

        Assert.Equal(Socks5AddressType.IPv4, address.Type);
        Assert.Equal("192.0.2.1", address.ToString());
    }

    [Fact]
    public void FromHost_NameLongerThan255Bytes_ThrowsNamingTheParameter()
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => Destinations.FromHost(new string('a', 256), "host"));

        Assert.Equal("host", e.ParamName);
    }
}
