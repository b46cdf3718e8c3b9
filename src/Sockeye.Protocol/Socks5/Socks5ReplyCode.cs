namespace Sockeye.Protocol.Socks5;

/// <summary>The REP field of a reply (RFC 1928 §6).</summary>
public enum Socks5ReplyCode : byte
{
    /// <summary>X'00' succeeded.</summary>
    Succeeded = 0x00,

    /// <summary>X'01' general SOCKS server failure.</summary>
    GeneralFailure = 0x01,

    /// <summary>X'02' connection not allowed by ruleset.</summary>
    ConnectionNotAllowed = 0x02,

    /// <summary>X'03' network unreachable.</summary>
    NetworkUnreachable = 0x03,

    /// <summary>X'04' host unreachable (also used when a name does not resolve).</summary>
    HostUnreachable = 0x04,

    /// <summary>X'05' connection refused.</summary>
    ConnectionRefused = 0x05,

    /// <summary>X'06' TTL expired (Sockeye's answer when a connect attempt times out).</summary>
    TtlExpired = 0x06,

    /// <summary>X'07' command not supported.</summary>
    CommandNotSupported = 0x07,

    /// <summary>X'08' address type not supported.</summary>
    AddressTypeNotSupported = 0x08,
}
