using CsCheck;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Tests.TestSupport;
using Sockeye.Protocol.Udp;

namespace Sockeye.Protocol.Tests.Udp;

/// <summary>
/// CsCheck properties of the UDP ASSOCIATE header parser. It parses a whole datagram, never a stream, so there is no
/// "need more": a datagram too short for its header is refused as truncated.
/// </summary>
public class Socks5UdpHeaderPropertyTests
{
    private const int RoundTrips = 1000;
    private const int HostileInputs = 2000;

    private static readonly Gen<Header> ValidHeader = Gen.Select(Gen.Byte, ProtocolGen.Address, ProtocolGen.Port, static (fragment, address, port) => new Header(fragment, address, port));

    private static readonly Gen<byte[]> Payload = Gen.Byte.Array[0, 32];

    [Fact]
    public void WrittenThenParsed_IsTheSameHeaderWithThePayloadAfterIt() =>
        Gen.Select(ValidHeader, Payload).Sample(static (header, payload) =>
        {
            byte[] written = Written(header);
            Assert.Equal(Socks5UdpHeader.GetLength(header.Address), written.Length);
            byte[] datagram = [.. written, .. payload];
            DatagramOutcome outcome = Parse(datagram);
            Assert.True(outcome.Parsed, $"{outcome.Error}");
            Assert.Equal(written.Length, outcome.HeaderLength);
            Assert.Equal(header, outcome.Header);
        }, iter: RoundTrips);

    [Fact]
    public void EveryPrefixOfAValidHeader_IsRefusedAsTruncated() =>
        ValidHeader.Sample(static header =>
        {
            byte[] written = Written(header);
            for (int length = 0; length < written.Length; length++)
            {
                DatagramOutcome outcome = Parse(written[..length]);
                Assert.True(outcome == DatagramOutcome.Truncated, $"first {length} of {written.Length} bytes: {outcome}");
            }
        }, iter: RoundTrips);

    /// <summary>
    /// Any bytes are parsed or refused, never thrown on; the header does not depend on the payload behind it; and RSV is
    /// read and ignored, so a parsed header is written back as read but for RSV, which is written as zeros.
    /// </summary>
    [Fact]
    public void AnyBytes_ParsedOrRefused_AndAParsedHeaderIsWrittenBackAsReadButForReserved()
    {
        int parsed = 0;
        int refused = 0;
        Gen<byte[]> valid = ValidHeader.Select(static h => Written(h));
        Gen<byte[]> oddName = Gen.Select(Gen.Byte, ProtocolGen.OddDomainAddress, ProtocolGen.Port, static (fragment, address, port) => (byte[])[0, 0, fragment, .. address, (byte)(port >> 8), (byte)port]);
        Gen.Select(ProtocolGen.Hostile(Gen.Frequency((3, valid), (1, oddName))), Payload).Sample((datagram, payload) =>
        {
            DatagramOutcome outcome = Parse(datagram);
            if (!outcome.Parsed)
            {
                Assert.True(outcome.Error != Socks5ParseError.None && outcome.HeaderLength == 0, $"refused without a reason: {outcome}");
                Interlocked.Increment(ref refused);
                return;
            }

            Interlocked.Increment(ref parsed);
            Assert.Equal(Socks5ParseError.None, outcome.Error);
            Assert.InRange(outcome.HeaderLength, 3 + 1 + 2 + 2, datagram.Length);
            Assert.Equal(outcome, Parse(datagram[..outcome.HeaderLength]));
            Assert.Equal(outcome, Parse([.. datagram, .. payload]));
            Assert.Equal([0, 0, .. datagram[2..outcome.HeaderLength]], Written(outcome.Header));
        }, iter: HostileInputs);

        // The generator must reach both sides of the parser, or the property says little.
        Assert.True(parsed >= HostileInputs / 20, $"only {parsed} of {HostileInputs} datagrams parsed");
        Assert.True(refused >= HostileInputs / 20, $"only {refused} of {HostileInputs} datagrams refused");
    }

    private static DatagramOutcome Parse(byte[] datagram)
    {
        bool parsed = Socks5UdpHeader.TryParse(datagram, out Socks5UdpHeader header, out int headerLength, out Socks5ParseError error);
        return parsed
            ? new DatagramOutcome(true, error, headerLength, new Header(header.Fragment, header.GetDestination(), header.Port))
            : new DatagramOutcome(false, error, headerLength, default);
    }

    private static byte[] Written(Header header)
    {
        byte[] buffer = new byte[Socks5UdpHeader.GetLength(header.Address)];
        Assert.Equal(buffer.Length, Socks5UdpHeader.Write(buffer, header.Fragment, header.Address, header.Port));
        return buffer;
    }

    /// <summary>The header's fields as a value: <see cref="Socks5UdpHeader"/> is a ref struct over the datagram.</summary>
    private readonly record struct Header(byte Fragment, Socks5Address Address, ushort Port);

    private readonly record struct DatagramOutcome(bool Parsed, Socks5ParseError Error, int HeaderLength, Header Header)
    {
        public static DatagramOutcome Truncated => new(false, Socks5ParseError.TruncatedDatagram, 0, default);
    }
}
