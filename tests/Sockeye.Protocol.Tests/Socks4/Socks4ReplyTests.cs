using System.Buffers;
using System.Net;
using Sockeye.Protocol.Socks4;

namespace Sockeye.Protocol.Tests.Socks4;

public class Socks4ReplyTests
{
    [Fact]
    public void Write_Granted_IsEightBytesWithVersionZero()
    {
        byte[] buffer = new byte[16];

        int length = new Socks4Reply(Socks4ReplyCode.Granted, IPAddress.Parse("198.51.100.4"), 4321).Write(buffer);

        Assert.Equal(8, length);
        Assert.Equal([0, 90, 0x10, 0xE1, 198, 51, 100, 4], buffer[..8]);
    }

    [Fact]
    public void Write_IPv4MappedAddress_WritesTheIPv4Address()
    {
        byte[] buffer = new byte[8];

        new Socks4Reply(Socks4ReplyCode.Granted, IPAddress.Parse("::ffff:10.0.0.1"), 1).Write(buffer);

        Assert.Equal([10, 0, 0, 1], buffer[4..]);
    }

    [Fact]
    public void Write_IPv6Address_Throws()
    {
        Assert.Throws<ArgumentException>(() => new Socks4Reply(Socks4ReplyCode.Granted, IPAddress.IPv6Loopback, 1).Write(new byte[8]));
    }

    [Fact]
    public void TryParse_RoundTrip_AndNeedsMoreBeforeEightBytes()
    {
        byte[] buffer = new byte[8];
        var reply = new Socks4Reply(Socks4ReplyCode.RejectedOrFailed, IPAddress.Parse("192.0.2.9"), 65535);
        reply.Write(buffer);
        for (int length = 0; length < 8; length++)
        {
            var partial = new SequenceReader<byte>(new ReadOnlySequence<byte>(buffer, 0, length));
            Assert.False(Socks4Reply.TryParse(ref partial, out _, out Socks4ParseError none));
            Assert.Equal(Socks4ParseError.None, none);
            Assert.Equal(0, partial.Consumed);
        }

        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(buffer));
        Assert.True(Socks4Reply.TryParse(ref reader, out Socks4Reply parsed, out _));
        Assert.Equal(reply, parsed);
        Assert.Equal(8, reader.Consumed);
    }

    [Fact]
    public void TryParse_VersionNotZero_Refused()
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(new byte[] { 4, 90, 0, 0, 0, 0, 0, 0 }));

        Assert.False(Socks4Reply.TryParse(ref reader, out _, out Socks4ParseError error));

        Assert.Equal(Socks4ParseError.UnsupportedVersion, error);
    }
}
