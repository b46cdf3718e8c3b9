using System.Net;
using System.Net.Sockets;

namespace Sockeye.Server.Transport.Portable;

/// <summary>BIND's listening socket on the runtime's sockets.</summary>
internal sealed class SocketBindListener : BindListener
{
    private readonly Socket _socket;

    private SocketBindListener(Socket socket)
    {
        _socket = socket;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    public override IPEndPoint LocalEndPoint { get; }

    /// <summary>
    /// Listens on <paramref name="address"/>, port 0, with a backlog of one (BIND takes one connection; no queue for
    /// strangers). <see langword="null"/> and the error when it cannot (out of descriptors is answered, not thrown).
    /// </summary>
    public static SocketBindListener? Open(IPAddress address, out SocketError error)
    {
        Socket? socket = null;
        try
        {
            socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(address, 0));
            socket.Listen(1);
            error = SocketError.Success;
            return new SocketBindListener(socket);
        }
        catch (SocketException e)
        {
            socket?.Dispose();
            error = e.SocketErrorCode;
            return null;
        }
    }

    public override async ValueTask<TunnelSocket> AcceptAsync(CancellationToken cancellationToken)
    {
        Socket peer = await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            peer.NoDelay = true;
        }
        catch (SocketException)
        {
            // The peer reset already: the relay will find out.
        }

        return new RuntimeTunnelSocket(peer);
    }

    public override void Dispose() => _socket.Dispose();
}
