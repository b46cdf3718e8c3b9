using System.Net;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;
using Sockeye.Protocol.Udp;

namespace Sockeye.Protocol.Tests.Udp;

public class Socks5UdpHeaderTests
{
    /// <summary>Valid datagrams: the header, the payload, then FRAG, ATYP, DST.ADDR as text and DST.PORT.</summary>
    public static TheoryData<string, string, byte, Socks5AddressType, string, ushort> Valid => new()
    {
        { "0000 00 01 C0000201 0035", "DEADBEEF", 0, Socks5AddressType.IPv4, "192.0.2.1", 53 },
        { "0000 00 04 20010DB8000000000000000000000001 0035", "01", 0, Socks5AddressType.IPv6, "2001:db8::1", 53 },
        { "0000 00 03 0B " + Hex.Utf8("example.com") + " 0050", "", 0, Socks5AddressType.DomainName, "example.com", 80 },
        { "0000 00 03 FF " + Hex.Utf8(new string('d', 255)) + " 0050", "00", 0, Socks5AddressType.DomainName, new string('d', 255), 80 },
        { "0000 01 01 0A000001 1234", "AA", 1, Socks5AddressType.IPv4, "10.0.0.1", 0x1234 },
        { "0000 81 04 00000000000000000000000000000001 FFFF", "CAFE", 0x81, Socks5AddressType.IPv6, "::1", 65535 },
    };

    public static TheoryData<string> ValidHeaders => [.. Valid.Select(row => (string)row[0])];

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidDatagram_ReadsHeaderAndWritesSameBytes(string headerHex, string payloadHex, byte fragment, Socks5AddressType addressType, string address, ushort port)
    {
        byte[] header = Hex.Parse(headerHex);
        byte[] datagram = [.. header, .. Hex.Parse(payloadHex)];

        Assert.True(Socks5UdpHeader.TryParse(datagram, out Socks5UdpHeader parsed, out int headerLength, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.None, error);
        Assert.Equal(header.Length, headerLength);
        Assert.Equal(payloadHex, Hex.Format(datagram.AsSpan(headerLength)));
        Assert.Equal(fragment, parsed.Fragment);
        Assert.Equal(addressType, parsed.AddressType);
        Assert.Equal(port, parsed.Port);
        Socks5Address destination = parsed.GetDestination();
        Assert.Equal(addressType, destination.Type);
        Assert.Equal(address, destination.ToString());
        Assert.Equal(header.Length, Socks5UdpHeader.GetLength(destination));

        var written = new byte[Socks5Limits.MaxUdpHeaderLength];
        int length = Socks5UdpHeader.Write(written, parsed.Fragment, destination, parsed.Port);
        Assert.Equal(header, written[..length]);
    }

    [Theory]
    [InlineData("0000 00 01 C0000201 0035", "C0000201")]
    [InlineData("0000 00 03 0B " + "6578616D706C652E636F6D" + " 0050", "6578616D706C652E636F6D")]
    public void TryParse_ValidDatagram_AddressBytesAreTheWireBytes(string headerHex, string addressHex)
    {
        Assert.True(Socks5UdpHeader.TryParse(Hex.Parse(headerHex), out Socks5UdpHeader parsed, out _, out _));

        Assert.Equal(addressHex, Hex.Format(parsed.AddressBytes));
    }

    [Fact]
    public void TryParse_ReservedBytesNotZero_AreAccepted()
    {
        Assert.True(Socks5UdpHeader.TryParse(Hex.Parse("FFFF 00 01 C0000201 0035"), out Socks5UdpHeader parsed, out int headerLength, out _));

        Assert.Equal(10, headerLength);
        Assert.Equal(53, parsed.Port);
    }

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void TryParse_DatagramTruncatedAtEachPoint_ReportsTruncatedDatagram(string headerHex)
    {
        byte[] header = Hex.Parse(headerHex);
        for (int length = 0; length < header.Length; length++)
        {
            bool parsed = Socks5UdpHeader.TryParse(header.AsSpan(0, length), out _, out int headerLength, out Socks5ParseError error);

            Assert.False(parsed, $"parsed the first {length} bytes");
            Assert.True(error == Socks5ParseError.TruncatedDatagram, $"first {length} bytes: {error}");
            Assert.Equal(0, headerLength);
        }
    }

    [Theory]
    [InlineData("00")]
    [InlineData("02")]
    [InlineData("05")]
    [InlineData("FF")]
    public void TryParse_UnknownAddressType_ReportsUnknownAddressType(string addressType)
    {
        Assert.False(Socks5UdpHeader.TryParse(Hex.Parse($"0000 00 {addressType} C0000201 0035 AA"), out _, out _, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.UnknownAddressType, error);
    }

    [Fact]
    public void TryParse_ZeroLengthDomain_ReportsEmptyDomainName()
    {
        Assert.False(Socks5UdpHeader.TryParse(Hex.Parse("0000 00 03 00 0035 AA"), out _, out _, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.EmptyDomainName, error);
    }

    [Fact]
    public void TryParse_DomainWithNul_ReportsInvalidDomainName()
    {
        Assert.False(Socks5UdpHeader.TryParse(Hex.Parse("0000 00 03 03 61 00 62 0035 AA"), out _, out _, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.InvalidDomainName, error);
    }

    [Fact]
    public void TryParse_DomainWithInvalidUtf8_ReportsInvalidDomainName()
    {
        Assert.False(Socks5UdpHeader.TryParse(Hex.Parse("0000 00 03 02 C3 28 0035 AA"), out _, out _, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.InvalidDomainName, error);
    }

    [Theory]
    [InlineData("192.0.2.1")]
    [InlineData("2001:db8::1")]
    [InlineData("example.com")]
    public void Write_DestinationTooShort_Throws(string text)
    {
        Socks5Address address = IPAddress.TryParse(text, out IPAddress? ip) ? Socks5Address.FromIPAddress(ip) : Socks5Address.FromDomainName(text);
        int length = Socks5UdpHeader.GetLength(address);

        Assert.Throws<ArgumentException>("destination", () => Socks5UdpHeader.Write(new byte[length - 1], 0, address, 53));
        Assert.Equal(length, Socks5UdpHeader.Write(new byte[length], 0, address, 53));
    }

    [Fact]
    public void TryParse_AfterWarmUp_AllocatesNothing()
    {
        byte[] v4 = Hex.Parse("0000 00 01 C0000201 0035 DEADBEEF");
        byte[] v6 = Hex.Parse("0000 00 04 20010DB8000000000000000000000001 0035 01");
        byte[] domain = Hex.Parse("0000 00 03 0B " + Hex.Utf8("example.com") + " 0050 00");
        int warmUp = ParseOnce(v4) + ParseOnce(v6) + ParseOnce(domain);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int headerBytes = ParseOnce(v4) + ParseOnce(v6) + ParseOnce(domain);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(10 + 22 + 18, headerBytes);
        Assert.Equal(warmUp, headerBytes);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Write_AfterWarmUp_AllocatesNothing()
    {
        Socks5Address v4 = Socks5Address.FromIPAddress(IPAddress.Parse("192.0.2.1"));
        Socks5Address v6 = Socks5Address.FromIPAddress(IPAddress.Parse("2001:db8::1"));
        Socks5Address domain = Socks5Address.FromDomainName("example.com");
        var destination = new byte[Socks5Limits.MaxUdpHeaderLength];
        Socks5UdpHeader.Write(destination, 0, v4, 53);
        Socks5UdpHeader.Write(destination, 0, v6, 53);
        Socks5UdpHeader.Write(destination, 0, domain, 53);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int written = Socks5UdpHeader.Write(destination, 0, v4, 53) + Socks5UdpHeader.Write(destination, 0, v6, 53) + Socks5UdpHeader.Write(destination, 0, domain, 53);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(10 + 22 + 18, written);
        Assert.Equal(0, allocated);
    }

    private static int ParseOnce(byte[] datagram) =>
        Socks5UdpHeader.TryParse(datagram, out Socks5UdpHeader header, out int headerLength, out _) && header.Port != 0 ? headerLength : -1;
}
