using System.Net;
using Sockeye.Protocol.ProxyProtocol;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.ProxyProtocol;

public class ProxyHeaderV2Tests
{
    private const string Signature = "0D0A0D0A000D0A515549540A";

    // 192.0.2.1:56324 -> 198.51.100.1:1080, and [2001:db8::1]:56324 -> [2001:db8::2]:1080.
    private const string IPv4Block = "C0000201 C6336401 DC04 0438";
    private const string IPv6Block = "20010DB8000000000000000000000001 20010DB8000000000000000000000002 DC04 0438";

    // AWS NLB's VPC endpoint TLV (0xEA, subtype 0x01, the endpoint ID), ALPN "h2", and an empty NOOP.
    private static string AwsTlv => "EA 0017 01 " + Hex.Utf8("vpce-08d2bf15fac5001c9");
    private const string AlpnTlv = "01 0002 6832";
    private const string NoopTlv = "04 0000";

    private static string UnixBlock => Hex.Utf8("/run/src.sock").PadRight(216, '0') + Hex.Utf8("/run/dst.sock").PadRight(216, '0');

    /// <summary>Valid headers: the bytes, then the command, family, source and destination (null: none).</summary>
    public static TheoryData<string, ProxyCommand, ProxyAddressFamily, string?, string?> Valid => new()
    {
        { $"{Signature} 21 11 000C {IPv4Block}", ProxyCommand.Proxy, ProxyAddressFamily.Tcp4, "192.0.2.1:56324", "198.51.100.1:1080" },
        { $"{Signature} 21 12 000C {IPv4Block}", ProxyCommand.Proxy, ProxyAddressFamily.Udp4, "192.0.2.1:56324", "198.51.100.1:1080" },
        { $"{Signature} 21 21 0024 {IPv6Block}", ProxyCommand.Proxy, ProxyAddressFamily.Tcp6, "[2001:db8::1]:56324", "[2001:db8::2]:1080" },
        { $"{Signature} 21 22 0024 {IPv6Block}", ProxyCommand.Proxy, ProxyAddressFamily.Udp6, "[2001:db8::1]:56324", "[2001:db8::2]:1080" },
        { $"{Signature} 21 11 000C FFFFFFFF 00000000 FFFF 0000", ProxyCommand.Proxy, ProxyAddressFamily.Tcp4, "255.255.255.255:65535", "0.0.0.0:0" },

        // An IPv4-mapped source stays as the header gives it: the server normalises.
        { $"{Signature} 21 21 0024 00000000000000000000FFFFC0000201 00000000000000000000FFFFC6336401 DC04 0438", ProxyCommand.Proxy, ProxyAddressFamily.Tcp6, "[::ffff:192.0.2.1]:56324", "[::ffff:198.51.100.1]:1080" },

        // TLVs are skipped, and counted in the length.
        { $"{Signature} 21 11 {12 + 3 + 23 + 5 + 3:X4} {IPv4Block} {AwsTlv} {AlpnTlv} {NoopTlv}", ProxyCommand.Proxy, ProxyAddressFamily.Tcp4, "192.0.2.1:56324", "198.51.100.1:1080" },
        { $"{Signature} 21 21 {36 + 7:X4} {IPv6Block} 03 0004 DEADBEEF", ProxyCommand.Proxy, ProxyAddressFamily.Tcp6, "[2001:db8::1]:56324", "[2001:db8::2]:1080" },

        // UNSPEC: no addresses, whatever the length covers is skipped unread.
        { $"{Signature} 21 00 0000", ProxyCommand.Proxy, ProxyAddressFamily.Unspecified, null, null },
        { $"{Signature} 21 00 0005 0102030405", ProxyCommand.Proxy, ProxyAddressFamily.Unspecified, null, null },

        // AF_UNIX: the paths are skipped, not decoded.
        { $"{Signature} 21 31 00D8 {UnixBlock}", ProxyCommand.Proxy, ProxyAddressFamily.Unix, null, null },
        { $"{Signature} 21 32 {216 + 5:X4} {UnixBlock} {AlpnTlv}", ProxyCommand.Proxy, ProxyAddressFamily.Unix, null, null },

        // LOCAL (a health check): the block, family byte included, is ignored, with or without addresses.
        { $"{Signature} 20 00 0000", ProxyCommand.Local, ProxyAddressFamily.Unspecified, null, null },
        { $"{Signature} 20 11 000C {IPv4Block}", ProxyCommand.Local, ProxyAddressFamily.Unspecified, null, null },
        { $"{Signature} 20 21 {36 + 5:X4} {IPv6Block} {AlpnTlv}", ProxyCommand.Local, ProxyAddressFamily.Unspecified, null, null },
        { $"{Signature} 20 FF 0003 010203", ProxyCommand.Local, ProxyAddressFamily.Unspecified, null, null },
    };

    public static TheoryData<string> ValidHex => [.. Valid.Select(row => (string)row[0])];

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidHeader_ReadsFieldsAndWholeLength(string hex, ProxyCommand command, ProxyAddressFamily family, string? source, string? destination)
    {
        byte[] bytes = Hex.Parse(hex);

        ProxyHeader header = ProxyParserAssert.Parses(bytes);

        Assert.Equal(ProxyProtocolVersion.V2, header.Version);
        Assert.Equal(command, header.Command);
        Assert.Equal(family, header.Family);
        Assert.Equal(source is null ? null : IPEndPoint.Parse(source), header.Source);
        Assert.Equal(destination is null ? null : IPEndPoint.Parse(destination), header.Destination);
        Assert.Equal(bytes.Length, header.Length);
    }

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidHeader_ParsesAtEverySplitPoint(string hex) =>
        ProxyParserAssert.ParsesAtEverySplitPoint(Hex.Parse(hex));

    [Theory]
    [MemberData(nameof(ValidHex))]
    public void TryParse_ValidHeaderPrefix_NeedsMoreUntilLastByte(string hex) =>
        ProxyParserAssert.NeedsMoreUntilLastByte(Hex.Parse(hex));

    [Fact]
    public void TryParse_WrongByteAnywhereInSignature_IsNotProxyProtocolAtThatByte()
    {
        byte[] signature = Hex.Parse(Signature);
        for (int position = 0; position < signature.Length; position++)
        {
            byte[] bytes = signature[..(position + 1)];
            bytes[position] ^= 0x20;
            ProxyParserAssert.RejectsAtLastByte(bytes, ProxyParseError.NotProxyProtocol);
        }
    }

    [Theory]
    [InlineData("0D0A0D0A0D0A")]         // Blank lines, as a confused text client might send.
    [InlineData("0D0A474554")]           // CRLF then "GET".
    public void TryParse_CrLfThenSomethingElse_IsNotProxyProtocol(string hex) =>
        ProxyParserAssert.Rejects(Hex.Parse(hex), ProxyParseError.NotProxyProtocol);

    [Theory]
    [InlineData(0x0)]
    [InlineData(0x1)]
    [InlineData(0x3)]
    [InlineData(0xF)]
    public void TryParse_VersionNibbleNotTwo_IsUnsupportedVersionAtThirteenthByte(int version) =>
        ProxyParserAssert.RejectsAtLastByte(Hex.Parse($"{Signature} {(version << 4) | 1:X2}"), ProxyParseError.UnsupportedVersion);

    [Fact]
    public void TryParse_CommandNotLocalOrProxy_IsUnknownCommandAtThirteenthByte()
    {
        for (int command = 2; command <= 15; command++)
        {
            ProxyParserAssert.RejectsAtLastByte(Hex.Parse($"{Signature} {0x20 | command:X2}"), ProxyParseError.UnknownCommand);
        }
    }

    [Fact]
    public void TryParse_UndefinedFamilyForProxy_IsUnknownFamilyAtFourteenthByte()
    {
        byte[] defined = [0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32];
        for (int family = 0; family <= 0xFF; family++)
        {
            if (!defined.Contains((byte)family))
            {
                ProxyParserAssert.RejectsAtLastByte(Hex.Parse($"{Signature} 21 {family:X2}"), ProxyParseError.UnknownFamily);
            }
        }
    }

    [Theory]
    [InlineData("11", 0)]
    [InlineData("11", 11)]
    [InlineData("12", 4)]
    [InlineData("21", 12)]
    [InlineData("22", 35)]
    [InlineData("31", 215)]
    [InlineData("32", 0)]
    public void TryParse_LengthShorterThanAddressBlock_IsAddressesTruncatedAtSixteenthByte(string family, int length) =>
        ProxyParserAssert.RejectsAtLastByte(Hex.Parse($"{Signature} 21 {family} {length:X4}"), ProxyParseError.AddressesTruncated);

    [Fact]
    public void TryParse_LocalWithLengthShorterThanItsFamilysBlock_IsAccepted()
    {
        // LOCAL's block is ignored, so it need not be whole.
        ProxyHeader header = ProxyParserAssert.Parses(Hex.Parse($"{Signature} 20 21 0002 0102"));

        Assert.Equal(ProxyCommand.Local, header.Command);
        Assert.Null(header.Source);
    }

    [Theory]
    [InlineData(ProxyHeader.MaxV1Length, ProxyHeader.MaxV1Length - 16 + 1)]
    [InlineData(ProxyParserAssert.MaxLength, ProxyParserAssert.MaxLength - 16 + 1)]
    [InlineData(ProxyParserAssert.MaxLength, 0xFFFF)]
    public void TryParse_DeclaredLengthOverMaxLength_IsHeaderTooLongAtSixteenthByte(int maxLength, int length) =>
        ProxyParserAssert.RejectsAtLastByte(Hex.Parse($"{Signature} 21 00 {length:X4}"), ProxyParseError.HeaderTooLong, maxLength);

    [Fact]
    public void TryParse_DeclaredLengthExactlyMaxLength_IsAccepted()
    {
        byte[] header = Hex.Parse($"{Signature} 21 00 {ProxyHeader.MaxV1Length - 16:X4} " + new string('0', 2 * (ProxyHeader.MaxV1Length - 16)));

        Assert.Equal(ProxyHeader.MaxV1Length, ProxyParserAssert.Parses(header, maxLength: ProxyHeader.MaxV1Length).Length);
    }

    [Fact]
    public void TryParse_MaxLengthAtMostTheLongestV2Header_AllowsThatHeader()
    {
        byte[] header = [.. Hex.Parse($"{Signature} 21 00 FFFF"), .. new byte[0xFFFF]];

        Assert.Equal(ProxyHeader.MaxV2Length, ProxyParserAssert.Parses(header, maxLength: ProxyHeader.MaxV2Length).Length);
    }

    [Theory]
    [InlineData("11", $"000E {IPv4Block} 0100")]                  // Two bytes left: too few for a TLV's type and length.
    [InlineData("11", $"0010 {IPv4Block} 01 0002 68")]            // ALPN declares 2 bytes, 1 follows.
    [InlineData("11", $"0011 {IPv4Block} 01 0001 68 04")]         // A good TLV, then a stray byte.
    [InlineData("21", $"0027 {IPv6Block} EA FFFF")]                // A TLV that claims 65535 bytes.
    public void TryParse_TlvsNotFillingTheRest_IsMalformedTlv(string family, string lengthAndBody) =>
        ProxyParserAssert.Rejects(Hex.Parse($"{Signature} 21 {family} {lengthAndBody}"), ProxyParseError.MalformedTlv);

    [Fact]
    public void TryParse_MalformedTlvIncomplete_NeedsMoreUntilTheWholeHeaderIsIn()
    {
        // The TLVs are judged only once all 16 + len bytes are in, so a truncated header is never called malformed.
        byte[] bytes = Hex.Parse($"{Signature} 21 11 0010 {IPv4Block} 01 0002 68");

        ProxyParserAssert.RejectsAtLastByte(bytes, ProxyParseError.MalformedTlv);
    }
}
