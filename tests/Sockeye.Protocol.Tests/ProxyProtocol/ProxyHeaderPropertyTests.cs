using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CsCheck;
using Sockeye.Protocol.ProxyProtocol;
using Sockeye.Protocol.Tests.TestSupport;

namespace Sockeye.Protocol.Tests.ProxyProtocol;

/// <summary>
/// CsCheck properties of the PROXY protocol header (v1 and v2): what <see cref="ProxyHeader.Write"/> writes parses back
/// in any split, and any bytes, in any split and under any buffer limit, give one outcome.
/// </summary>
public class ProxyHeaderPropertyTests
{
    private const int RoundTrips = 1000;
    private const int HostileInputs = 1500;

    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>IPv6 addresses, some with a zone, which neither form can carry and the writer drops.</summary>
    private static readonly Gen<IPAddress> ZonedIPv6 = Gen.Select(
        ProtocolGen.IPv6,
        Gen.Frequency((3, Gen.Const(0L)), (1, Gen.Long[1, uint.MaxValue])),
        static (address, scope) => new IPAddress(address.GetAddressBytes(), scope));

    private static readonly Gen<IPEndPoint?[]> EndPoints = Gen.Frequency(
        (1, Gen.Const(new IPEndPoint?[] { null, null })),
        (3, Gen.Select(ProtocolGen.IPv4, ProtocolGen.Port, ProtocolGen.IPv4, ProtocolGen.Port, static (a, p, b, q) => new IPEndPoint?[] { new(a, p), new(b, q) })),
        (3, Gen.Select(ZonedIPv6, ProtocolGen.Port, ZonedIPv6, ProtocolGen.Port, static (a, p, b, q) => new IPEndPoint?[] { new(a, p), new(b, q) })));

    private static readonly Gen<Written> WrittenHeader = Gen.Select(
        Gen.OneOf(ProxyProtocolVersion.V1, ProxyProtocolVersion.V2),
        Gen.OneOf(ProxyCommand.Local, ProxyCommand.Proxy),
        EndPoints,
        static (version, command, endPoints) => new Written(version, command, endPoints[0], endPoints[1]));

    /// <summary>
    /// v2 headers the writer never produces: any command nibble and family byte (the defined ones most often), address
    /// blocks of each family's size, whatever an UNSPEC length covers, and TLVs behind.
    /// </summary>
    private static readonly Gen<byte[]> RawV2 = Gen.Select(
        Gen.Frequency((4, Gen.OneOf<byte>(0x20, 0x21)), (1, Gen.Byte)),
        Gen.Frequency((4, Gen.OneOf<byte>(0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32)), (1, Gen.Byte)),
        Gen.Byte.Array[216 + 8],
        Gen.Int[0, 8],
        Gen.Select(Gen.Byte, Gen.Byte.Array[0, 12]).Array[0, 3],
        static (versionCommand, family, block, unspecifiedLength, tlvs) =>
        {
            int blockLength = family switch
            {
                0x11 or 0x12 => 12,
                0x21 or 0x22 => 36,
                0x31 or 0x32 => 216,
                _ => unspecifiedLength,
            };
            byte[] tlvBytes = [.. tlvs.SelectMany(static tlv => (byte[])[tlv.Item1, (byte)(tlv.Item2.Length >> 8), (byte)tlv.Item2.Length, .. tlv.Item2])];
            byte[] length = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)(blockLength + tlvBytes.Length));
            return (byte[])[.. Signature, versionCommand, family, .. length, .. block[..blockLength], .. tlvBytes];
        });

    /// <summary>v1 lines put together from the words, numbers, addresses and separators the syntax is made of, and near misses.</summary>
    private static readonly Gen<byte[]> V1Soup = Gen.Select(
        Gen.Frequency((3, Gen.Const("PROXY ")), (1, Gen.OneOf("", "PROXY", "PROXY  ", "proxy "))),
        Gen.Frequency(
                (8, Gen.OneOf(
                    "TCP4 ", "TCP6 ", "UNKNOWN", "UNKNOWN ", "TCP4", "UDP4 ", " ", "  ", "\r\n", "\r\n", "\r", "\n", "0", "1", "255", "256",
                    "65535", "65536", "01", "00", "123456", ".", ":", "::", "ffff", "FFFF", "g", "192.0.2.1", "::ffff:192.0.2.1",
                    "2001:db8::1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1.2.3", "1.2.3.4.5", "%eth0", "[::1]", "-1", "+1")),
                (1, Gen.Char['\0', '\u00ff'].Array[1, 3].Select(static c => new string(c))))
            .Array[0, 16],
        static (start, words) => Encoding.Latin1.GetBytes(start + string.Concat(words)));

    /// <summary>UNKNOWN lines around the 107-byte limit: the spec's receiver ignores the rest of such a line, but not its length.</summary>
    private static readonly Gen<byte[]> LongUnknown = Gen.Int[90, 110].Select(static length => Encoding.ASCII.GetBytes($"PROXY UNKNOWN {new string('x', length - 16)}\r\n"));

    private static readonly Gen<byte[]> Hostile = Gen.Frequency(
        (3, ProtocolGen.Hostile(Gen.Frequency((1, WrittenHeader.Select(static w => Write(w))), (1, RawV2)), maxNoise: 40)),
        (2, V1Soup),
        (1, LongUnknown),
        (1, Gen.Byte.Array[0, 40].Select(static rest => (byte[])[.. Signature, .. rest])));

    /// <summary>Buffer limits from the least allowed to the most a v2 header can need.</summary>
    private static readonly Gen<int> MaxLength = Gen.Frequency(
        (2, Gen.Const(ProxyParserAssert.MaxLength)),
        (1, Gen.Int[ProxyHeader.MaxV1Length, 300]),
        (1, Gen.Const(ProxyHeader.MaxV2Length)));

    private static readonly Gen<int[]> Cuts = Gen.Int.Array[0, 6];

    /// <summary>
    /// The exact expectation of <see cref="ProxyHeader.Write"/>'s documented forms: LOCAL, or no endpoints, has no
    /// addresses (and v1, which has no LOCAL, says PROXY UNKNOWN); otherwise TCP over the endpoints' family, zones dropped.
    /// </summary>
    [Fact]
    public void WrittenThenParsed_IsTheHeaderWriteDocumentsInAnySplit() =>
        Gen.Select(WrittenHeader, Cuts).Sample(static (written, cuts) =>
        {
            byte[] bytes = Write(written);
            ParseOutcome<Summary, ProxyParseError> outcome = ParseOutcome.SameInEverySplit(bytes, cuts, Parser(ProxyParserAssert.MaxLength));
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(bytes.Length, outcome.Consumed);
            Assert.Equal(Expected(written, bytes.Length), outcome.Message);
        }, iter: RoundTrips);

    [Fact]
    public void AnyBytes_SameOutcomeInEverySplitAndUnderAnyLimit()
    {
        var tally = new ParseOutcome.Tally();
        Gen.Select(Hostile, Cuts, MaxLength).Sample((bytes, cuts, maxLength) =>
        {
            ParseOutcome<Summary, ProxyParseError> outcome = ParseOutcome.SameInEverySplit(bytes, cuts, Parser(maxLength));
            tally.Add(outcome);
            if (outcome.Parsed)
            {
                Assert.Equal(outcome.Consumed, outcome.Message.Length);
                Assert.InRange(outcome.Consumed, 1, maxLength);
            }
        }, iter: HostileInputs);

        // The hostile generator reaches "needs more" in 4.5–6 % of inputs (68–92 of 1 500 in four runs), so a
        // bound of 5 % failed a clean-clone run at 74 of 1 500: 2 % still proves each outcome is exercised, by dozens.
        tally.AssertEachAtLeast(HostileInputs, 0.02);
    }

    /// <summary>
    /// A parsed header's endpoints, written again in either form, parse to the same endpoints: the writer takes what the
    /// parser gives (IPv4-mapped addresses, v2's UDP), with UDP written as TCP and AF_UNIX, which has no endpoints, as
    /// no addresses.
    /// </summary>
    [Fact]
    public void AnyParsedHeader_WrittenAgainInEitherVersion_NamesTheSameEndPoints()
    {
        int parsed = 0;
        Gen.Select(Hostile, Gen.OneOf(ProxyProtocolVersion.V1, ProxyProtocolVersion.V2)).Sample((bytes, version) =>
        {
            ParseOutcome<Summary, ProxyParseError> first = ParseOutcome.Of(new ReadOnlySequence<byte>(bytes), Parser(ProxyHeader.MaxV2Length));
            if (!first.Parsed)
            {
                return;
            }

            Interlocked.Increment(ref parsed);
            Summary header = first.Message;
            var again = new Written(version, header.Command, header.Source, header.Destination);
            byte[] rewritten = Write(again);
            ParseOutcome<Summary, ProxyParseError> second = ParseOutcome.Of(new ReadOnlySequence<byte>(rewritten), Parser(ProxyParserAssert.MaxLength));
            Assert.True(second.Parsed, $"{second.Error}");
            Assert.Equal(Expected(again, rewritten.Length), second.Message);
            Assert.Equal(header.Source, second.Message.Source);
            Assert.Equal(header.Destination, second.Message.Destination);
        }, iter: HostileInputs);

        Assert.True(parsed >= HostileInputs / 10, $"only {parsed} of {HostileInputs} inputs parsed");
    }

    private static TryParseMessage<Summary, ProxyParseError> Parser(int maxLength) =>
        (ref SequenceReader<byte> reader, out Summary summary, out ProxyParseError error) =>
        {
            bool parsed = ProxyHeader.TryParse(ref reader, maxLength, out ProxyHeader header, out error);
            summary = new Summary(header.Version, header.Command, header.Family, header.Source, header.Destination, header.Length);
            return parsed;
        };

    private static byte[] Write(Written header)
    {
        byte[] buffer = new byte[ProxyHeader.MaxV1Length];
        int length = ProxyHeader.Write(buffer, header.Version, header.Command, header.Source, header.Destination);
        return buffer[..length];
    }

    private static Summary Expected(Written header, int length)
    {
        ProxyCommand command = header.Version == ProxyProtocolVersion.V1 ? ProxyCommand.Proxy : header.Command;
        if (header.Command == ProxyCommand.Local || header.Source is null || header.Destination is null)
        {
            return new Summary(header.Version, command, ProxyAddressFamily.Unspecified, null, null, length);
        }

        ProxyAddressFamily family = header.Source.AddressFamily == AddressFamily.InterNetwork ? ProxyAddressFamily.Tcp4 : ProxyAddressFamily.Tcp6;
        return new Summary(header.Version, command, family, WithoutZone(header.Source), WithoutZone(header.Destination), length);
    }

    private static IPEndPoint WithoutZone(IPEndPoint endPoint) => new(new IPAddress(endPoint.Address.GetAddressBytes()), endPoint.Port);

    /// <summary>What <see cref="ProxyHeader.Write"/> was asked to write.</summary>
    private sealed record Written(ProxyProtocolVersion Version, ProxyCommand Command, IPEndPoint? Source, IPEndPoint? Destination);

    /// <summary>A parsed header's fields as a value; <see cref="IPEndPoint"/> compares by address (zone included) and port.</summary>
    private readonly record struct Summary(ProxyProtocolVersion Version, ProxyCommand Command, ProxyAddressFamily Family, IPEndPoint? Source, IPEndPoint? Destination, int Length);
}
