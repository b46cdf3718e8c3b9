namespace Sockeye.Protocol.Socks5;

/// <summary>The ATYP field (RFC 1928 §4 and §5).</summary>
public enum Socks5AddressType : byte
{
    /// <summary>X'01' an IPv4 address, 4 bytes.</summary>
    IPv4 = 0x01,

    /// <summary>X'03' a domain name: one length byte, then 1–255 bytes, no terminating NUL.</summary>
    DomainName = 0x03,

    /// <summary>X'04' an IPv6 address, 16 bytes.</summary>
    IPv6 = 0x04,
}
