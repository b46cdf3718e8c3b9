namespace Sockeye.Protocol.Gssapi;

/// <summary>
/// Why a sequence of bytes can never become a valid RFC 1961 message. <see cref="None"/> together with a
/// <see langword="false"/> parse result means "need more bytes", never "bad".
/// </summary>
public enum GssapiParseError : byte
{
    /// <summary>No error: the message is either complete or still incomplete.</summary>
    None = 0,

    /// <summary>VER is not X'01'.</summary>
    UnsupportedVersion,

    /// <summary>MTYP is none of X'01', X'02', X'03', X'FF'.</summary>
    UnknownMessageType,

    /// <summary>LEN is 0: every GSSAPI token has at least a byte.</summary>
    EmptyToken,

    /// <summary>LEN is more than the reader was told to accept: refused at the header, before the token is awaited.</summary>
    TokenTooLong,
}
