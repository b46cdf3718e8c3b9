using System.Buffers;
using System.Net;
using Sockeye.Protocol.Socks4;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.Socks4;

public class Socks4RequestTests
{
    [Fact]
    public void TryParse_Socks4Connect_ReadsEveryField()
    {
        byte[] bytes = [4, 1, 0x1F, 0x90, 192, 0, 2, 7, (byte)'b', (byte)'o', (byte)'b', 0];

        Assert.True(Parse(bytes, out Socks4Request request, out int consumed, out _));

        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(Socks4Command.Connect, request.Command);
        Assert.Equal(Socks5Address.FromIPAddress(IPAddress.Parse("192.0.2.7")), request.Destination);
        Assert.Equal(8080, request.Port);
        Assert.Equal("bob", request.UserId);
        Assert.False(request.IsSocks4a);
    }

    [Fact]
    public void TryParse_Socks4a_ReadsTheNameAfterUserId()
    {
        byte[] bytes = [4, 2, 0, 21, 0, 0, 0, 99, 0, .. "ftp.example"u8, 0];

        Assert.True(Parse(bytes, out Socks4Request request, out int consumed, out _));

        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(Socks4Command.Bind, request.Command);
        Assert.Equal("ftp.example", request.Destination.DomainName);
        Assert.Equal("", request.UserId);
        Assert.True(request.IsSocks4a);
    }

    [Fact]
    public void TryParse_AddressZero_IsPlainSocks4NotSocks4a()
    {
        // 0.0.0.0 is not 4a's marker (x must not be 0): it is an IPv4 destination, which the rules then judge.
        Assert.True(Parse([4, 1, 0, 80, 0, 0, 0, 0, 0], out Socks4Request request, out _, out _));

        Assert.Equal(Socks5AddressType.IPv4, request.Destination.Type);
    }

    [Theory]
    [InlineData(new byte[] { 5, 1, 0 }, Socks4ParseError.UnsupportedVersion)]
    [InlineData(new byte[] { 4, 3 }, Socks4ParseError.UnknownCommand)]
    [InlineData(new byte[] { 4, 0 }, Socks4ParseError.UnknownCommand)]
    [InlineData(new byte[] { 4, 1, 0, 80, 0, 0, 0, 1, 0, 0 }, Socks4ParseError.EmptyDomainName)]
    [InlineData(new byte[] { 4, 1, 0, 80, 1, 2, 3, 4, 0xFF, 0 }, Socks4ParseError.InvalidUserId)]
    [InlineData(new byte[] { 4, 1, 0, 80, 0, 0, 0, 1, 0, 0xC3, 0x28, 0 }, Socks4ParseError.InvalidDomainName)]
    public void TryParse_Malformed_ReportsTheError(byte[] bytes, Socks4ParseError expected)
    {
        Assert.False(Parse(bytes, out _, out int consumed, out Socks4ParseError error));

        Assert.Equal(expected, error);
        Assert.Equal(0, consumed);
    }

    [Fact]
    public void TryParse_UserIdPastItsBound_RefusedAsSoonAsItIs()
    {
        byte[] bytes = [4, 1, 0, 80, 1, 2, 3, 4, .. Enumerable.Repeat((byte)'u', Socks4Request.MaxUserIdLength + 1)];

        Assert.False(Parse(bytes, out _, out _, out Socks4ParseError error));
        Assert.Equal(Socks4ParseError.UserIdTooLong, error);

        // One byte fewer might still end with a NUL: more is needed.
        Assert.False(Parse(bytes[..^1], out _, out _, out error));
        Assert.Equal(Socks4ParseError.None, error);
    }

    [Fact]
    public void TryParse_NamePastItsBound_Refused()
    {
        byte[] bytes = [4, 1, 0, 80, 0, 0, 0, 1, 0, .. Enumerable.Repeat((byte)'n', Socks4Request.MaxDomainNameLength + 1)];

        Assert.False(Parse(bytes, out _, out _, out Socks4ParseError error));

        Assert.Equal(Socks4ParseError.DomainNameTooLong, error);
    }

    [Fact]
    public void TryParse_EveryPrefix_NeedsMoreWithoutMoving()
    {
        byte[] bytes = [4, 1, 0, 80, 0, 0, 0, 1, .. "user"u8, 0, .. "localhost"u8, 0];
        for (int length = 0; length < bytes.Length; length++)
        {
            Assert.False(Parse(bytes[..length], out _, out int consumed, out Socks4ParseError error));
            Assert.Equal(Socks4ParseError.None, error);
            Assert.Equal(0, consumed);
        }
    }

    [Fact]
    public void TryParse_SplitAnywhere_SameAsWhole()
    {
        byte[] bytes = [4, 1, 0, 80, 0, 0, 0, 1, .. "user"u8, 0, .. "localhost"u8, 0, 0xAA];
        Assert.True(Parse(bytes, out Socks4Request whole, out int wholeConsumed, out _));
        for (int split = 0; split <= bytes.Length; split++)
        {
            var reader = new SequenceReader<byte>(Sequences.SplitAt(bytes, split));
            Assert.True(Socks4Request.TryParse(ref reader, out Socks4Request request, out _));
            Assert.Equal(whole, request);
            Assert.Equal(wholeConsumed, reader.Consumed);
        }
    }

    [Theory]
    [InlineData("192.0.2.1", 1080, "")]
    [InlineData("10.1.2.3", 65535, "alice")]
    [InlineData("example.org", 443, "bob")]
    [InlineData("xn--bcher-kva.example", 1, "ünïcode")]
    public void Write_ThenParse_RoundTrips(string destination, int port, string userId)
    {
        Socks5Address address = IPAddress.TryParse(destination, out IPAddress? ip) ? Socks5Address.FromIPAddress(ip) : Socks5Address.FromDomainName(destination);
        var request = new Socks4Request(Socks4Command.Connect, address, (ushort)port, userId);
        byte[] buffer = new byte[Socks4Request.MaxLength];

        int length = request.Write(buffer);

        Assert.Equal(request.WireLength, length);
        Assert.True(Parse(buffer[..length], out Socks4Request parsed, out int consumed, out _));
        Assert.Equal(length, consumed);
        Assert.Equal(request, parsed);
    }

    [Fact]
    public void Write_IPv6Destination_Throws()
    {
        var request = new Socks4Request(Socks4Command.Connect, Socks5Address.FromIPAddress(IPAddress.IPv6Loopback), 80, "");

        Assert.Throws<ArgumentException>(() => request.Write(new byte[Socks4Request.MaxLength]));
    }

    private static bool Parse(byte[] bytes, out Socks4Request request, out int consumed, out Socks4ParseError error)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        bool parsed = Socks4Request.TryParse(ref reader, out request, out error);
        consumed = (int)reader.Consumed;
        return parsed;
    }
}
