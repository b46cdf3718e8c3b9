using System.Net.Sockets;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Transport;

namespace Sockeye.Server.Commands;

/// <summary>How BIND's wait for the incoming connection ended: with the peer's socket, or with the second reply's failure code.</summary>
internal readonly record struct BindResult(TunnelSocket? Peer, Socks5ReplyCode ReplyCode, BindOutcome Outcome)
{
    /// <summary>How many bytes the client sent during the wait, read into the caller's buffer: the tunnel's, in order after the pipelined ones.</summary>
    public int ClientBytes { get; init; }

    /// <summary>With <see cref="BindOutcome.ClientGone"/>: the error of the client's reset, or <see cref="SocketError.Success"/> when it closed.</summary>
    public SocketError ClientError { get; init; }
}

/// <summary>Why BIND's wait ended.</summary>
internal enum BindOutcome
{
    /// <summary>The expected peer connected.</summary>
    Accepted,

    /// <summary>Nobody connected within the accept timeout.</summary>
    TimedOut,

    /// <summary>A connection came from an address other than the one the request named.</summary>
    UnexpectedPeer,

    /// <summary>The client closed its control connection first.</summary>
    ClientGone,

    /// <summary>Accepting failed.</summary>
    Failed,
}
