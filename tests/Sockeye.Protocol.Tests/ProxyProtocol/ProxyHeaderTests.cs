using System.Buffers;
using System.Net;
using System.Text;
using Sockeye.Protocol.ProxyProtocol;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.ProxyProtocol;

/// <summary>What both forms share: the limit argument, allocation, the writer and its round trips.</summary>
public class ProxyHeaderTests
{
    private static readonly IPEndPoint ClientV4 = IPEndPoint.Parse("192.0.2.1:56324");
    private static readonly IPEndPoint FrontEndV4 = IPEndPoint.Parse("198.51.100.1:1080");
    private static readonly IPEndPoint ClientV6 = IPEndPoint.Parse("[2001:db8::1]:56324");
    private static readonly IPEndPoint FrontEndV6 = IPEndPoint.Parse("[2001:db8::2]:1080");

    [Fact]
    public void TryParse_NoBytes_NeedsMore()
    {
        var reader = new SequenceReader<byte>(ReadOnlySequence<byte>.Empty);

        Assert.False(ProxyHeader.TryParse(ref reader, ProxyHeader.MaxV1Length, out _, out ProxyParseError error));
        Assert.Equal(ProxyParseError.None, error);
    }

    [Fact]
    public void TryParse_MaxLengthBelowMaxV1Length_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() =>
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("PROXY UNKNOWN\r\n")));
            ProxyHeader.TryParse(ref reader, ProxyHeader.MaxV1Length - 1, out _, out _);
        });
    }

    [Theory]
    [InlineData("PROXY UNKNOWN\r\n")]
    [InlineData("PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080")]         // Need more.
    [InlineData("PROXY TCP4 192.0.2.1 198.51.100.1 56324 080\r\n")]      // Refused.
    [InlineData("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00")]                // LOCAL.
    [InlineData("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0C")]                // Need more.
    [InlineData("\r\n\r\n\0\r\nQUIT\n\x21\x13")]                        // Refused.
    [InlineData("\x05\x01\x00")]                                        // Refused.
    public void TryParse_WithoutEndpointsToReturn_AllocatesNothing(string text)
    {
        var sequence = new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text));
        Parse(sequence);

        long before = GC.GetAllocatedBytesForCurrentThread();
        Parse(sequence);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);

        static void Parse(ReadOnlySequence<byte> sequence)
        {
            var reader = new SequenceReader<byte>(sequence);
            ProxyHeader.TryParse(ref reader, ProxyHeader.MaxV1Length, out _, out _);
        }
    }

    public static TheoryData<ProxyProtocolVersion, ProxyCommand, string?, string?, string> Written => new()
    {
        { ProxyProtocolVersion.V1, ProxyCommand.Proxy, "192.0.2.1:56324", "198.51.100.1:1080", Hex.Utf8("PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080\r\n") },
        { ProxyProtocolVersion.V1, ProxyCommand.Proxy, "[2001:db8::1]:56324", "[2001:db8::2]:1080", Hex.Utf8("PROXY TCP6 2001:db8::1 2001:db8::2 56324 1080\r\n") },
        { ProxyProtocolVersion.V1, ProxyCommand.Proxy, "[::ffff:192.0.2.1]:1", "[::ffff:198.51.100.1]:2", Hex.Utf8("PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.1 1 2\r\n") },
        { ProxyProtocolVersion.V1, ProxyCommand.Proxy, null, null, Hex.Utf8("PROXY UNKNOWN\r\n") },
        { ProxyProtocolVersion.V1, ProxyCommand.Local, "192.0.2.1:56324", "198.51.100.1:1080", Hex.Utf8("PROXY UNKNOWN\r\n") },
        { ProxyProtocolVersion.V2, ProxyCommand.Proxy, "192.0.2.1:56324", "198.51.100.1:1080", "0D0A0D0A000D0A515549540A 21 11 000C C0000201 C6336401 DC04 0438" },
        { ProxyProtocolVersion.V2, ProxyCommand.Proxy, "[2001:db8::1]:56324", "[2001:db8::2]:1080", "0D0A0D0A000D0A515549540A 21 21 0024 20010DB8000000000000000000000001 20010DB8000000000000000000000002 DC04 0438" },
        { ProxyProtocolVersion.V2, ProxyCommand.Proxy, null, null, "0D0A0D0A000D0A515549540A 21 00 0000" },
        { ProxyProtocolVersion.V2, ProxyCommand.Local, null, null, "0D0A0D0A000D0A515549540A 20 00 0000" },
        { ProxyProtocolVersion.V2, ProxyCommand.Local, "192.0.2.1:56324", "198.51.100.1:1080", "0D0A0D0A000D0A515549540A 20 00 0000" },
    };

    [Theory]
    [MemberData(nameof(Written))]
    public void Write_WritesTheExpectedBytes(ProxyProtocolVersion version, ProxyCommand command, string? source, string? destination, string hex)
    {
        var buffer = new byte[ProxyHeader.MaxV1Length];

        int length = ProxyHeader.Write(buffer, version, command, source is null ? null : IPEndPoint.Parse(source), destination is null ? null : IPEndPoint.Parse(destination));

        Assert.Equal(Hex.Format(Hex.Parse(hex)), Hex.Format(buffer.AsSpan(0, length)));
    }

    [Theory]
    [InlineData(ProxyProtocolVersion.V1, ProxyCommand.Proxy, false)]
    [InlineData(ProxyProtocolVersion.V1, ProxyCommand.Proxy, true)]
    [InlineData(ProxyProtocolVersion.V2, ProxyCommand.Proxy, false)]
    [InlineData(ProxyProtocolVersion.V2, ProxyCommand.Proxy, true)]
    [InlineData(ProxyProtocolVersion.V2, ProxyCommand.Local, false)]
    [InlineData(ProxyProtocolVersion.V2, ProxyCommand.Local, true)]
    public void Write_ThenTryParse_GivesBackTheSameFields(ProxyProtocolVersion version, ProxyCommand command, bool ipv6)
    {
        IPEndPoint source = ipv6 ? ClientV6 : ClientV4;
        IPEndPoint destination = ipv6 ? FrontEndV6 : FrontEndV4;
        var buffer = new byte[ProxyHeader.MaxV1Length];
        int length = ProxyHeader.Write(buffer, version, command, source, destination);

        ProxyHeader header = ProxyParserAssert.Parses(buffer[..length]);

        Assert.Equal(version, header.Version);
        Assert.Equal(command, header.Command);
        bool proxied = command == ProxyCommand.Proxy;
        Assert.Equal(proxied ? (ipv6 ? ProxyAddressFamily.Tcp6 : ProxyAddressFamily.Tcp4) : ProxyAddressFamily.Unspecified, header.Family);
        Assert.Equal(proxied ? source : null, header.Source);
        Assert.Equal(proxied ? destination : null, header.Destination);
        Assert.Equal(length, header.Length);
    }

    [Theory]
    [InlineData(ProxyProtocolVersion.V1)]
    [InlineData(ProxyProtocolVersion.V2)]
    public void Write_ThenTryParse_RandomEndpointsRoundTripAndEveryPrefixNeedsMore(ProxyProtocolVersion version)
    {
        var random = new Random(20);
        var buffer = new byte[ProxyHeader.MaxV1Length];
        for (int i = 0; i < 500; i++)
        {
            bool ipv6 = random.Next(2) == 0;
            IPEndPoint source = RandomEndPoint(random, ipv6);
            IPEndPoint destination = RandomEndPoint(random, ipv6);
            int length = ProxyHeader.Write(buffer, version, ProxyCommand.Proxy, source, destination);
            byte[] bytes = buffer[..length];

            ProxyHeader header = ProxyParserAssert.Parses(bytes);
            Assert.Equal(source, header.Source);
            Assert.Equal(destination, header.Destination);
            Assert.Equal(ipv6 ? ProxyAddressFamily.Tcp6 : ProxyAddressFamily.Tcp4, header.Family);

            for (int prefix = 0; prefix < length; prefix++)
            {
                var reader = new SequenceReader<byte>(Sequences.SplitAt(bytes[..prefix], random.Next(prefix + 1)));
                Assert.False(ProxyHeader.TryParse(ref reader, ProxyParserAssert.MaxLength, out _, out ProxyParseError error), $"{Encoding.Latin1.GetString(bytes)}: parsed {prefix} bytes");
                Assert.Equal(ProxyParseError.None, error);
                Assert.Equal(0, reader.Consumed);
            }
        }
    }

    /// <summary>
    /// An address whose 16-bit groups are often zero (so the text form has a "::" in every place) or IPv4-mapped
    /// (so it has a dotted quad), and a port that is often at an edge.
    /// </summary>
    private static IPEndPoint RandomEndPoint(Random random, bool ipv6)
    {
        byte[] address = new byte[ipv6 ? 16 : 4];
        for (int i = 0; i < address.Length; i += 2)
        {
            if (random.Next(3) != 0)
            {
                address[i] = (byte)random.Next(256);
                address[i + 1] = (byte)random.Next(256);
            }
        }

        if (ipv6 && random.Next(5) == 0)
        {
            Array.Clear(address, 0, 10);
            address[10] = 0xFF;
            address[11] = 0xFF;
        }

        int port = random.Next(4) switch { 0 => 0, 1 => 65535, _ => random.Next(65536) };
        return new IPEndPoint(new IPAddress(address), port);
    }

    [Fact]
    public void Write_V1WithScopedIPv6_DropsTheZone()
    {
        var buffer = new byte[ProxyHeader.MaxV1Length];
        var source = new IPEndPoint(IPAddress.Parse("fe80::1%3"), 1);
        var destination = new IPEndPoint(IPAddress.Parse("fe80::2%3"), 2);

        int length = ProxyHeader.Write(buffer, ProxyProtocolVersion.V1, ProxyCommand.Proxy, source, destination);

        Assert.Equal("PROXY TCP6 fe80::1 fe80::2 1 2\r\n", Encoding.ASCII.GetString(buffer, 0, length));
    }

    [Fact]
    public void Write_OneEndpointOnly_Throws()
    {
        var buffer = new byte[ProxyHeader.MaxV1Length];

        Assert.Throws<ArgumentException>(() => ProxyHeader.Write(buffer, ProxyProtocolVersion.V2, ProxyCommand.Proxy, ClientV4, null));
        Assert.Throws<ArgumentException>(() => ProxyHeader.Write(buffer, ProxyProtocolVersion.V1, ProxyCommand.Proxy, null, FrontEndV4));
    }

    [Fact]
    public void Write_EndpointsOfTwoFamilies_Throws()
    {
        var buffer = new byte[ProxyHeader.MaxV1Length];

        Assert.Throws<ArgumentException>(() => ProxyHeader.Write(buffer, ProxyProtocolVersion.V1, ProxyCommand.Proxy, ClientV4, FrontEndV6));
        Assert.Throws<ArgumentException>(() => ProxyHeader.Write(buffer, ProxyProtocolVersion.V2, ProxyCommand.Proxy, ClientV6, FrontEndV4));
    }

    [Fact]
    public void Write_DestinationTooShort_Throws()
    {
        var buffer = new byte[ProxyHeader.V2PrefixLength + 11];

        Assert.Throws<ArgumentException>(() => ProxyHeader.Write(buffer, ProxyProtocolVersion.V2, ProxyCommand.Proxy, ClientV4, FrontEndV4));
        Assert.Throws<ArgumentException>(() => ProxyHeader.Write(buffer, ProxyProtocolVersion.V1, ProxyCommand.Proxy, ClientV4, FrontEndV4));
    }

    [Fact]
    public void Write_UndefinedVersionOrCommand_Throws()
    {
        var buffer = new byte[ProxyHeader.MaxV1Length];

        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyHeader.Write(buffer, (ProxyProtocolVersion)3, ProxyCommand.Proxy, ClientV4, FrontEndV4));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyHeader.Write(buffer, ProxyProtocolVersion.V2, (ProxyCommand)2, ClientV4, FrontEndV4));
    }

    [Fact]
    public void ToString_NamesTheFields()
    {
        ProxyHeader header = ProxyParserAssert.Parses(Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080\r\n"));

        Assert.Equal("V1 Proxy Tcp4 192.0.2.1:56324 -> 198.51.100.1:1080", header.ToString());
    }
}
