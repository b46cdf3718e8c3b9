using System.Net;
using System.Net.Sockets;

namespace Sockeye.Testing;

/// <summary>Two ends of one TCP connection on loopback, for tests of code that takes an already connected socket.</summary>
public static class LoopbackPair
{
    /// <summary>Connects a fresh socket to a one-shot listener on 127.0.0.1; returns the connecting end and the accepted end.</summary>
    public static async Task<(Socket Connected, Socket Accepted)> ConnectAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var connected = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await connected.ConnectAsync(listener.LocalEndPoint!).DefaultTimeout();
            Socket accepted = await listener.AcceptAsync().DefaultTimeout();
            return (connected, accepted);
        }
        catch
        {
            connected.Dispose();
            throw;
        }
    }
}
