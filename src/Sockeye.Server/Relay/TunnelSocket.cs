using System.Net;
using System.Net.Sockets;

namespace Sockeye.Server.Relay;

/// <summary>
/// A connected TCP socket as a session, its commands and its relay use it: either a runtime <see cref="Socket"/>
/// (<see cref="RuntimeTunnelSocket"/>, portable) or a raw descriptor served by Sockeye's own event loop
/// (<see cref="EpollTunnelSocket"/>, Linux), whose continuations run where the kernel's event lands.
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
    /// Receives into <paramref name="buffer"/>: the bytes read, 0 at EOF. An empty buffer waits until data (or EOF) is
    /// there without reading it, and returns 0.
    /// </summary>
    public abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Sends all of <paramref name="data"/>.</summary>
    public abstract ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Sends FIN, ignoring errors: the peer may already be gone.</summary>
    public abstract void ShutdownSend();

    /// <summary>Closes gracefully: what was sent is still delivered, then FIN.</summary>
    public abstract void Close();

    /// <summary>Closes with RST: for faults and aborted tunnels, so the peer knows data may be lost.</summary>
    public abstract void Abort();

    /// <summary>
    /// The same connection as a runtime <see cref="Socket"/>, for the paths that only exist on the runtime's sockets
    /// (BIND's wait for a peer, a paced relay). Nothing may be pending on this object; it must not be used afterwards.
    /// </summary>
    public abstract Socket ToRuntimeSocket();

    /// <summary>This connection on the runtime's sockets: itself if it already is, else handed over (<see cref="ToRuntimeSocket"/>).</summary>
    public RuntimeTunnelSocket ToRuntime() => this as RuntimeTunnelSocket ?? new RuntimeTunnelSocket(ToRuntimeSocket());
}

/// <summary>A <see cref="TunnelSocket"/> over a runtime <see cref="Socket"/>: the portable path, and copy mode's.</summary>
internal sealed class RuntimeTunnelSocket(Socket socket) : TunnelSocket
{
    public Socket Socket { get; } = socket;

    public override EndPoint? RemoteEndPoint => Socket.RemoteEndPoint;

    public override EndPoint? LocalEndPoint => Socket.LocalEndPoint;

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        Socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        NonBlockingSend.SendAsync(Socket, data, cancellationToken);

    public override void ShutdownSend() => SocketErrors.TryShutdown(Socket, SocketShutdown.Send);

    public override void Close() => Socket.Dispose();

    public override void Abort() => SocketErrors.Abort(Socket);

    public override Socket ToRuntimeSocket() => Socket;
}
