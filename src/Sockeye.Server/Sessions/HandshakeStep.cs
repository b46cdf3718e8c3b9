namespace Sockeye.Server.Sessions;

/// <summary>What the handshake loop does next after parsing what it has.</summary>
internal enum HandshakeStep
{
    /// <summary>The current message is incomplete: read more.</summary>
    NeedMore,

    /// <summary>Send the reply in the output area, then parse on (the next message may already be here).</summary>
    Reply,

    /// <summary>Send the reply in the output area, then close: the handshake failed.</summary>
    ReplyAndClose,

    /// <summary>Close without a reply: the bytes are not SOCKS5 at all.</summary>
    Close,

    /// <summary>RFC 1929 credentials were parsed into the scratch area: check them (possibly after a throttling wait).</summary>
    Authenticate,

    /// <summary>GSSAPI was chosen: run its exchange (RFC 1961), which reads and answers on its own.</summary>
    Gssapi,

    /// <summary>A complete request was parsed.</summary>
    RequestReady,
}
