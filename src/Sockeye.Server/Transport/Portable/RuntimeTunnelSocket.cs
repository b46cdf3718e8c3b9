using System.Net;
using System.Net.Sockets;

namespace Sockeye.Server.Transport.Portable;

/// <summary>A <see cref="TunnelSocket"/> over a runtime <see cref="Socket"/>: the portable engine's connections.</summary>
internal sealed class RuntimeTunnelSocket(Socket socket) : TunnelSocket
{
    public Socket Socket { get; } = socket;

    public override EndPoint? RemoteEndPoint => Socket.RemoteEndPoint;

    public override EndPoint? LocalEndPoint => Socket.LocalEndPoint;

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        Socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    public override int Available => Socket.Available;

    // Linux alone says how much of what was sent the peer has not acknowledged; elsewhere the runtime offers no way to ask.
    public override int Unacknowledged
    {
        get
        {
            if (!OperatingSystem.IsLinux())
            {
                return -1;
            }

            if (SocketHandles.TryAddRef(Socket) is not { } handle)
            {
                return 0;
            }

            try
            {
                return Linux.RawSocket.Unacknowledged((int)handle.DangerousGetHandle());
            }
            finally
            {
                handle.DangerousRelease();
            }
        }
    }

    public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        NonBlockingSend.SendAsync(Socket, data, cancellationToken);

    public override void ShutdownSend() => SocketErrors.TryShutdown(Socket, SocketShutdown.Send);

    public override void Close() => Socket.Dispose();

    public override void Abort() => SocketErrors.Abort(Socket);
}
