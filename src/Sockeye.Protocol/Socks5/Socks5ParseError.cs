namespace Sockeye.Protocol.Socks5;

/// <summary>
/// Why a sequence of bytes can never become a valid message. <see cref="None"/> together with a
/// <see langword="false"/> parse result means "need more bytes", never "bad".
/// </summary>
public enum Socks5ParseError : byte
{
    /// <summary>No error: the message is either complete or still incomplete.</summary>
    None = 0,

    /// <summary>VER is not X'05' (or, for RFC 1929 messages, the subnegotiation version is not X'01').</summary>
    UnsupportedVersion,

    /// <summary>A greeting with NMETHODS = 0 offers nothing to choose from.</summary>
    NoMethodsOffered,

    /// <summary>CMD is not CONNECT, BIND or UDP ASSOCIATE.</summary>
    UnknownCommand,

    /// <summary>The reserved byte is not X'00'.</summary>
    ReservedNotZero,

    /// <summary>ATYP is not IPv4, DOMAINNAME or IPv6.</summary>
    UnknownAddressType,

    /// <summary>A domain name with a length byte of zero.</summary>
    EmptyDomainName,

    /// <summary>A domain name that contains a NUL byte or is not valid UTF-8.</summary>
    InvalidDomainName,

    /// <summary>An RFC 1929 request with ULEN = 0.</summary>
    EmptyUsername,

    /// <summary>An RFC 1929 request with PLEN = 0.</summary>
    EmptyPassword,

    /// <summary>A UDP datagram too short to hold its header.</summary>
    TruncatedDatagram,
}
