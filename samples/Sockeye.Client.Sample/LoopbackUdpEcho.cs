using System.Net;
using System.Net.Sockets;

/// <summary>Sends every datagram back to where it came from, on 127.0.0.1.</summary>
internal sealed class LoopbackUdpEcho : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Task _loop;

    public LoopbackUdpEcho()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _loop = EchoAsync();
    }

    public IPEndPoint EndPoint { get; }

    private async Task EchoAsync()
    {
        byte[] buffer = new byte[65536];
        try
        {
            while (true)
            {
                SocketReceiveFromResult received = await _socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0));
                await _socket.SendToAsync(buffer.AsMemory(0, received.ReceivedBytes), received.RemoteEndPoint);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
            // Stopped: the sample is over.
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
