namespace Sockeye.Client;

/// <summary>What went wrong, as a <see cref="SocksException"/> reports it. Switch on it rather than on the message.</summary>
public enum SocksError
{
    /// <summary>
    /// The first proxy could not be reached: its name did not resolve, or the TCP connect failed. The
    /// <see cref="Exception.InnerException"/> is the <see cref="System.Net.Sockets.SocketException"/>.
    /// </summary>
    ProxyUnreachable = 1,

    /// <summary>The proxy answered the greeting with X'FF': it accepts none of the offered authentication methods.</summary>
    NoAcceptableMethod = 2,

    /// <summary>
    /// The proxy rejected the username and password (RFC 1929 STATUS other than X'00'), or an HTTP proxy answered 407
    /// (<see cref="SocksException.UpstreamStatus"/>): the credentials were wrong or missing. With GSSAPI (RFC 1961): the
    /// proxy aborted (X'01 FF', e.g. its keytab has no key for the principal asked for), Kerberos could not produce a
    /// token here (no ticket in the cache, an unknown principal: the message names the status), or the proxy did not
    /// prove its identity when <see cref="GssapiClientOptions.RequireMutualAuthentication"/> asked it to.
    /// </summary>
    AuthenticationFailed = 3,

    /// <summary>
    /// The proxy answered the request with a failure reply; <see cref="SocksException.ReplyCode"/> holds its REP field
    /// (for SOCKS4 and HTTP proxies, the SOCKS5 code that stands for their answer, which
    /// <see cref="SocksException.UpstreamStatus"/> keeps). In a chain this includes a proxy that could not reach the next
    /// one, and a destination the proxy's protocol cannot carry (X'08', nothing sent).
    /// </summary>
    CommandFailed = 4,

    /// <summary>The proxy sent bytes that are not valid in its protocol here, or chose a method that was not offered.</summary>
    ProtocolViolation = 5,

    /// <summary>
    /// The proxy closed or reset the connection: during the handshake, or, for UDP ASSOCIATE, the control connection
    /// that keeps the association alive. A reset carries the <see cref="System.Net.Sockets.SocketException"/> as
    /// <see cref="Exception.InnerException"/>.
    /// </summary>
    ConnectionClosed = 6,

    /// <summary>The handshake did not finish within <see cref="Socks5Client.ConnectTimeout"/>.</summary>
    TimedOut = 7,

    /// <summary>
    /// GSSAPI (RFC 1961): the proxy granted a protection level below
    /// <see cref="GssapiClientOptions.EffectiveMinimumProtectionLevel"/>, or one <see cref="ProxyChain"/> cannot carry
    /// (it returns no stream to wrap). The client sent the abort X'01 FF' and closed the connection.
    /// </summary>
    ProtectionLevelRefused = 8,
}
