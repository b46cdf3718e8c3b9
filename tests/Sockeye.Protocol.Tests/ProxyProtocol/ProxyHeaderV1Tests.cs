using System.Net;
using System.Text;
using Sockeye.Protocol.ProxyProtocol;

namespace Sockeye.Protocol.Tests.ProxyProtocol;

public class ProxyHeaderV1Tests
{
    private const string LongestIPv6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

    /// <summary>Valid lines (CRLF added by the tests), then the family, source and destination (null: none).</summary>
    public static TheoryData<string, ProxyAddressFamily, string?, string?> Valid => new()
    {
        { "PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080", ProxyAddressFamily.Tcp4, "192.0.2.1:56324", "198.51.100.1:1080" },
        { "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535", ProxyAddressFamily.Tcp4, "255.255.255.255:65535", "255.255.255.255:65535" },
        { "PROXY TCP4 0.0.0.0 10.0.0.1 0 9", ProxyAddressFamily.Tcp4, "0.0.0.0:0", "10.0.0.1:9" },
        { "PROXY TCP6 2001:db8::1 2001:db8::2 56324 1080", ProxyAddressFamily.Tcp6, "[2001:db8::1]:56324", "[2001:db8::2]:1080" },
        { $"PROXY TCP6 {LongestIPv6} {LongestIPv6} 65535 65535", ProxyAddressFamily.Tcp6, $"[{LongestIPv6}]:65535", $"[{LongestIPv6}]:65535" },
        { "PROXY TCP6 2001:DB8:0:0:0:0:0:1 1:2:3:4:5:6:7:8 80 443", ProxyAddressFamily.Tcp6, "[2001:db8::1]:80", "[1:2:3:4:5:6:7:8]:443" },
        { "PROXY TCP6 :: ::1 0 1", ProxyAddressFamily.Tcp6, "[::]:0", "[::1]:1" },
        { "PROXY TCP6 1:: 1:2:3:4:5:6:7:: 2 3", ProxyAddressFamily.Tcp6, "[1::]:2", "[1:2:3:4:5:6:7:0]:3" },
        { "PROXY TCP6 ::2:3:4:5:6:7:8 0001:0db8::00ff 4 5", ProxyAddressFamily.Tcp6, "[0:2:3:4:5:6:7:8]:4", "[1:db8::ff]:5" },

        // IPv4-mapped stays mapped (the server normalises); an embedded dotted quad is read in either place it can be.
        { "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.1 56324 1080", ProxyAddressFamily.Tcp6, "[::ffff:192.0.2.1]:56324", "[::ffff:198.51.100.1]:1080" },
        { "PROXY TCP6 1:2:3:4:5:6:10.0.0.1 64:ff9b::192.0.2.33 1 2", ProxyAddressFamily.Tcp6, "[1:2:3:4:5:6:a00:1]:1", "[64:ff9b::c000:221]:2" },

        // UNKNOWN: the rest of the line is ignored, whatever it is; 107 bytes is the longest line there can be.
        { "PROXY UNKNOWN", ProxyAddressFamily.Unspecified, null, null },
        { $"PROXY UNKNOWN {LongestIPv6} {LongestIPv6} 65535 65535", ProxyAddressFamily.Unspecified, null, null },
        { "PROXY UNKNOWN  not\taddresses at all ", ProxyAddressFamily.Unspecified, null, null },
    };

    public static TheoryData<string> ValidLines => [.. Valid.Select(row => (string)row[0])];

    private static byte[] Line(string text) => Encoding.ASCII.GetBytes(text + "\r\n");

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidLine_ReadsFieldsAndWholeLength(string text, ProxyAddressFamily family, string? source, string? destination)
    {
        byte[] bytes = Line(text);

        ProxyHeader header = ProxyParserAssert.Parses(bytes);

        Assert.Equal(ProxyProtocolVersion.V1, header.Version);
        Assert.Equal(ProxyCommand.Proxy, header.Command);
        Assert.Equal(family, header.Family);
        Assert.Equal(source is null ? null : IPEndPoint.Parse(source), header.Source);
        Assert.Equal(destination is null ? null : IPEndPoint.Parse(destination), header.Destination);
        Assert.Equal(bytes.Length, header.Length);
    }

    [Fact]
    public void TryParse_LongestUnknownLine_IsExactlyMaxV1Length() =>
        Assert.Equal(ProxyHeader.MaxV1Length, Line($"PROXY UNKNOWN {LongestIPv6} {LongestIPv6} 65535 65535").Length);

    [Theory]
    [MemberData(nameof(ValidLines))]
    public void TryParse_ValidLine_ParsesAtEverySplitPoint(string text) =>
        ProxyParserAssert.ParsesAtEverySplitPoint(Line(text));

    [Theory]
    [MemberData(nameof(ValidLines))]
    public void TryParse_ValidLinePrefix_NeedsMoreUntilLastByte(string text) =>
        ProxyParserAssert.NeedsMoreUntilLastByte(Line(text));

    [Fact]
    public void TryParse_WrongByteAnywhereInProxyWord_IsNotProxyProtocolAtThatByte()
    {
        byte[] prefix = Encoding.ASCII.GetBytes("PROXY ");
        for (int position = 0; position < prefix.Length; position++)
        {
            byte[] bytes = prefix[..(position + 1)];
            bytes[position] = (byte)'x';
            ProxyParserAssert.RejectsAtLastByte(bytes, ProxyParseError.NotProxyProtocol);
        }
    }

    [Theory]
    [InlineData("05")]                   // A SOCKS5 greeting's first byte: refused before its method count arrives.
    [InlineData("050100")]               // The whole greeting.
    [InlineData("04")]                   // SOCKS4.
    [InlineData("160301")]               // A TLS ClientHello.
    [InlineData("474554202F20485454502F312E310D0A")] // "GET / HTTP/1.1\r\n": 'G' is not 'P'.
    [InlineData("50555420")]             // "PUT ": wrong at its second byte.
    [InlineData("70726F787920")]         // "proxy ": the word is upper case.
    [InlineData("00")]
    public void TryParse_AnotherProtocol_IsNotProxyProtocol(string hex) =>
        ProxyParserAssert.Rejects(Convert.FromHexString(hex), ProxyParseError.NotProxyProtocol);

    [Fact]
    public void TryParse_SocksGreeting_IsRefusedAfterOneByte() =>
        ProxyParserAssert.RejectsAtLastByte([0x05], ProxyParseError.NotProxyProtocol);

    [Theory]
    [InlineData("PROXY TCP5")]
    [InlineData("PROXY TCP ")]
    [InlineData("PROXY t")]
    [InlineData("PROXY UD")]
    [InlineData("PROXY  ")]
    [InlineData("PROXY UNKNOWNX")]
    [InlineData("PROXY TCP4\r")]
    [InlineData("PROXY \r")]
    [InlineData("PROXY UNKNOWN\n")]
    public void TryParse_UnknownProtocolWord_IsMalformedAtTheWrongByte(string text) =>
        ProxyParserAssert.RejectsAtLastByte(Encoding.ASCII.GetBytes(text), ProxyParseError.MalformedV1);

    [Theory]
    [InlineData("PROXY TCP4  192.0.2.1 198.51.100.1 56324 1080")]    // Double space.
    [InlineData("PROXY TCP4 192.0.2.1  198.51.100.1 56324 1080")]
    [InlineData("PROXY TCP4 192.0.2.1 198.51.100.1 56324  1080")]
    [InlineData("PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080 ")]    // Trailing space.
    [InlineData("PROXY TCP4 192.0.2.1 198.51.100.1 56324")]          // A field missing.
    [InlineData("PROXY TCP4 192.0.2.1 198.51.100.1")]
    [InlineData("PROXY TCP4 ")]
    [InlineData("PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080 9")]   // An extra field.
    [InlineData("PROXY TCP4 192.0.2.1\t198.51.100.1 56324 1080")]    // A tab is not a space.
    public void TryParse_WrongFields_IsMalformedV1(string text) =>
        ProxyParserAssert.Rejects(Line(text), ProxyParseError.MalformedV1);

    [Theory]
    [InlineData("PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080\n")]  // LF without CR.
    [InlineData("PROXY UNKNOWN\n")]
    [InlineData("PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080\rX")] // CR without LF.
    [InlineData("PROXY UNKNOWN\r\r")]
    [InlineData("PROXY UNKNOWN \n")]                                 // A lone LF inside UNKNOWN's ignored rest.
    public void TryParse_LoneCrOrLf_IsMalformedV1(string text) =>
        ProxyParserAssert.RejectsAtLastByte(Encoding.ASCII.GetBytes(text), ProxyParseError.MalformedV1);

    [Theory]
    [InlineData("TCP4", "::1", "192.0.2.1")]                  // IPv6 in TCP4.
    [InlineData("TCP4", "192.0.2.1", "::ffff:192.0.2.1")]
    [InlineData("TCP4", "01.2.3.4", "192.0.2.1")]             // Leading zeros: octal, to some readers.
    [InlineData("TCP4", "192.0.2.010", "192.0.2.1")]
    [InlineData("TCP4", "1.2.3", "192.0.2.1")]                // inet_aton shorthands.
    [InlineData("TCP4", "127.1", "192.0.2.1")]
    [InlineData("TCP4", "3221225985", "192.0.2.1")]
    [InlineData("TCP4", "0x7f.0.0.1", "192.0.2.1")]
    [InlineData("TCP4", "1.2.3.4.5", "192.0.2.1")]
    [InlineData("TCP4", "256.0.0.1", "192.0.2.1")]
    [InlineData("TCP4", "1.2.3.", "192.0.2.1")]
    [InlineData("TCP4", "1..3.4", "192.0.2.1")]
    [InlineData("TCP4", "+1.2.3.4", "192.0.2.1")]
    [InlineData("TCP4", "example.com", "192.0.2.1")]
    [InlineData("TCP6", "192.0.2.1", "::1")]                  // IPv4 in TCP6.
    [InlineData("TCP6", "fe80::1%eth0", "::1")]               // No zones.
    [InlineData("TCP6", "fe80::1%2", "::1")]
    [InlineData("TCP6", "[::1]", "::1")]                      // No brackets.
    [InlineData("TCP6", "1:2:3:4:5:6:7:8:9", "::1")]
    [InlineData("TCP6", "1:2:3:4:5:6:7", "::1")]
    [InlineData("TCP6", "1:2:3:4:5:6:7:8::", "::1")]
    [InlineData("TCP6", "::1:2:3:4:5:6:7:8", "::1")]
    [InlineData("TCP6", "1::2::3", "::1")]
    [InlineData("TCP6", ":::", "::1")]
    [InlineData("TCP6", ":1::", "::1")]
    [InlineData("TCP6", "1::2:", "::1")]
    [InlineData("TCP6", "12345::1", "::1")]
    [InlineData("TCP6", "g::1", "::1")]
    [InlineData("TCP6", "::ffff:01.2.3.4", "::1")]
    [InlineData("TCP6", "::ffff:1.2.3", "::1")]
    [InlineData("TCP6", "::1.2.3.4:1", "::1")]                // The dotted quad must come last.
    [InlineData("TCP6", "1:2:3:4:5:6:7:1.2.3.4", "::1")]      // ... and fill only the last two groups.
    [InlineData("TCP6", "::1", "192.0.2.1")]
    public void TryParse_AddressWrongForFamily_IsInvalidV1Address(string protocol, string source, string destination) =>
        ProxyParserAssert.Rejects(Line($"PROXY {protocol} {source} {destination} 56324 1080"), ProxyParseError.InvalidV1Address);

    [Theory]
    [InlineData("65536")]
    [InlineData("99999")]
    [InlineData("100000")]
    [InlineData("080")]
    [InlineData("00")]
    [InlineData("+80")]
    [InlineData("-1")]
    [InlineData("8O")]
    [InlineData("0x50")]
    public void TryParse_BadPort_IsInvalidV1Port(string port)
    {
        ProxyParserAssert.Rejects(Line($"PROXY TCP4 192.0.2.1 198.51.100.1 {port} 1080"), ProxyParseError.InvalidV1Port);
        ProxyParserAssert.Rejects(Line($"PROXY TCP6 ::1 ::2 56324 {port}"), ProxyParseError.InvalidV1Port);
    }

    [Fact]
    public void TryParse_NoCrInFirst106Bytes_IsHeaderTooLongAtThe106thByte()
    {
        // A CR from the 107th byte on would put its LF past the 107-byte limit, so there is nothing left to wait for.
        byte[] line = Encoding.ASCII.GetBytes("PROXY UNKNOWN " + new string('a', ProxyHeader.MaxV1Length - 1 - 14));
        Assert.Equal(ProxyHeader.MaxV1Length - 1, line.Length);

        ProxyParserAssert.RejectsAtLastByte(line, ProxyParseError.HeaderTooLong);
        ProxyParserAssert.Rejects([.. line, (byte)'\r', (byte)'\n'], ProxyParseError.HeaderTooLong);
        ProxyParserAssert.Rejects([.. line, (byte)'a', (byte)'\r', (byte)'\n'], ProxyParseError.HeaderTooLong);
    }

    [Fact]
    public void TryParse_CrLfEndingAtThe107thByte_IsAccepted()
    {
        byte[] line = Encoding.ASCII.GetBytes("PROXY UNKNOWN " + new string('a', ProxyHeader.MaxV1Length - 2 - 14) + "\r\n");

        Assert.Equal(ProxyHeader.MaxV1Length, ProxyParserAssert.Parses(line).Length);
    }
}
