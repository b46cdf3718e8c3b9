namespace Sockeye.Protocol.ProxyProtocol;

/// <summary>
/// The transport and address family of the relayed connection. Not wire values: v2 spells these as one byte
/// (0x11 for TCP over IPv4, …) and v1 as a word (<c>TCP4</c>).
/// </summary>
public enum ProxyAddressFamily : byte
{
    /// <summary>
    /// No addresses: a v1 <c>UNKNOWN</c> line, a v2 header with family 0x00 (UNSPEC), or any v2 LOCAL header.
    /// The receiver uses the real connection's endpoints.
    /// </summary>
    Unspecified = 0,

    /// <summary>TCP over IPv4 (v1 <c>TCP4</c>, v2 0x11).</summary>
    Tcp4,

    /// <summary>TCP over IPv6 (v1 <c>TCP6</c>, v2 0x21).</summary>
    Tcp6,

    /// <summary>UDP over IPv4 (v2 0x12).</summary>
    Udp4,

    /// <summary>UDP over IPv6 (v2 0x22).</summary>
    Udp6,

    /// <summary>
    /// AF_UNIX, stream or datagram (v2 0x31, 0x32). Its 108-byte socket paths are skipped, not decoded, so the header
    /// has no endpoints.
    /// </summary>
    Unix,
}
