namespace Sockeye.Server.Sessions;

/// <summary>Where a session is; logged with malformed-input events and visible in a dump.</summary>
internal enum HandshakePhase
{
    /// <summary>Waiting for the method-selection request.</summary>
    Greeting,

    /// <summary>Waiting for the RFC 1929 username/password request.</summary>
    Authentication,

    /// <summary>Waiting for the SOCKS request.</summary>
    Request,

    /// <summary>Resolving and connecting to the destination.</summary>
    Connecting,

    /// <summary>BIND: waiting for the peer to connect.</summary>
    AwaitingPeer,

    /// <summary>Relaying data (TCP), or datagrams (UDP ASSOCIATE).</summary>
    Relaying,

    /// <summary>Waiting for the PROXY protocol header a load balancer sends before the client's bytes.</summary>
    ProxyHeader,

    /// <summary>GSSAPI (RFC 1961): establishing the security context, then negotiating the protection level.</summary>
    GssapiContext,
}
