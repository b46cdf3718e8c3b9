using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>
/// A SOCKS5 proxy could not be reached, refused the client, or failed the request. It is an <see cref="IOException"/>,
/// so code that already handles network failures handles this one too; <see cref="Error"/> says which failure it is.
/// </summary>
/// <remarks>Messages name the proxy (and its place in a chain), the destination and the reply code.</remarks>
public sealed class SocksException : IOException
{
    /// <summary>A failure with a message only; <see cref="Error"/> is <see cref="SocksError.ProtocolViolation"/>.</summary>
    public SocksException()
        : this(SocksError.ProtocolViolation, "The SOCKS5 exchange failed.", null, null, null)
    {
    }

    /// <summary>A failure with a message only; <see cref="Error"/> is <see cref="SocksError.ProtocolViolation"/>.</summary>
    public SocksException(string message)
        : this(SocksError.ProtocolViolation, message, null, null, null)
    {
    }

    /// <summary>A failure with a message and a cause; <see cref="Error"/> is <see cref="SocksError.ProtocolViolation"/>.</summary>
    public SocksException(string message, Exception? innerException)
        : this(SocksError.ProtocolViolation, message, null, null, innerException)
    {
    }

    /// <summary>A failure of the given kind.</summary>
    /// <param name="error">What went wrong.</param>
    /// <param name="message">The message, naming the proxy and the destination.</param>
    /// <param name="replyCode">The proxy's REP field, for <see cref="SocksError.CommandFailed"/>.</param>
    /// <param name="proxy">The proxy that failed.</param>
    /// <param name="innerException">The cause, such as a <see cref="System.Net.Sockets.SocketException"/>.</param>
    public SocksException(SocksError error, string message, Socks5ReplyCode? replyCode, Socks5Proxy? proxy, Exception? innerException)
        : base(message, innerException)
    {
        Error = error;
        ReplyCode = replyCode;
        Proxy = proxy;
    }

    /// <summary>What went wrong.</summary>
    public SocksError Error { get; }

    /// <summary>The REP field of the proxy's failure reply; <see langword="null"/> unless <see cref="Error"/> is <see cref="SocksError.CommandFailed"/>.</summary>
    /// <remarks>A code outside RFC 1928's X'00'–X'08' is kept as it came, cast to <see cref="Socks5ReplyCode"/>.</remarks>
    public Socks5ReplyCode? ReplyCode { get; }

    /// <summary>The proxy that failed: in a chain, the hop whose answer (or silence) ended the handshake.</summary>
    public Socks5Proxy? Proxy { get; }
}
