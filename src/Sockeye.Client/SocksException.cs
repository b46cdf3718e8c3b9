using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>
/// A proxy (SOCKS5, SOCKS4a or HTTP) could not be reached, refused the client, or failed the request. It is an
/// <see cref="IOException"/>, so code that already handles network failures handles this one too; <see cref="Error"/>
/// says which failure it is.
/// </summary>
/// <remarks>
/// Messages name the proxy (and its place in a chain), the destination and what the proxy answered. Whatever the
/// proxy's kind, <see cref="ReplyCode"/> is what a SOCKS5 proxy would have answered, so a server relaying the failure
/// to its own client can pass it on; <see cref="UpstreamStatus"/> keeps what a SOCKS4 or HTTP proxy really said.
/// </remarks>
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
        : this(error, message, replyCode, null, proxy, innerException)
    {
    }

    /// <summary>A failure of the given kind, with what a SOCKS4 or HTTP proxy answered.</summary>
    /// <param name="error">What went wrong.</param>
    /// <param name="message">The message, naming the proxy and the destination.</param>
    /// <param name="replyCode">The SOCKS5 reply code that stands for the proxy's answer, for <see cref="SocksError.CommandFailed"/>.</param>
    /// <param name="upstreamStatus">A SOCKS4 proxy's CD or an HTTP proxy's status code; <see langword="null"/> for SOCKS5.</param>
    /// <param name="proxy">The proxy that failed.</param>
    /// <param name="innerException">The cause, such as a <see cref="System.Net.Sockets.SocketException"/>.</param>
    public SocksException(SocksError error, string message, Socks5ReplyCode? replyCode, int? upstreamStatus, Socks5Proxy? proxy, Exception? innerException)
        : base(message, innerException)
    {
        Error = error;
        ReplyCode = replyCode;
        UpstreamStatus = upstreamStatus;
        Proxy = proxy;
    }

    /// <summary>What went wrong.</summary>
    public SocksError Error { get; }

    /// <summary>
    /// The REP field of a SOCKS5 proxy's failure reply, or the SOCKS5 code that stands for another kind's answer;
    /// <see langword="null"/> unless <see cref="Error"/> is <see cref="SocksError.CommandFailed"/>.
    /// </summary>
    /// <remarks>
    /// <para>A SOCKS5 code outside RFC 1928's X'00'–X'08' is kept as it came, cast to <see cref="Socks5ReplyCode"/>.</para>
    /// <para>
    /// SOCKS4 (any CD but 90: 91, 92, 93, or another): <see cref="Socks5ReplyCode.GeneralFailure"/>, since SOCKS4 says no
    /// more. HTTP: 403 is <see cref="Socks5ReplyCode.ConnectionNotAllowed"/>, 502 <see cref="Socks5ReplyCode.HostUnreachable"/>,
    /// 504 <see cref="Socks5ReplyCode.TtlExpired"/>, any other failure <see cref="Socks5ReplyCode.GeneralFailure"/>; a
    /// 407 is <see cref="SocksError.AuthenticationFailed"/>, with no reply code, as a SOCKS5 proxy's refused login is. A
    /// destination the hop's protocol cannot carry (an IPv6 address through SOCKS4a, a name that is not ASCII through
    /// HTTP) is <see cref="Socks5ReplyCode.AddressTypeNotSupported"/>.
    /// </para>
    /// </remarks>
    public Socks5ReplyCode? ReplyCode { get; }

    /// <summary>
    /// What a SOCKS4 or HTTP proxy answered: the reply's CD (91, 92, 93, ...) or the response's status code (403, 407,
    /// 502, ...). <see langword="null"/> for a SOCKS5 proxy, whose answer <see cref="ReplyCode"/> holds as it came, and
    /// when no answer was read.
    /// </summary>
    public int? UpstreamStatus { get; }

    /// <summary>The proxy that failed: in a chain, the hop whose answer (or silence) ended the handshake.</summary>
    public Socks5Proxy? Proxy { get; }
}
