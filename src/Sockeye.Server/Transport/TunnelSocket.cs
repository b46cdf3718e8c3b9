using System.Net;
using System.Net.Sockets;

namespace Sockeye.Server.Transport;

/// <summary>
/// A connected TCP socket as a session, its commands and its relay use it, whichever engine serves it
/// (<see cref="TransportEngine"/>): the session never learns which.
/// </summary>
/// <remarks>
/// Errors surface as <see cref="SocketException"/>, cancellation as <see cref="OperationCanceledException"/>, on both,
/// so that the session's handling of them does not depend on which one it has.
/// </remarks>
internal abstract class TunnelSocket
{
    /// <summary>The peer's address, known from accept or connect.</summary>
    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>The address this side is bound to.</summary>
    public abstract EndPoint? LocalEndPoint { get; }

    /// <summary>
    /// The engine's own socket under this one: itself, or what a decorator (<see cref="GssapiTunnelSocket"/>) wraps.
    /// Engines look at it to place work near the client (its event loop), never to move its bytes.
    /// </summary>
    public virtual TunnelSocket Underlying => this;

    /// <summary>
    /// Receives into <paramref name="buffer"/>: the bytes read, 0 at EOF. An empty buffer waits until data (or EOF) is
    /// there without reading it, and returns 0; canceling that wait leaves the connection usable.
    /// </summary>
    public abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Bytes received and not read yet: what a read would return at once.</summary>
    public abstract int Available { get; }

    /// <summary>
    /// Bytes sent and not yet acknowledged by the peer (still on their way, or waiting for its window), 0 once it has
    /// them all or the socket is closed; -1 where the platform cannot tell.
    /// </summary>
    public abstract int Unacknowledged { get; }

    /// <summary>Sends all of <paramref name="data"/>.</summary>
    public abstract ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Sends FIN, ignoring errors: the peer may already be gone.</summary>
    public abstract void ShutdownSend();

    /// <summary>Closes gracefully: what was sent is still delivered, then FIN.</summary>
    public abstract void Close();

    /// <summary>Closes with RST: for faults and aborted tunnels, so the peer knows data may be lost.</summary>
    public abstract void Abort();
}
