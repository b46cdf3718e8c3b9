using System.Buffers.Binary;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Protocol.Udp;

/// <summary>
/// The header in front of every datagram relayed through UDP ASSOCIATE. Parsing allocates nothing: the address is a
/// slice of the datagram, and <see cref="GetDestination"/> builds a <see cref="Socks5Address"/> only when asked.
/// </summary>
/// <remarks>
/// RFC 1928 §7:
/// <code>
/// +----+------+------+----------+----------+----------+
/// |RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
/// +----+------+------+----------+----------+----------+
/// | 2  |  1   |  1   | Variable |    2     | Variable |
/// +----+------+------+----------+----------+----------+
/// </code>
/// </remarks>
public readonly ref struct Socks5UdpHeader
{
    private Socks5UdpHeader(byte fragment, Socks5AddressType addressType, ReadOnlySpan<byte> addressBytes, ushort port)
    {
        Fragment = fragment;
        AddressType = addressType;
        AddressBytes = addressBytes;
        Port = port;
    }

    /// <summary>FRAG: 0 for a whole datagram; anything else is a fragment.</summary>
    public byte Fragment { get; }

    /// <summary>ATYP.</summary>
    public Socks5AddressType AddressType { get; }

    /// <summary>DST.ADDR as it is on the wire: 4 or 16 bytes, or the domain name's bytes without its length.</summary>
    public ReadOnlySpan<byte> AddressBytes { get; }

    /// <summary>DST.PORT, in host order.</summary>
    public ushort Port { get; }

    /// <summary>DST.ADDR as an address (allocates a string for a domain name).</summary>
    public Socks5Address GetDestination() => Socks5Address.FromWireBytes(AddressType, AddressBytes);

    /// <summary>The header length for this address: RSV + FRAG + ATYP + ADDR + PORT.</summary>
    public static int GetLength(in Socks5Address address) => 3 + address.WireLength + 2;

    /// <summary>
    /// Parses the header at the start of <paramref name="datagram"/>. A datagram is always whole, so
    /// <see langword="false"/> always comes with an error (<see cref="Socks5ParseError.TruncatedDatagram"/> when it ends early).
    /// The payload starts at <paramref name="headerLength"/>.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> datagram, out Socks5UdpHeader header, out int headerLength, out Socks5ParseError error)
    {
        header = default;
        headerLength = 0;

        // RSV (2 bytes) is not checked, as in requests: nothing depends on it.
        if (datagram.Length < 3)
        {
            error = Socks5ParseError.TruncatedDatagram;
            return false;
        }

        byte fragment = datagram[2];
        if (!Socks5Address.TryRead(datagram[3..], out Socks5AddressType type, out ReadOnlySpan<byte> addressBytes, out int consumed, out error))
        {
            return false;
        }

        int portOffset = 3 + consumed;
        if (datagram.Length < portOffset + 2)
        {
            error = Socks5ParseError.TruncatedDatagram;
            return false;
        }

        header = new Socks5UdpHeader(fragment, type, addressBytes, BinaryPrimitives.ReadUInt16BigEndian(datagram[portOffset..]));
        headerLength = portOffset + 2;
        return true;
    }

    /// <summary>Writes a header naming <paramref name="address"/>:<paramref name="port"/>; returns the bytes written.</summary>
    public static int Write(Span<byte> destination, byte fragment, in Socks5Address address, ushort port)
    {
        ThrowHelpers.ThrowIfTooShort(destination, GetLength(address));
        destination[0] = 0;
        destination[1] = 0;
        destination[2] = fragment;
        int offset = 3 + address.Write(destination[3..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], port);
        return offset + 2;
    }
}
