using System.Net;
using System.Net.Sockets;

namespace Sockeye.Testing;

/// <summary>A UDP destination on loopback that sends every datagram back to where it came from.</summary>
public sealed class UdpEcho : IDisposable
{
    private readonly Socket _socket;
    private readonly Task _loop;
    private int _received;

    public UdpEcho(IPAddress? address = null, int port = 0)
    {
        address ??= IPAddress.Loopback;
        _socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(address, port));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _loop = LoopAsync();
    }

    public IPEndPoint EndPoint { get; }

    public int Received => Volatile.Read(ref _received);

    private async Task LoopAsync()
    {
        byte[] buffer = new byte[65536];
        EndPoint any = new IPEndPoint(EndPoint.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
        try
        {
            while (true)
            {
                SocketReceiveFromResult result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any);
                Interlocked.Increment(ref _received);
                await _socket.SendToAsync(buffer.AsMemory(0, result.ReceivedBytes), SocketFlags.None, result.RemoteEndPoint);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException or OperationCanceledException)
        {
            // Disposed: the test is over.
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _loop.Wait(TestTimeouts.Default);
    }
}
