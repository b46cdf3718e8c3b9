using System.Net;

namespace Sockeye.Server.Configuration;

/// <summary>
/// The protocols a listener speaks. One port serves them all: the client's first byte tells which it uses (X'05' SOCKS5,
/// X'04' SOCKS4 or SOCKS4a, an ASCII letter an HTTP proxy request). Set per listener in
/// <see cref="SockeyeServerOptions.Protocols"/>.
/// </summary>
[Flags]
public enum ListenerProtocols : byte
{
    /// <summary>None: a listener must speak at least one protocol.</summary>
    None = 0,

    /// <summary>SOCKS5 (RFC 1928), with RFC 1929 authentication when users are configured.</summary>
    Socks5 = 1,

    /// <summary>
    /// SOCKS4 and SOCKS4a: CONNECT and BIND, IPv4 addresses and (4a) names. It has no password: with users configured a
    /// SOCKS4 client is refused unless <see cref="Socks4Options.AllowWithUsers"/> names its USERID.
    /// </summary>
    Socks4 = 2,

    /// <summary>An HTTP/1.1 proxy: CONNECT tunnels and absolute-URI requests, with <c>Proxy-Authorization: Basic</c>.</summary>
    Http = 4,

    /// <summary>All three.</summary>
    All = Socks5 | Socks4 | Http,
}

/// <summary>The protocols a listener speaks when its configuration does not say.</summary>
public static class ListenerProtocolDefaults
{
    /// <summary>
    /// All of them on a loopback listener, whose clients are this host's own programs; SOCKS5 alone on any other, so that
    /// a listener open to a network speaks no more than it did before the other protocols existed until its operator
    /// says so.
    /// </summary>
    public static ListenerProtocols For(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return IPAddress.IsLoopback(endPoint.Address) ? ListenerProtocols.All : ListenerProtocols.Socks5;
    }
}
