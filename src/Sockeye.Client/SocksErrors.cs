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
            $"Could not connect to SOCKS5 proxy {hop}: {cause.Message} ({cause.SocketErrorCode}).",
            null, hop.Proxy, cause);

    public static SocksException NoAcceptableMethod(HopContext hop) =>
        new(SocksError.NoAcceptableMethod,
            hop.Proxy.Credential is null
                ? $"SOCKS5 proxy {hop} accepts no method that was offered (no authentication); it probably requires a username and password."
                : $"SOCKS5 proxy {hop} accepts no method that was offered (no authentication, username/password).",
            null, hop.Proxy, null);

    public static SocksException UnexpectedMethod(HopContext hop, Socks5AuthMethod method) =>
        new(SocksError.ProtocolViolation,
            $"SOCKS5 proxy {hop} chose authentication method X'{(byte)method:X2}', which was not offered.",
            null, hop.Proxy, null);

    public static SocksException AuthenticationFailed(HopContext hop, byte status) =>
        new(SocksError.AuthenticationFailed,
            $"SOCKS5 proxy {hop} rejected the username and password of user '{hop.Proxy.Credential?.UserName}' (RFC 1929 status X'{status:X2}').",
            null, hop.Proxy, null);

    public static SocksException CommandFailed(HopContext hop, Socks5Command command, string destination, Socks5ReplyCode code) =>
        new(SocksError.CommandFailed,
            $"SOCKS5 proxy {hop} failed {Describe(command)} {destination}: {Describe(code)} (X'{(byte)code:X2}').",
            code, hop.Proxy, null);

    public static SocksException Malformed(HopContext hop, HandshakeStep step, Socks5ParseError error) =>
        new(SocksError.ProtocolViolation,
            $"SOCKS5 proxy {hop} sent a malformed {Describe(step)} ({error}).",
            null, hop.Proxy, null);

    public static SocksException ConnectionClosed(HopContext hop, HandshakeStep step, SocketException? cause = null) =>
        new(SocksError.ConnectionClosed,
            cause is null
                ? $"SOCKS5 proxy {hop} closed the connection while the client waited for its {Describe(step)}."
                : $"SOCKS5 proxy {hop} reset the connection while the client waited for its {Describe(step)} ({cause.SocketErrorCode}).",
            null, hop.Proxy, cause);

    public static SocksException TimedOut(HopContext hop, HandshakeStep step, TimeSpan timeout) =>
        new(SocksError.TimedOut,
            step == HandshakeStep.ConnectingToProxy
                ? $"Could not connect to SOCKS5 proxy {hop} within {Format(timeout)}."
                : $"SOCKS5 proxy {hop} did not send its {Describe(step)} within {Format(timeout)}.",
            null, hop.Proxy, new TimeoutException());

    public static SocksException AssociationClosed(HopContext hop) =>
        new(SocksError.ConnectionClosed,
            $"SOCKS5 proxy {hop} closed the control connection of the UDP association; the association is over (RFC 1928 §7).",
            null, hop.Proxy, null);

    public static SocksException RelayFailed(HopContext hop, SocketException cause) =>
        new(SocksError.ConnectionClosed,
            $"The UDP relay of SOCKS5 proxy {hop} failed: {cause.Message} ({cause.SocketErrorCode}).",
            null, hop.Proxy, cause);

    public static SocksException UnreachableRelay(HopContext hop, string relay, string reason) =>
        new(SocksError.ProtocolViolation,
            $"SOCKS5 proxy {hop} announced UDP relay {relay}, which {reason}.",
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

    private static string Describe(HandshakeStep step) => step switch
    {
        HandshakeStep.MethodSelection => "method selection",
        HandshakeStep.Authentication => "username/password status",
        HandshakeStep.Request => "reply",
        HandshakeStep.AwaitingPeer => "second BIND reply",
        _ => "answer",
    };

    private static string Format(TimeSpan timeout) =>
        timeout.TotalSeconds >= 1
            ? timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s"
            : timeout.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms";
}
