namespace Sockeye.Server.Configuration;

/// <summary>Settings of HTTP proxy clients (<see cref="ListenerProtocols.Http"/>).</summary>
/// <remarks>
/// The first request's head must arrive within <see cref="SockeyeServerOptions.HandshakeTimeout"/>, as a SOCKS
/// handshake must; a later request on a kept-alive connection has as long from its first byte. A connection idle between
/// requests is closed after <see cref="SockeyeServerOptions.IdleTimeout"/>, as an idle tunnel is.
/// </remarks>
public sealed class HttpProxyOptions
{
    /// <summary>The longest request line taken, in bytes; a longer one is answered 414.</summary>
    /// <remarks>Defaults to 8 KiB. At least 256, and no more than <see cref="MaxHeaderBytes"/>.</remarks>
    public int MaxRequestLineBytes { get; set; } = 8 * 1024;

    /// <summary>The longest head taken (request line and header fields), in bytes; a longer one is answered 431.</summary>
    /// <remarks>
    /// Defaults to 16 KiB, within 1 KiB and 1 MiB. A client being served holds a buffer this long; an idle kept-alive
    /// connection holds none.
    /// </remarks>
    public int MaxHeaderBytes { get; set; } = 16 * 1024;

    /// <summary>Whether forwarded requests and responses get a <c>Via: 1.1 sockeye</c> field (RFC 9110 §7.6.3).</summary>
    /// <remarks>Defaults to <see langword="true"/>. Not added to CONNECT tunnels, whose bytes are never read.</remarks>
    public bool Via { get; set; } = true;

    /// <summary>The realm of the <c>Proxy-Authenticate: Basic</c> challenge that a 407 answer carries.</summary>
    /// <remarks>Defaults to <c>sockeye</c>. Printable ASCII, at most 128 characters.</remarks>
    public string Realm { get; set; } = "sockeye";
}
