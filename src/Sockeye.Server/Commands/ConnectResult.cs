using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Commands;

/// <summary>What a CONNECT attempt produced: a connected socket, or the reply code and the error behind it.</summary>
internal readonly record struct ConnectResult(TunnelSocket? Target, Socks5ReplyCode ReplyCode, SocketError SocketError)
{
    public static ConnectResult Failed(SocketError error) => new(null, ReplyCodes.FromSocketError(error), error);

    public static ConnectResult Connected(TunnelSocket target) => new(target, Socks5ReplyCode.Succeeded, SocketError.Success);

    /// <summary>Every address of the destination was denied by the access rules.</summary>
    public static ConnectResult Denied { get; } = new(null, Socks5ReplyCode.ConnectionNotAllowed, SocketError.AccessDenied);
}
