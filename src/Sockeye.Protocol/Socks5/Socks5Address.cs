using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Unicode;

namespace Sockeye.Protocol.Socks5;

/// <summary>
/// DST.ADDR or BND.ADDR with its ATYP: an IPv4 address, an IPv6 address or a domain name.
/// IP addresses are kept inline (no <see cref="IPAddress"/> is built until one is asked for);
/// a domain name is a string of 1–255 UTF-8 bytes without NUL.
/// </summary>
/// <remarks>
/// RFC 1928 §5:
/// <code>
/// +------+----------------------------------+
/// | ATYP | ADDR: 4 | 1 (len) + 1..255 | 16  |
/// +------+----------------------------------+
/// </code>
/// </remarks>
public readonly struct Socks5Address : IEquatable<Socks5Address>
{
    // The IP address in network order: IPv4 in the low 32 bits of _low, IPv6 across both.
    private readonly ulong _high;
    private readonly ulong _low;
    private readonly string? _domainName;

    private Socks5Address(Socks5AddressType type, ulong high, ulong low, string? domainName)
    {
        Type = type;
        _high = high;
        _low = low;
        _domainName = domainName;
    }

    /// <summary>0.0.0.0: the BND.ADDR of a failure reply and the "any" address of BIND and UDP ASSOCIATE.</summary>
    public static Socks5Address AnyIPv4 => new(Socks5AddressType.IPv4, 0, 0, null);

    /// <summary>The address type (ATYP).</summary>
    public Socks5AddressType Type { get; }

    /// <summary>The domain name, or <see langword="null"/> for an IP address.</summary>
    public string? DomainName => _domainName;

    /// <summary>Whether this is a domain name rather than an IP address.</summary>
    [MemberNotNullWhen(true, nameof(DomainName))]
    public bool IsDomainName => Type == Socks5AddressType.DomainName;

    /// <summary>The number of bytes ATYP and ADDR take on the wire.</summary>
    public int WireLength => Type switch
    {
        Socks5AddressType.IPv4 => 1 + 4,
        Socks5AddressType.IPv6 => 1 + 16,
        Socks5AddressType.DomainName => 1 + 1 + Encoding.UTF8.GetByteCount(_domainName!),
        _ => ThrowHelpers.ThrowDefaultAddress(),
    };

    /// <summary>Wraps an IP address. An IPv4 address becomes ATYP X'01', an IPv6 address (including an IPv4-mapped one) X'04'.</summary>
    /// <exception cref="ArgumentException">The address is neither IPv4 nor IPv6.</exception>
    public static Socks5Address FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            bool written = address.TryWriteBytes(bytes, out int length);
            Debug.Assert(written && length == 4);
            return new Socks5Address(Socks5AddressType.IPv4, 0, BinaryPrimitives.ReadUInt32BigEndian(bytes), null);
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            bool written = address.TryWriteBytes(bytes, out int length);
            Debug.Assert(written && length == 16);
            return FromIPv6Bytes(bytes);
        }

        throw new ArgumentException($"Address family {address.AddressFamily} cannot be sent in SOCKS5.", nameof(address));
    }

    /// <summary>An IPv4 address from its 32 bits in host order (as read big-endian from the wire).</summary>
    internal static Socks5Address FromIPv4(uint address) => new(Socks5AddressType.IPv4, 0, address, null);

    /// <summary>An IPv4 address's 32 bits in host order; 0 for any other type.</summary>
    internal uint IPv4Value => Type == Socks5AddressType.IPv4 ? (uint)_low : 0;

    /// <summary>Wraps a domain name, to be sent to the proxy unresolved.</summary>
    /// <exception cref="ArgumentException">
    /// The name is empty, longer than 255 UTF-8 bytes, contains a NUL, or is not well-formed UTF-16 (has a lone surrogate).
    /// </exception>
    public static Socks5Address FromDomainName(string domainName)
    {
        ArgumentNullException.ThrowIfNull(domainName);
        int byteCount = Encoding.UTF8.GetByteCount(domainName);
        if (byteCount is 0 or > Socks5Limits.MaxDomainNameLength)
        {
            throw new ArgumentException($"A SOCKS5 domain name must be 1 to {Socks5Limits.MaxDomainNameLength} bytes long; this one is {byteCount}.", nameof(domainName));
        }

        if (domainName.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A SOCKS5 domain name cannot contain a NUL character.", nameof(domainName));
        }

        // A lone surrogate has no UTF-8 form: Write would send U+FFFD in its place, a name other than this one. The
        // replacement is as long as the strict encoding, so 255 bytes hold a name that passed the length check.
        if (Utf8.FromUtf16(domainName, stackalloc byte[Socks5Limits.MaxDomainNameLength], out _, out _, replaceInvalidSequences: false) != OperationStatus.Done)
        {
            throw new ArgumentException("A SOCKS5 domain name must be well-formed UTF-16; this one has a lone surrogate.", nameof(domainName));
        }

        return new Socks5Address(Socks5AddressType.DomainName, 0, 0, domainName);
    }

    /// <summary>Builds the <see cref="IPAddress"/> of an IPv4 or IPv6 address.</summary>
    /// <exception cref="InvalidOperationException">This is a domain name.</exception>
    public IPAddress ToIPAddress()
    {
        if (!TryGetIPAddress(out IPAddress? address))
        {
            throw new InvalidOperationException("A domain name has no IP address until it is resolved.");
        }

        return address;
    }

    /// <summary>Builds the <see cref="IPAddress"/> of an IPv4 or IPv6 address; <see langword="false"/> for a domain name.</summary>
    public bool TryGetIPAddress([NotNullWhen(true)] out IPAddress? address)
    {
        switch (Type)
        {
            case Socks5AddressType.IPv4:
                Span<byte> v4 = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(v4, (uint)_low);
                address = new IPAddress(v4);
                return true;
            case Socks5AddressType.IPv6:
                Span<byte> v6 = stackalloc byte[16];
                WriteIPv6(v6);
                address = new IPAddress(v6);
                return true;
            default:
                address = null;
                return false;
        }
    }

    /// <summary>
    /// Builds the <see cref="IPAddress"/> this address denotes without a lookup: an IPv4 or IPv6 address, or a domain
    /// name that is an IP address written out, in any form <see cref="IPAddress.TryParse(string?, out IPAddress?)"/>
    /// accepts ("192.0.2.1", "::1", and the inet_aton shorthands such as "127.1" or "0"). <see langword="false"/> for
    /// any other name, which only a resolver can turn into addresses.
    /// </summary>
    /// <remarks>
    /// The runtime's resolver takes exactly these names as the address, without asking DNS (and refuses the unspecified
    /// addresses 0.0.0.0 and :: with an exception). A server that judges destinations by address should do the same, or
    /// the name "0" slips past a rule written for 0.0.0.0/8.
    /// </remarks>
    public bool TryGetLiteralIPAddress([NotNullWhen(true)] out IPAddress? address) =>
        Type == Socks5AddressType.DomainName ? IPAddress.TryParse(_domainName, out address) : TryGetIPAddress(out address);

    /// <summary>Writes ATYP and ADDR; returns the number of bytes written (<see cref="WireLength"/>).</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="WireLength"/>.</exception>
    public int Write(Span<byte> destination)
    {
        switch (Type)
        {
            case Socks5AddressType.IPv4:
                ThrowHelpers.ThrowIfTooShort(destination, 5);
                destination[0] = (byte)Socks5AddressType.IPv4;
                BinaryPrimitives.WriteUInt32BigEndian(destination[1..], (uint)_low);
                return 5;
            case Socks5AddressType.IPv6:
                ThrowHelpers.ThrowIfTooShort(destination, 17);
                destination[0] = (byte)Socks5AddressType.IPv6;
                WriteIPv6(destination.Slice(1, 16));
                return 17;
            case Socks5AddressType.DomainName:
                int length = Encoding.UTF8.GetByteCount(_domainName!);
                ThrowHelpers.ThrowIfTooShort(destination, 2 + length);
                destination[0] = (byte)Socks5AddressType.DomainName;
                destination[1] = checked((byte)length);
                int written = Encoding.UTF8.GetBytes(_domainName, destination.Slice(2, length));
                Debug.Assert(written == length);
                return 2 + length;
            default:
                return ThrowHelpers.ThrowDefaultAddress();
        }
    }

    /// <summary>
    /// Reads ATYP and ADDR. <see langword="false"/> with <see cref="Socks5ParseError.None"/> means more bytes are needed;
    /// the reader may then have moved, and the caller rewinds it.
    /// </summary>
    internal static bool TryRead(ref SequenceReader<byte> reader, out Socks5Address address, out Socks5ParseError error)
    {
        address = default;
        error = Socks5ParseError.None;
        if (!reader.TryRead(out byte type))
        {
            return false;
        }

        switch ((Socks5AddressType)type)
        {
            case Socks5AddressType.IPv4:
                if (!reader.TryReadBigEndian(out int v4))
                {
                    return false;
                }

                address = new Socks5Address(Socks5AddressType.IPv4, 0, (uint)v4, null);
                return true;
            case Socks5AddressType.IPv6:
                Span<byte> v6 = stackalloc byte[16];
                if (!reader.TryCopyTo(v6))
                {
                    return false;
                }

                reader.Advance(16);
                address = FromIPv6Bytes(v6);
                return true;
            case Socks5AddressType.DomainName:
                if (!reader.TryRead(out byte length))
                {
                    return false;
                }

                if (length == 0)
                {
                    error = Socks5ParseError.EmptyDomainName;
                    return false;
                }

                Span<byte> name = stackalloc byte[Socks5Limits.MaxDomainNameLength];
                name = name[..length];
                if (!reader.TryCopyTo(name))
                {
                    return false;
                }

                reader.Advance(length);
                return TryDecodeDomainName(name, out address, out error);
            default:
                error = Socks5ParseError.UnknownAddressType;
                return false;
        }
    }

    /// <summary>
    /// Reads ATYP and ADDR from a whole datagram without allocating: the address bytes are returned as a slice.
    /// <see langword="false"/> means the bytes are malformed or truncated; a datagram never gets more bytes.
    /// </summary>
    internal static bool TryRead(ReadOnlySpan<byte> source, out Socks5AddressType type, out ReadOnlySpan<byte> addressBytes, out int consumed, out Socks5ParseError error)
    {
        type = default;
        addressBytes = default;
        consumed = 0;
        error = Socks5ParseError.TruncatedDatagram;
        if (source.IsEmpty)
        {
            return false;
        }

        type = (Socks5AddressType)source[0];
        int start;
        int length;
        switch (type)
        {
            case Socks5AddressType.IPv4:
                start = 1;
                length = 4;
                break;
            case Socks5AddressType.IPv6:
                start = 1;
                length = 16;
                break;
            case Socks5AddressType.DomainName:
                if (source.Length < 2)
                {
                    return false;
                }

                start = 2;
                length = source[1];
                if (length == 0)
                {
                    error = Socks5ParseError.EmptyDomainName;
                    return false;
                }

                break;
            default:
                error = Socks5ParseError.UnknownAddressType;
                return false;
        }

        if (source.Length < start + length)
        {
            return false;
        }

        addressBytes = source.Slice(start, length);
        if (type == Socks5AddressType.DomainName && !IsValidDomainName(addressBytes))
        {
            error = Socks5ParseError.InvalidDomainName;
            return false;
        }

        consumed = start + length;
        error = Socks5ParseError.None;
        return true;
    }

    /// <summary>Builds an address from the raw ADDR bytes of a parsed datagram header.</summary>
    internal static Socks5Address FromWireBytes(Socks5AddressType type, ReadOnlySpan<byte> addressBytes) => type switch
    {
        Socks5AddressType.IPv4 => new Socks5Address(Socks5AddressType.IPv4, 0, BinaryPrimitives.ReadUInt32BigEndian(addressBytes), null),
        Socks5AddressType.IPv6 => FromIPv6Bytes(addressBytes),
        _ => new Socks5Address(Socks5AddressType.DomainName, 0, 0, Encoding.UTF8.GetString(addressBytes)),
    };

    internal static bool TryDecodeDomainName(ReadOnlySpan<byte> name, out Socks5Address address, out Socks5ParseError error)
    {
        if (!IsValidDomainName(name))
        {
            address = default;
            error = Socks5ParseError.InvalidDomainName;
            return false;
        }

        address = new Socks5Address(Socks5AddressType.DomainName, 0, 0, Encoding.UTF8.GetString(name));
        error = Socks5ParseError.None;
        return true;
    }

    // RFC 1928 names no encoding; names on the wire are ASCII (IDNA) in practice. We accept UTF-8 so that a
    // name survives a round trip, and refuse NUL, which C resolvers would treat as the end of the name.
    private static bool IsValidDomainName(ReadOnlySpan<byte> name) => !name.Contains((byte)0) && Utf8.IsValid(name);

    private static Socks5Address FromIPv6Bytes(ReadOnlySpan<byte> bytes) =>
        new(Socks5AddressType.IPv6, BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]), null);

    private void WriteIPv6(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _high);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _low);
    }

    /// <inheritdoc/>
    public bool Equals(Socks5Address other) =>
        Type == other.Type && _high == other._high && _low == other._low && string.Equals(_domainName, other._domainName, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Socks5Address other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Type, _high, _low, _domainName);

    /// <summary>Compares two addresses by type and value.</summary>
    public static bool operator ==(Socks5Address left, Socks5Address right) => left.Equals(right);

    /// <summary>Compares two addresses by type and value.</summary>
    public static bool operator !=(Socks5Address left, Socks5Address right) => !left.Equals(right);

    /// <summary>The address as text: 192.0.2.1, 2001:db8::1 or example.com.</summary>
    public override string ToString() => Type switch
    {
        Socks5AddressType.DomainName => _domainName!,
        Socks5AddressType.IPv4 or Socks5AddressType.IPv6 => ToIPAddress().ToString(),
        _ => "(none)",
    };

    /// <summary>The address and a port as text: 192.0.2.1:80, [2001:db8::1]:80 or example.com:80.</summary>
    public string ToString(ushort port) => Type == Socks5AddressType.IPv6 ? $"[{this}]:{port}" : $"{this}:{port}";
}
