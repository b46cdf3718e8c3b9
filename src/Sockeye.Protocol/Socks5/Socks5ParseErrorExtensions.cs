namespace Sockeye.Protocol.Socks5;

/// <summary>The one place that chooses a reply code for malformed input.</summary>
public static class Socks5ParseErrorExtensions
{
    /// <summary>
    /// The reply a server sends for a request that failed to parse: X'07' for an unknown command,
    /// X'08' for an unknown address type, X'01' for everything else.
    /// </summary>
    public static Socks5ReplyCode ToReplyCode(this Socks5ParseError error) => error switch
    {
        Socks5ParseError.UnknownCommand => Socks5ReplyCode.CommandNotSupported,
        Socks5ParseError.UnknownAddressType => Socks5ReplyCode.AddressTypeNotSupported,
        _ => Socks5ReplyCode.GeneralFailure,
    };
}
