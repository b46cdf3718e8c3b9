using System.Net.Sockets;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Server.Commands;

/// <summary>The one mapping from what really happened to an outbound connection to the RFC 1928 reply code.</summary>
internal static class ReplyCodes
{
    /// <summary>
    /// refused → X'05'; network unreachable or down → X'03'; host unreachable, down or not found → X'04';
    /// timed out → X'06' (the closest RFC 1928 has to "no answer in time"); a kernel or firewall veto → X'02';
    /// anything else → X'01'.
    /// </summary>
    public static Socks5ReplyCode FromSocketError(SocketError error) => error switch
    {
        SocketError.Success => Socks5ReplyCode.Succeeded,
        SocketError.ConnectionRefused => Socks5ReplyCode.ConnectionRefused,
        SocketError.NetworkUnreachable or SocketError.NetworkDown => Socks5ReplyCode.NetworkUnreachable,
        SocketError.HostUnreachable or SocketError.HostDown or SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => Socks5ReplyCode.HostUnreachable,
        SocketError.TimedOut => Socks5ReplyCode.TtlExpired,
        SocketError.AccessDenied => Socks5ReplyCode.ConnectionNotAllowed,
        _ => Socks5ReplyCode.GeneralFailure,
    };
}
