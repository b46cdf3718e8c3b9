using System.Buffers;
using System.Net;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Socks5;

public class Socks5ReplyTests
{
    // The parser with its message discarded, for the split-point harness.
    private static bool Parse(ref SequenceReader<byte> reader, out Socks5ParseError error) =>
        Socks5Reply.TryParse(ref reader, out _, out error);

    /// <summary>Valid replies: the bytes, then REP, ATYP, BND.ADDR as text and BND.PORT.</summary>
    public static TheoryData<string, Socks5ReplyCode, Socks5AddressType, string, ushort> Valid => new()
    {
        { "05 00 00 01 7F000001 1F90", Socks5ReplyCode.Succeeded, Socks5AddressType.IPv4, "127.0.0.1", 8080 },
        { "05 00 00 04 00000000000000000000000000000001 0050", Socks5ReplyCode.Succeeded, Socks5AddressType.IPv6, "::1", 80 },
        { "05 00 00 03 09 " + Hex.Utf8("localhost") + " 0438", Socks5ReplyCode.Succeeded, Socks5AddressType.DomainName, "localhost", 1080 },
        { "05 01 00 01 00000000 0000", Socks5ReplyCode.GeneralFailure, Socks5AddressType.IPv4, "0.0.0.0", 0 },
        { "05 02 00 01 00000000 0000", Socks5ReplyCode.ConnectionNotAllowed, Socks5AddressType.IPv4, "0.0.0.0", 0 },
        { "05 04 00 04 20010DB8000000000000000000000001 0000", Socks5ReplyCode.HostUnreachable, Socks5AddressType.IPv6, "2001:db8::1", 0 },
        { "05 05 00 01 C0000201 01BB", Socks5ReplyCode.ConnectionRefused, Socks5AddressType.IPv4, "192.0.2.1", 443 },
        { "05 06 00 01 00000000 0000", Socks5ReplyCode.TtlExpired, Socks5AddressType.IPv4, "0.0.0.0", 0 },
        { "05 07 00 01 00000000 0000", Socks5ReplyCode.CommandNotSupported, Socks5AddressType.IPv4, "0.0.0.0", 0 },
        { "05 08 00 03 0B " + Hex.Utf8("example.com") + " 0000", Socks5ReplyCode.AddressTypeNotSupported, Socks5AddressType.DomainName, "example.com", 0 },
        { "05 09 00 01 00000000 0000", (Socks5ReplyCode)0x09, Socks5AddressType.IPv4, "0.0.0.0", 0 },
    };

    public static TheoryData<string> ValidHex => [.. Valid.Select(row => (string)row[0])];

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidReply_ReadsFieldsAndWritesSameBytes(string hex, Socks5ReplyCode code, Socks5AddressType addressType, string address, ushort port)
    {
        byte[] bytes = Hex.Parse(hex);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        Assert.True(Socks5Reply.TryParse(ref reader, out Socks5Reply reply, out Socks5ParseError error));

        Assert.Equal(Socks5ParseError.None, error);
        Assert.Equal(bytes.Length, reader.Consumed);
        Assert.Equal(code, reply.ReplyCode);
        Assert.Equal(addressType, reply.Bound.Type);
        Assert.Equal(address, reply.Bound.ToString());
        Assert.Equal(port, reply.Port);
        Assert.Equal(bytes.Length, reply.WireLength);

        var written = new byte[Socks5Reply.MaxLength];
        int length = reply.Write(written);
        Assert.Equal(bytes, written[..length]);
    }

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidReply_ParsesAtEverySplitPoint(string hex) =>
        ParserAssert.ParsesAtEverySplitPoint(Hex.Parse(hex), Parse);

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidReplyPrefix_NeedsMoreUntilLastByte(string hex) =>
        ParserAssert.NeedsMoreUntilLastByte(Hex.Parse(hex), Parse);

    [Fact]
    public void TryParse_WrongVersion_ReportsUnsupportedVersion() =>
        ParserAssert.Rejects(Hex.Parse("04 00 00 01 7F000001 1F90"), Parse, Socks5ParseError.UnsupportedVersion);

    [Fact]
    public void TryParse_WrongVersionByteAlone_ReportsUnsupportedVersionWithoutWaiting() =>
        ParserAssert.Rejects(Hex.Parse("00"), Parse, Socks5ParseError.UnsupportedVersion);

    [Theory]
    [InlineData("02")]
    [InlineData("05")]
    public void TryParse_UnknownAddressType_ReportsUnknownAddressTypeWithoutWaiting(string addressType) =>
        ParserAssert.Rejects(Hex.Parse($"05 00 00 {addressType}"), Parse, Socks5ParseError.UnknownAddressType);

    [Fact]
    public void TryParse_ZeroLengthDomain_ReportsEmptyDomainName() =>
        ParserAssert.Rejects(Hex.Parse("05 00 00 03 00 0050"), Parse, Socks5ParseError.EmptyDomainName);

    [Fact]
    public void TryParse_DomainWithNul_ReportsInvalidDomainName() =>
        ParserAssert.Rejects(Hex.Parse("05 00 00 03 03 61 00 62 0050"), Parse, Socks5ParseError.InvalidDomainName);

    [Fact]
    public void TryParse_DomainWithInvalidUtf8_ReportsInvalidDomainName() =>
        ParserAssert.Rejects(Hex.Parse("05 00 00 03 02 C3 28 0050"), Parse, Socks5ParseError.InvalidDomainName);

    [Fact]
    public void Failure_Code_WritesAnyIPv4AndPortZero()
    {
        var written = new byte[Socks5Reply.MaxLength];
        int length = Socks5Reply.Failure(Socks5ReplyCode.ConnectionRefused).Write(written);

        Assert.Equal("05050001000000000000", Hex.Format(written.AsSpan(0, length)));
    }

    [Fact]
    public void Write_ConstructedReply_RoundTripsThroughParser()
    {
        var reply = new Socks5Reply(Socks5ReplyCode.Succeeded, Socks5Address.FromIPAddress(IPAddress.Parse("2001:db8::2")), 1080);
        var written = new byte[Socks5Reply.MaxLength];
        int length = reply.Write(written);

        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(written, 0, length));
        Assert.True(Socks5Reply.TryParse(ref reader, out Socks5Reply parsed, out _));
        Assert.Equal(reply, parsed);
    }

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void Write_DestinationTooShort_Throws(string hex)
    {
        byte[] bytes = Hex.Parse(hex);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        Assert.True(Socks5Reply.TryParse(ref reader, out Socks5Reply reply, out _));

        Assert.Throws<ArgumentException>("destination", () => reply.Write(new byte[bytes.Length - 1]));
        Assert.Equal(bytes.Length, reply.Write(new byte[bytes.Length]));
    }

    [Fact]
    public void Write_AfterWarmUp_AllocatesNothing()
    {
        var v4 = new Socks5Reply(Socks5ReplyCode.Succeeded, Socks5Address.FromIPAddress(IPAddress.Loopback), 1080);
        var v6 = new Socks5Reply(Socks5ReplyCode.Succeeded, Socks5Address.FromIPAddress(IPAddress.IPv6Loopback), 1080);
        var domain = new Socks5Reply(Socks5ReplyCode.Succeeded, Socks5Address.FromDomainName("localhost"), 1080);
        Socks5Reply failure = Socks5Reply.Failure(Socks5ReplyCode.HostUnreachable);
        var destination = new byte[Socks5Reply.MaxLength];
        v4.Write(destination);
        v6.Write(destination);
        domain.Write(destination);
        failure.Write(destination);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int written = v4.Write(destination) + v6.Write(destination) + domain.Write(destination) + failure.Write(destination);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(10 + 22 + 16 + 10, written);
        Assert.Equal(0, allocated);
    }
}
