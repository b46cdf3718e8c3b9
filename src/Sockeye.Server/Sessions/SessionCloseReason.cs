namespace Sockeye.Server.Sessions;

/// <summary>Why a session ended. The first reason recorded wins; it is logged once per session.</summary>
internal enum SessionCloseReason
{
    /// <summary>Not closed yet.</summary>
    None = 0,

    /// <summary>Both directions ended with a FIN and the tunnel closed cleanly.</summary>
    Completed,

    /// <summary>The client closed before its handshake was complete.</summary>
    ClientEof,

    /// <summary>The client reset its connection.</summary>
    ClientReset,

    /// <summary>The destination reset its connection.</summary>
    TargetReset,

    /// <summary>The handshake did not complete within the handshake timeout.</summary>
    HandshakeTimeout,

    /// <summary>The tunnel carried no data for the idle timeout.</summary>
    IdleTimeout,

    /// <summary>The UDP association carried no datagram in either direction for <c>udp.idleTimeout</c>.</summary>
    UdpIdleTimeout,

    /// <summary>The client sent bytes that are not valid SOCKS5.</summary>
    Malformed,

    /// <summary>The client offered no authentication method the server accepts.</summary>
    NoAcceptableMethod,

    /// <summary>RFC 1929 authentication failed.</summary>
    AuthFailed,

    /// <summary>A request was refused by the server's rules.</summary>
    RuleDenied,

    /// <summary>The destination could not be resolved or connected to.</summary>
    ConnectFailed,

    /// <summary>BIND ended without a usable peer: timeout, a connection from an unexpected address, or a failed accept.</summary>
    BindFailed,

    /// <summary>A session cap (global, per user or per client address) was reached.</summary>
    LimitReached,

    /// <summary>The handshake was closed to make room for a newer client at the handshake cap.</summary>
    HandshakeEvicted,

    /// <summary>The server shut down.</summary>
    ServerShutdown,

    /// <summary>An unexpected error in the server: a bug to report.</summary>
    ServerFault,

    /// <summary>
    /// A PROXY protocol listener refused the connection: not from a trusted balancer, or its header missing or malformed.
    /// </summary>
    ProxyHeaderRejected,

    /// <summary>A balancer's health check: a PROXY protocol version 2 LOCAL header, and no request after it.</summary>
    BalancerHealthCheck,

    /// <summary>The client spoke a protocol its listener does not (<c>listeners[].protocols</c>).</summary>
    ProtocolDisabled,
}
