namespace Sockeye.Protocol.Socks4;

/// <summary>
/// Why a sequence of bytes can never become a valid SOCKS4 message. <see cref="None"/> together with a
/// <see langword="false"/> parse result means "need more bytes", never "bad".
/// </summary>
public enum Socks4ParseError : byte
{
    /// <summary>No error: the message is either complete or still incomplete.</summary>
    None = 0,

    /// <summary>VN is not 4 in a request (or not 0 in a reply).</summary>
    UnsupportedVersion,

    /// <summary>CD is not CONNECT or BIND.</summary>
    UnknownCommand,

    /// <summary>USERID runs past <see cref="Socks4Request.MaxUserIdLength"/> bytes without its terminating NUL.</summary>
    UserIdTooLong,

    /// <summary>USERID is not valid UTF-8 (user names are UTF-8, as RFC 1929's are).</summary>
    InvalidUserId,

    /// <summary>A SOCKS4a request whose name is empty.</summary>
    EmptyDomainName,

    /// <summary>A SOCKS4a name that runs past 255 bytes without its terminating NUL.</summary>
    DomainNameTooLong,

    /// <summary>A SOCKS4a name that is not valid UTF-8.</summary>
    InvalidDomainName,
}
