using System.Buffers.Binary;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.Udp;

namespace Sockeye.Fuzz;

/// <summary>
/// The UDP datagram header parser (<see cref="Socks5UdpHeader.TryParse"/>), which takes a whole datagram as a span, fed
/// arbitrary bytes and checked for what must hold whatever the bytes: no exception; a refusal always with an error (a
/// datagram never gets more bytes); a header length within the datagram and the bound, that the address and port end
/// at; ADDR a slice of the datagram where ATYP puts it; the same header from the header alone, without the payload;
/// every shorter prefix refused as truncated; and a header that writes back to the bytes it was parsed from, but for
/// RSV (written as zeros, read as anything).
/// </summary>
public static class Socks5UdpHeaderTarget
{
    /// <summary>Runs one input; returns whether it held a header. Throws <see cref="FuzzInvariantException"/> when an invariant breaks.</summary>
    public static bool Run(ReadOnlySpan<byte> input)
    {
        bool parsed = Socks5UdpHeader.TryParse(input, out Socks5UdpHeader header, out int headerLength, out Socks5ParseError error);
        if (!parsed)
        {
            Check(error != Socks5ParseError.None, "a refused datagram came without an error");
            Check(headerLength == 0 && header.AddressBytes.IsEmpty, "a refused datagram returned a header");
            return false;
        }

        Check(error == Socks5ParseError.None, "a parsed header came with an error");
        Check(headerLength <= input.Length && headerLength <= Socks5Limits.MaxUdpHeaderLength, "the header is longer than the datagram or its bound");
        Check(header.Fragment == input[2] && (byte)header.AddressType == input[3], "FRAG or ATYP differ from the bytes");
        int addressOffset = header.AddressType == Socks5AddressType.DomainName ? 5 : 4;
        int addressLength = header.AddressType switch
        {
            Socks5AddressType.IPv4 => 4,
            Socks5AddressType.IPv6 => 16,
            Socks5AddressType.DomainName => input[4],
            _ => -1,
        };
        Check(header.AddressBytes.Length == addressLength && input.Overlaps(header.AddressBytes, out int offset) && offset == addressOffset,
            "ADDR is not the slice of the datagram that ATYP names");
        Check(headerLength == addressOffset + addressLength + 2, "the header does not end after PORT");
        Check(header.Port == BinaryPrimitives.ReadUInt16BigEndian(input[(headerLength - 2)..]), "PORT differs from the bytes");

        ReadOnlySpan<byte> alone = input[..headerLength];
        Check(Socks5UdpHeader.TryParse(alone, out Socks5UdpHeader again, out int againLength, out _) && againLength == headerLength &&
            again.Fragment == header.Fragment && again.Port == header.Port && again.AddressBytes.SequenceEqual(header.AddressBytes),
            "the header alone parses differently from the header with its payload");
        for (int prefix = 0; prefix < headerLength; prefix++)
        {
            Check(!Socks5UdpHeader.TryParse(input[..prefix], out _, out _, out Socks5ParseError prefixError) && prefixError == Socks5ParseError.TruncatedDatagram,
                "a prefix of a parsed header was not refused as truncated");
        }

        Socks5Address destination = header.GetDestination();
        Check(destination.Type == header.AddressType && Socks5UdpHeader.GetLength(destination) == headerLength, "the destination's length differs");
        Span<byte> written = stackalloc byte[Socks5Limits.MaxUdpHeaderLength];
        int writtenLength = Socks5UdpHeader.Write(written, header.Fragment, destination, header.Port);
        Check(writtenLength == headerLength && written[0] == 0 && written[1] == 0, "the written header's length or RSV is wrong");
        Check(written[2..writtenLength].SequenceEqual(input[2..headerLength]), "the written header differs from the parsed bytes");
        return true;
    }

    private static void Check(bool condition, string invariant)
    {
        if (!condition)
        {
            throw new FuzzInvariantException(invariant);
        }
    }
}
