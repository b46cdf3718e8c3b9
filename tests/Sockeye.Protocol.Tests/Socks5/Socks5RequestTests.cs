using System.Buffers;
using System.Net;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Socks5;

public class Socks5RequestTests
{
    // The parser with its message discarded, for the split-point harness.
    private static bool Parse(ref SequenceReader<byte> reader, out Socks5ParseError error) =>
        Socks5Request.TryParse(ref reader, out _, out error);

    private static string LongestName => new('a', 255);

    /// <summary>Valid requests: the bytes, then CMD, ATYP, DST.ADDR as text and DST.PORT.</summary>
    public static TheoryData<string, Socks5Command, Socks5AddressType, string, ushort> Valid => new()
    {
        { "05 01 00 01 C0000201 0050", Socks5Command.Connect, Socks5AddressType.IPv4, "192.0.2.1", 80 },
        { "05 01 00 04 20010DB8000000000000000000000001 01BB", Socks5Command.Connect, Socks5AddressType.IPv6, "2001:db8::1", 443 },
        { "05 01 00 03 0B " + Hex.Utf8("example.com") + " 01BB", Socks5Command.Connect, Socks5AddressType.DomainName, "example.com", 443 },
        { "05 01 00 03 0A " + Hex.Utf8("bücher.de") + " 0050", Socks5Command.Connect, Socks5AddressType.DomainName, "bücher.de", 80 },
        { "05 01 00 03 01 61 FFFF", Socks5Command.Connect, Socks5AddressType.DomainName, "a", 65535 },
        { "05 01 00 03 FF " + Hex.Utf8(LongestName) + " 0016", Socks5Command.Connect, Socks5AddressType.DomainName, LongestName, 22 },
        { "05 02 00 01 00000000 0000", Socks5Command.Bind, Socks5AddressType.IPv4, "0.0.0.0", 0 },
        { "05 02 00 04 00000000000000000000000000000001 1F90", Socks5Command.Bind, Socks5AddressType.IPv6, "::1", 8080 },
        { "05 02 00 03 09 " + Hex.Utf8("localhost") + " 0015", Socks5Command.Bind, Socks5AddressType.DomainName, "localhost", 21 },
        { "05 03 00 01 0A000001 D431", Socks5Command.UdpAssociate, Socks5AddressType.IPv4, "10.0.0.1", 54321 },
        { "05 03 00 04 00000000000000000000000000000000 0000", Socks5Command.UdpAssociate, Socks5AddressType.IPv6, "::", 0 },
        { "05 03 00 03 0B " + Hex.Utf8("example.org") + " 0035", Socks5Command.UdpAssociate, Socks5AddressType.DomainName, "example.org", 53 },
    };

    public static TheoryData<string> ValidHex => [.. Valid.Select(row => (string)row[0])];

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidRequest_ReadsFieldsAndWritesSameBytes(string hex, Socks5Command command, Socks5AddressType addressType, string address, ushort port)
    {
        byte[] bytes = Hex.Parse(hex);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        Assert.True(Socks5Request.TryParse(ref reader, out Socks5Request request, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.None, error);
        Assert.Equal(bytes.Length, reader.Consumed);
        Assert.Equal(command, request.Command);
        Assert.Equal(addressType, request.Destination.Type);
        Assert.Equal(address, request.Destination.ToString());
        Assert.Equal(port, request.Port);
        Assert.Equal(bytes.Length, request.WireLength);

        var written = new byte[Socks5Request.MaxLength];
        int length = request.Write(written);
        Assert.Equal(bytes, written[..length]);
    }

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidRequest_ParsesAtEverySplitPoint(string hex) =>
        ParserAssert.ParsesAtEverySplitPoint(Hex.Parse(hex), Parse);

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidRequestPrefix_NeedsMoreUntilLastByte(string hex) =>
        ParserAssert.NeedsMoreUntilLastByte(Hex.Parse(hex), Parse);

    [Fact]
    public void TryParse_DomainSplitAcrossSegments_NeedsMoreUntilLastByte()
    {
        byte[] request = Hex.Parse("05 01 00 03 0B " + Hex.Utf8("example.com") + " 01BB");
        for (int received = 0; received <= request.Length; received++)
        {
            // The domain's bytes straddle a segment boundary at every position in turn.
            var reader = new SequenceReader<byte>(Sequences.Create(request[..Math.Min(received, 8)], request[Math.Min(received, 8)..received]));
            bool parsed = Socks5Request.TryParse(ref reader, out Socks5Request parsedRequest, out Socks5ParseError error);

            Assert.Equal(Socks5ParseError.None, error);
            Assert.Equal(received == request.Length, parsed);
            Assert.Equal(parsed ? request.Length : 0, reader.Consumed);
            if (parsed)
            {
                Assert.Equal("example.com", parsedRequest.Destination.DomainName);
            }
        }
    }

    // Found by the socks5-request fuzz target (issue 22): the constant once said 10, an IPv4 request's length.
    [Fact]
    public void MinRequestLength_IsTheLengthOfAOneByteDomainRequest()
    {
        byte[] bytes = Hex.Parse("05 01 00 03 01 61 0050");
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        Assert.True(Socks5Request.TryParse(ref reader, out _, out _));

        Assert.Equal(Socks5Limits.MinRequestLength, reader.Consumed);
    }

    [Fact]
    public void TryParse_ReservedByteNotZero_IsAccepted()
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Hex.Parse("05 01 FF 01 C0000201 0050")));

        Assert.True(Socks5Request.TryParse(ref reader, out Socks5Request request, out _));
        Assert.Equal(Socks5Command.Connect, request.Command);
    }

    [Fact]
    public void TryParse_WrongVersion_ReportsUnsupportedVersion() =>
        ParserAssert.Rejects(Hex.Parse("04 01 00 01 C0000201 0050"), Parse, Socks5ParseError.UnsupportedVersion);

    [Fact]
    public void TryParse_WrongVersionByteAlone_ReportsUnsupportedVersionWithoutWaiting() =>
        ParserAssert.Rejects(Hex.Parse("04"), Parse, Socks5ParseError.UnsupportedVersion);

    [Theory]
    [InlineData("00")]
    [InlineData("04")]
    [InlineData("FF")]
    public void TryParse_UnknownCommand_ReportsUnknownCommand(string command) =>
        ParserAssert.Rejects(Hex.Parse($"05 {command} 00 01 C0000201 0050"), Parse, Socks5ParseError.UnknownCommand);

    [Theory]
    [InlineData("00")]
    [InlineData("04")]
    public void TryParse_UnknownCommandByteAlone_ReportsUnknownCommandWithoutWaiting(string command) =>
        ParserAssert.Rejects(Hex.Parse($"05 {command}"), Parse, Socks5ParseError.UnknownCommand);

    [Theory]
    [InlineData("00")]
    [InlineData("02")]
    [InlineData("05")]
    [InlineData("FF")]
    public void TryParse_UnknownAddressType_ReportsUnknownAddressType(string addressType) =>
        ParserAssert.Rejects(Hex.Parse($"05 01 00 {addressType} C0000201 0050"), Parse, Socks5ParseError.UnknownAddressType);

    [Theory]
    [InlineData("02")]
    [InlineData("05")]
    public void TryParse_UnknownAddressTypeByteAlone_ReportsUnknownAddressTypeWithoutWaiting(string addressType) =>
        ParserAssert.Rejects(Hex.Parse($"05 01 00 {addressType}"), Parse, Socks5ParseError.UnknownAddressType);

    [Fact]
    public void TryParse_ZeroLengthDomain_ReportsEmptyDomainName() =>
        ParserAssert.Rejects(Hex.Parse("05 01 00 03 00 0050"), Parse, Socks5ParseError.EmptyDomainName);

    [Fact]
    public void TryParse_ZeroLengthByteAlone_ReportsEmptyDomainNameWithoutWaiting() =>
        ParserAssert.Rejects(Hex.Parse("05 01 00 03 00"), Parse, Socks5ParseError.EmptyDomainName);

    [Theory]
    [InlineData("03 61 00 62")]
    [InlineData("01 00")]
    [InlineData("04 61 62 63 00")]
    public void TryParse_DomainWithNul_ReportsInvalidDomainName(string lengthAndName) =>
        ParserAssert.Rejects(Hex.Parse($"05 01 00 03 {lengthAndName} 0050"), Parse, Socks5ParseError.InvalidDomainName);

    [Theory]
    [InlineData("02 C3 28")] // a lead byte followed by a non-continuation byte
    [InlineData("01 FF")] // never valid in UTF-8
    [InlineData("01 80")] // a lone continuation byte
    [InlineData("02 C0 AF")] // an overlong encoding of '/'
    [InlineData("03 ED A0 80")] // an encoded UTF-16 surrogate
    [InlineData("02 61 C3")] // a sequence cut short by the length byte
    public void TryParse_DomainWithInvalidUtf8_ReportsInvalidDomainName(string lengthAndName) =>
        ParserAssert.Rejects(Hex.Parse($"05 01 00 03 {lengthAndName} 0050"), Parse, Socks5ParseError.InvalidDomainName);

    [Fact]
    public void TryParse_InvalidDomainBeforePortArrives_ReportsInvalidDomainName() =>
        ParserAssert.Rejects(Hex.Parse("05 01 00 03 03 61 00 62"), Parse, Socks5ParseError.InvalidDomainName);

    public static TheoryData<Socks5Command, string, ushort> Constructed => new()
    {
        { Socks5Command.Connect, "192.0.2.1", 80 },
        { Socks5Command.Bind, "2001:db8::1", 443 },
        { Socks5Command.UdpAssociate, "::ffff:192.0.2.1", 53 },
        { Socks5Command.Connect, "example.com", 443 },
    };

    [Theory]
    [MemberData(nameof(Constructed))]
    public void Write_ConstructedRequest_RoundTripsThroughParser(Socks5Command command, string address, ushort port)
    {
        Socks5Address destination = IPAddress.TryParse(address, out IPAddress? ip) ? Socks5Address.FromIPAddress(ip) : Socks5Address.FromDomainName(address);
        var request = new Socks5Request(command, destination, port);
        var written = new byte[Socks5Request.MaxLength];
        int length = request.Write(written);

        Assert.Equal(request.WireLength, length);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(written, 0, length));
        Assert.True(Socks5Request.TryParse(ref reader, out Socks5Request parsed, out _));
        Assert.Equal(request, parsed);
    }

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void Write_DestinationTooShort_Throws(string hex)
    {
        byte[] bytes = Hex.Parse(hex);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        Assert.True(Socks5Request.TryParse(ref reader, out Socks5Request request, out _));

        Assert.Throws<ArgumentException>("destination", () => request.Write(new byte[bytes.Length - 1]));
        Assert.Equal(bytes.Length, request.Write(new byte[bytes.Length]));
    }

    [Theory]
    [InlineData("example.com", " example.com:443")]
    [InlineData("2001:db8::1", " [2001:db8::1]:443")]
    public void ToString_Request_EndsWithDestinationAndPort(string address, string expectedEnd)
    {
        Socks5Address destination = IPAddress.TryParse(address, out IPAddress? ip) ? Socks5Address.FromIPAddress(ip) : Socks5Address.FromDomainName(address);

        Assert.EndsWith(expectedEnd, new Socks5Request(Socks5Command.Connect, destination, 443).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_IPDestinationsAfterWarmUp_AllocateNothing()
    {
        var v4 = new ReadOnlySequence<byte>(Hex.Parse("05 01 00 01 C0000201 0050"));
        var v6 = new ReadOnlySequence<byte>(Hex.Parse("05 01 00 04 20010DB8000000000000000000000001 01BB"));
        ParseOnce(v4);
        ParseOnce(v6);

        long before = GC.GetAllocatedBytesForCurrentThread();
        bool parsedV4 = ParseOnce(v4);
        bool parsedV6 = ParseOnce(v6);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(parsedV4);
        Assert.True(parsedV6);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Write_AfterWarmUp_AllocatesNothing()
    {
        var v4 = new Socks5Request(Socks5Command.Connect, Socks5Address.FromIPAddress(IPAddress.Parse("192.0.2.1")), 80);
        var v6 = new Socks5Request(Socks5Command.Bind, Socks5Address.FromIPAddress(IPAddress.IPv6Loopback), 80);
        var domain = new Socks5Request(Socks5Command.UdpAssociate, Socks5Address.FromDomainName("example.com"), 443);
        var destination = new byte[Socks5Request.MaxLength];
        v4.Write(destination);
        v6.Write(destination);
        domain.Write(destination);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int written = v4.Write(destination) + v6.Write(destination) + domain.Write(destination);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(10 + 22 + 18, written);
        Assert.Equal(0, allocated);
    }

    private static bool ParseOnce(ReadOnlySequence<byte> sequence)
    {
        var reader = new SequenceReader<byte>(sequence);
        return Socks5Request.TryParse(ref reader, out _, out _);
    }
}
