namespace Sockeye.Client.Handshake;

/// <summary>Where a handshake is, so that a failure can say where it happened (StackExchange.Redis's ReadStatus habit).</summary>
internal enum HandshakeStep
{
    /// <summary>Opening the TCP connection to the first proxy.</summary>
    ConnectingToProxy,

    /// <summary>Greeting sent; waiting for the method selection (RFC 1928 §3).</summary>
    MethodSelection,

    /// <summary>Credentials sent; waiting for the RFC 1929 status.</summary>
    Authentication,

    /// <summary>GSSAPI (RFC 1961 §3): a context token sent; waiting for the proxy's (the AP-REP of mutual authentication).</summary>
    GssapiContext,

    /// <summary>GSSAPI (RFC 1961 §4): the protection level sent; waiting for the level the proxy grants.</summary>
    GssapiProtection,

    /// <summary>Request sent; waiting for the reply (RFC 1928 §6). For BIND, the first reply.</summary>
    Request,

    /// <summary>BIND only: waiting for the second reply, sent when the peer connects.</summary>
    AwaitingPeer,
}
