using System.Net.Sockets;

namespace Sockeye.Server.Transport;

/// <summary>Which socket errors are routine (a peer went away) and which deserve attention.</summary>
internal static class SocketErrors
{
    /// <summary>The peer reset or dropped the connection: routine on the internet, logged at Debug.</summary>
    public static bool IsPeerReset(SocketError error) => error is
        SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown or
        SocketError.NotConnected or SocketError.TimedOut or SocketError.HostUnreachable or SocketError.NetworkUnreachable or
        SocketError.NetworkReset or SocketError.OperationAborted or SocketError.Interrupted;

    /// <summary>Shuts down one side, ignoring errors: the peer may already be gone, and the close that follows reports the rest.</summary>
    public static void TryShutdown(Socket socket, SocketShutdown how)
    {
        try
        {
            socket.Shutdown(how);
        }
        catch (SocketException)
        {
            // Ignored: the peer may already have reset; there is nothing left to tell it.
        }
        catch (ObjectDisposedException)
        {
            // Ignored: the session was aborted and the socket is already closed.
        }
    }

    /// <summary>Closes with RST instead of FIN: for faults and aborted tunnels, so the peer knows data may be lost.</summary>
    public static void Abort(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
            // Ignored: a socket that cannot take the option is closed just the same, with a FIN.
        }
        catch (ObjectDisposedException)
        {
            // Ignored: already closed.
        }

        socket.Dispose();
    }
}
