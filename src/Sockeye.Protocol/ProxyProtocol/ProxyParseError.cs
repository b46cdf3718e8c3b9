namespace Sockeye.Protocol.ProxyProtocol;

/// <summary>
/// Why bytes can never become a valid PROXY protocol header. <see cref="None"/> together with a
/// <see langword="false"/> parse result means "need more bytes", never "bad".
/// </summary>
public enum ProxyParseError : byte
{
    /// <summary>No error: the header is either complete or still incomplete.</summary>
    None = 0,

    /// <summary>
    /// The bytes so far begin neither <c>PROXY </c> nor the v2 signature: a client that speaks SOCKS, TLS or HTTP to a
    /// listener that expects the header. Decided at the first byte that differs.
    /// </summary>
    NotProxyProtocol,

    /// <summary>A v2 header whose version nibble (the high half of the 13th byte) is not 2.</summary>
    UnsupportedVersion,

    /// <summary>A v2 header whose command nibble is neither LOCAL (0) nor PROXY (1).</summary>
    UnknownCommand,

    /// <summary>A v2 PROXY header whose family byte is not 0x00, 0x11, 0x12, 0x21, 0x22, 0x31 or 0x32.</summary>
    UnknownFamily,

    /// <summary>A v2 PROXY header whose length is shorter than the address block its family needs (12, 36 or 216 bytes).</summary>
    AddressesTruncated,

    /// <summary>
    /// A v1 line with no CRLF in its first 107 bytes, or a v2 header whose declared size (16 + length) is more than the
    /// caller's limit.
    /// </summary>
    HeaderTooLong,

    /// <summary>
    /// The TLVs after a v2 address block do not fill the rest of the header exactly: a TLV's 3-byte type and length, or
    /// its value, runs past the end.
    /// </summary>
    MalformedTlv,

    /// <summary>
    /// A v1 line that is not <c>PROXY</c>, one space, <c>TCP4</c>/<c>TCP6</c> and four fields separated by single
    /// spaces, or <c>UNKNOWN</c>, then CRLF: an unknown protocol word, a missing or extra field, a double space, or a CR
    /// or LF on its own.
    /// </summary>
    MalformedV1,

    /// <summary>
    /// A v1 address that is not valid for its family: <c>TCP4</c> needs a dotted quad without leading zeros,
    /// <c>TCP6</c> an IPv6 address (no zone, no brackets).
    /// </summary>
    InvalidV1Address,

    /// <summary>A v1 port that is not a decimal number from 0 to 65535 without a sign or leading zeros.</summary>
    InvalidV1Port,
}
