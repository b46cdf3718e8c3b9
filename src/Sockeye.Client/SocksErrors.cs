using System.Globalization;
using System.Net.Sockets;
using Sockeye.Client.Handshake;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>
/// The one place that builds <see cref="SocksException"/>s (StackExchange.Redis's ExceptionFactory), so every message
/// names the proxy, its place in a chain, the destination and the code in the same words.
/// </summary>
internal static class SocksErrors
{
    public static SocksException ProxyUnreachable(HopContext hop, SocketException cause) =>
        new(SocksError.ProxyUnreachable,
            $"Could not connect to {Name(hop)}: {cause.Message} ({cause.SocketErrorCode}).",
            null, hop.Proxy, cause);

    public static SocksException NoAcceptableMethod(HopContext hop, bool offeredPassword) =>
        new(SocksError.NoAcceptableMethod,
            hop.Proxy.Gssapi is not null
                ? $"{Name(hop)} accepts no method that was offered ({(offeredPassword ? "GSSAPI, username/password" : "GSSAPI")}); it probably does not speak GSSAPI (RFC 1961)."
                : hop.Proxy.Credential is null
                ? $"{Name(hop)} accepts no method that was offered (no authentication); it probably requires a username and password."
                : $"{Name(hop)} accepts no method that was offered (no authentication, username/password).",
            null, hop.Proxy, null);

    /// <summary>Kerberos could not go on here: no ticket, an unknown principal, a token the proxy's answer broke.</summary>
    public static SocksException GssapiFailedHere(HopContext hop, string targetName, string status) =>
        new(SocksError.AuthenticationFailed,
            $"GSSAPI authentication with {Name(hop)} failed on this side: Kerberos could not go on with principal {targetName} ({status}). "
            + "Is there a ticket in the cache (klist), and does the principal exist? The client aborted (X'01 FF').",
            null, hop.Proxy, null);

    /// <summary>The proxy sent the abort X'01 FF'.</summary>
    public static SocksException GssapiAborted(HopContext hop, HandshakeStep step, string targetName) =>
        new(SocksError.AuthenticationFailed,
            step == HandshakeStep.GssapiContext
                ? $"GSSAPI authentication failed: {Name(hop)} aborted (X'01 FF') on the client's ticket for {targetName}; its keytab may hold no key for that principal, or another key version."
                : $"GSSAPI authentication failed: {Name(hop)} aborted (X'01 FF') when the client sent its protection level.",
            null, hop.Proxy, null);

    public static SocksException GssapiNotMutual(HopContext hop, string targetName) =>
        new(SocksError.AuthenticationFailed,
            $"GSSAPI authentication failed: {Name(hop)} did not prove it is {targetName} (mutual authentication was required); the client aborted (X'01 FF').",
            null, hop.Proxy, null);

    public static SocksException GssapiTooManyRounds(HopContext hop, int rounds) =>
        new(SocksError.ProtocolViolation,
            $"The GSSAPI context with {Name(hop)} was not established in {rounds.ToString(CultureInfo.InvariantCulture)} rounds; the client aborted (X'01 FF').",
            null, hop.Proxy, null);

    public static SocksException GssapiUnexpectedMessage(HopContext hop, HandshakeStep step, byte type) =>
        new(SocksError.ProtocolViolation,
            $"{Name(hop)} sent a GSSAPI message of type X'{type:X2}' where its {Describe(hop, step)} was expected.",
            null, hop.Proxy, null);

    public static SocksException GssapiBadProtectionAnswer(HopContext hop, string why) =>
        new(SocksError.ProtocolViolation,
            $"{Name(hop)} sent a GSSAPI protection level answer that {why}; the client aborted (X'01 FF').",
            null, hop.Proxy, null);

    public static SocksException ProtectionBelowMinimum(HopContext hop, byte granted, string minimum) =>
        new(SocksError.ProtectionLevelRefused,
            $"{Name(hop)} granted GSSAPI protection level {DescribeLevel(granted)} (X'{granted:X2}'), below the minimum this client accepts, {minimum}; "
            + "the client aborted (X'01 FF').",
            null, hop.Proxy, null);

    public static SocksException ProtectionNotCarried(HopContext hop, byte granted) =>
        new(SocksError.ProtectionLevelRefused,
            $"{Name(hop)} granted GSSAPI protection level {DescribeLevel(granted)} (X'{granted:X2}'), which ProxyChain cannot carry: it returns no stream "
            + "to wrap the tunnel's bytes in. Use Socks5Client. The client aborted (X'01 FF').",
            null, hop.Proxy, null);

    public static SocksException UnexpectedMethod(HopContext hop, Socks5AuthMethod method) =>
        new(SocksError.ProtocolViolation,
            $"{Name(hop)} chose authentication method X'{(byte)method:X2}', which was not offered.",
            null, hop.Proxy, null);

    public static SocksException AuthenticationFailed(HopContext hop, byte status) =>
        new(SocksError.AuthenticationFailed,
            $"{Name(hop)} rejected the username and password of user '{hop.Proxy.Credential?.UserName}' (RFC 1929 status X'{status:X2}').",
            null, hop.Proxy, null);

    public static SocksException CommandFailed(HopContext hop, Socks5Command command, string destination, Socks5ReplyCode code) =>
        new(SocksError.CommandFailed,
            $"{Name(hop)} failed {Describe(command)} {destination}: {Describe(code)} (X'{(byte)code:X2}').",
            code, hop.Proxy, null);

    public static SocksException Malformed<TError>(HopContext hop, HandshakeStep step, TError error)
        where TError : struct, Enum =>
        new(SocksError.ProtocolViolation,
            $"{Name(hop)} sent a malformed {Describe(hop, step)} ({error}).",
            null, hop.Proxy, null);

    /// <summary>A SOCKS4 reply other than 90 (granted): SOCKS4 has no finer codes, so every one is X'01'.</summary>
    public static SocksException Socks4Rejected(HopContext hop, string destination, byte code) =>
        new(SocksError.CommandFailed,
            $"{Name(hop)} rejected CONNECT to {destination}: {DescribeSocks4(code)} (CD {code}).",
            Socks5ReplyCode.GeneralFailure, code, hop.Proxy, null);

    /// <summary>
    /// An HTTP proxy's answer to CONNECT other than 2xx. 407 is a refused login, as RFC 1929's failure is; the others
    /// are failed commands, with the SOCKS5 code a server would pass on (see <see cref="FromHttpStatus"/>).
    /// </summary>
    public static SocksException HttpRefused(HopContext hop, string destination, int status, string reasonPhrase)
    {
        // The reason phrase is the peer's text; the codec has kept controls out of it, so it can go into a message.
        string reason = reasonPhrase.Length is > 0 and <= 100 ? reasonPhrase : Protocol.Http.HttpProxyMessages.ReasonPhrase(status);
        string answered = $"{Name(hop)} answered HTTP {status.ToString(CultureInfo.InvariantCulture)} {reason} to CONNECT {destination}";
        return status == 407
            ? new(SocksError.AuthenticationFailed,
                hop.Proxy.Credential is null
                    ? $"{answered}: it requires a username and password."
                    : $"{answered}: it rejected the credentials of user '{hop.Proxy.Credential.UserName}'.",
                null, status, hop.Proxy, null)
            : new(SocksError.CommandFailed, answered + ".", FromHttpStatus(status), status, hop.Proxy, null);
    }

    /// <summary>A destination this hop's protocol has no way to name: refused before anything is sent, with X'08'.</summary>
    public static SocksException CannotCarry(HopContext hop, string destination, string why) =>
        new(SocksError.CommandFailed,
            $"{Name(hop)} cannot be asked to CONNECT to {destination}: {why} (taken as X'08', address type not supported).",
            Socks5ReplyCode.AddressTypeNotSupported, hop.Proxy, null);

    /// <summary>BIND and UDP ASSOCIATE exist in SOCKS5 alone; the last hop must speak it. Thrown before any I/O.</summary>
    public static NotSupportedException CommandNeedsSocks5(HopContext hop, Socks5Command command) =>
        new($"{(command == Socks5Command.Bind ? "BIND" : "UDP ASSOCIATE")} needs a SOCKS5 proxy as the last hop; {hop} is "
            + $"{(hop.Proxy.Kind == ProxyKind.Http ? "an HTTP" : "a SOCKS4a")} proxy, which can only CONNECT.");

    /// <summary>
    /// The SOCKS5 code for an HTTP proxy's failure status, as a SOCKS5 proxy would have answered: 403 (the proxy's
    /// rules) X'02'; 502 (it could not reach the destination) X'04'; 504 (it gave up waiting) X'06'; anything else X'01'.
    /// Sockeye's own HTTP proxy maps the other way (ProxySession.Http's HttpStatusFor), so a chain of Sockeyes keeps the code.
    /// </summary>
    public static Socks5ReplyCode FromHttpStatus(int status) => status switch
    {
        403 => Socks5ReplyCode.ConnectionNotAllowed,
        502 => Socks5ReplyCode.HostUnreachable,
        504 => Socks5ReplyCode.TtlExpired,
        _ => Socks5ReplyCode.GeneralFailure,
    };

    /// <summary>
    /// The hop closed the connection (<paramref name="cause"/> <see langword="null"/>), reset it (a
    /// <see cref="SocketException"/>), or the stream under the handshake failed some other way.
    /// </summary>
    public static SocksException ConnectionClosed(HopContext hop, HandshakeStep step, Exception? cause = null) =>
        new(SocksError.ConnectionClosed,
            cause switch
            {
                null => $"{Name(hop)} closed the connection while the client waited for its {Describe(hop, step)}.",
                SocketException e => $"{Name(hop)} reset the connection while the client waited for its {Describe(hop, step)} ({e.SocketErrorCode}).",
                _ => $"The connection to {Name(hop)} failed while the client waited for its {Describe(hop, step)}: {cause.Message}",
            },
            null, hop.Proxy, cause);

    public static SocksException TimedOut(HopContext hop, HandshakeStep step, TimeSpan timeout) =>
        new(SocksError.TimedOut,
            step == HandshakeStep.ConnectingToProxy
                ? $"Could not connect to {Name(hop)} within {Format(timeout)}."
                : $"{Name(hop)} did not send its {Describe(hop, step)} within {Format(timeout)}.",
            null, hop.Proxy, new TimeoutException());

    public static SocksException AssociationClosed(HopContext hop) =>
        new(SocksError.ConnectionClosed,
            $"{Name(hop)} closed the control connection of the UDP association; the association is over (RFC 1928 §7).",
            null, hop.Proxy, null);

    public static SocksException RelayFailed(HopContext hop, SocketException cause) =>
        new(SocksError.ConnectionClosed,
            $"The UDP relay of {Name(hop)} failed: {cause.Message} ({cause.SocketErrorCode}).",
            null, hop.Proxy, cause);

    public static SocksException UnreachableRelay(HopContext hop, string relay, string reason) =>
        new(SocksError.ProtocolViolation,
            $"{Name(hop)} announced UDP relay {relay}, which {reason}.",
            null, hop.Proxy, null);

    /// <summary>RFC 1928 §6's wording, in lower case, for the nine codes it defines.</summary>
    public static string Describe(Socks5ReplyCode code) => code switch
    {
        Socks5ReplyCode.Succeeded => "succeeded",
        Socks5ReplyCode.GeneralFailure => "general SOCKS server failure",
        Socks5ReplyCode.ConnectionNotAllowed => "connection not allowed by ruleset",
        Socks5ReplyCode.NetworkUnreachable => "network unreachable",
        Socks5ReplyCode.HostUnreachable => "host unreachable",
        Socks5ReplyCode.ConnectionRefused => "connection refused",
        Socks5ReplyCode.TtlExpired => "TTL expired",
        Socks5ReplyCode.CommandNotSupported => "command not supported",
        Socks5ReplyCode.AddressTypeNotSupported => "address type not supported",
        _ => "unassigned reply code",
    };

    private static string Describe(Socks5Command command) => command switch
    {
        Socks5Command.Connect => "CONNECT to",
        Socks5Command.Bind => "BIND for",
        _ => "UDP ASSOCIATE from",
    };

    private static string Describe(HopContext hop, HandshakeStep step) => step switch
    {
        HandshakeStep.MethodSelection => "method selection",
        HandshakeStep.Authentication => "username/password status",
        HandshakeStep.GssapiContext => "GSSAPI context token",
        HandshakeStep.GssapiProtection => "GSSAPI protection level",
        HandshakeStep.Request when hop.Proxy.Kind == ProxyKind.Http => "response to CONNECT",
        HandshakeStep.Request => "reply",
        HandshakeStep.AwaitingPeer => "second BIND reply",
        _ => "answer",
    };

    private static string DescribeLevel(byte level) => level switch
    {
        0 => "none",
        1 => "integrity",
        2 => "confidentiality",
        3 => "selective",
        _ => "unknown",
    };

    private static string DescribeSocks4(byte code) => code switch
    {
        91 => "request rejected or failed",
        92 => "it could not reach the client's identd",
        93 => "the client's identd reported a different user id",
        _ => "an unassigned reply code",
    };

    /// <summary>"SOCKS5 proxy 127.0.0.1:1080 (hop 1 of 2)", "HTTP proxy …", "SOCKS4a proxy …".</summary>
    private static string Name(HopContext hop) => hop.Proxy.Kind switch
    {
        ProxyKind.Http => $"HTTP proxy {hop}",
        ProxyKind.Socks4a => $"SOCKS4a proxy {hop}",
        _ => $"SOCKS5 proxy {hop}",
    };

    private static string Format(TimeSpan timeout) =>
        timeout.TotalSeconds >= 1
            ? timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s"
            : timeout.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms";
}
