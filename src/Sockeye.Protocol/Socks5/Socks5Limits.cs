namespace Sockeye.Protocol.Socks5;

/// <summary>
/// The largest size of each RFC 1928 / RFC 1929 message. Every length field in both RFCs is one byte,
/// so each message has a small fixed maximum and a parser can bound its input before it looks at it.
/// </summary>
public static class Socks5Limits
{
    /// <summary>The protocol version byte of every SOCKS5 message (RFC 1928 §3).</summary>
    public const byte Version = 0x05;

    /// <summary>The longest domain name DST.ADDR can carry: its length prefix is one byte.</summary>
    public const int MaxDomainNameLength = 255;

    /// <summary>ATYP + the longest address (1 + 255 for a domain) + PORT: 1 + 256 + 2.</summary>
    public const int MaxAddressWithPortLength = 1 + 1 + MaxDomainNameLength + 2;

    /// <summary>VER + NMETHODS + up to 255 methods: 1 + 1 + 255.</summary>
    public const int MaxGreetingLength = 1 + 1 + 255;

    /// <summary>VER + METHOD.</summary>
    public const int MethodSelectionLength = 2;

    /// <summary>VER + CMD + RSV + ATYP + DST.ADDR (at most 1 + 255) + DST.PORT: 4 + 256 + 2.</summary>
    public const int MaxRequestLength = 3 + MaxAddressWithPortLength;

    /// <summary>A reply has the same shape as a request: 262 bytes at most.</summary>
    public const int MaxReplyLength = MaxRequestLength;

    /// <summary>
    /// The shortest request (and reply): a one-byte domain name, VER + CMD + RSV + ATYP + (1 + 1) + PORT: 4 + 2 + 2.
    /// An IPv4 address, at 10 bytes, is not the shortest.
    /// </summary>
    public const int MinRequestLength = 4 + 2 + 2;

    /// <summary>RSV (2) + FRAG + ATYP + DST.ADDR (at most 1 + 255) + DST.PORT: 3 + 258 + 2.</summary>
    public const int MaxUdpHeaderLength = 3 + MaxAddressWithPortLength;
}
