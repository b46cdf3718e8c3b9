using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Sockeye.Testing;

/// <summary>A destination on loopback: accepts connections and hands each accepted socket to the test.</summary>
public sealed class TcpTarget : IDisposable
{
    private readonly Socket _listener;
    private readonly Channel<Socket> _accepted = Channel.CreateUnbounded<Socket>();
    private readonly List<Socket> _all = [];
    private readonly Task _acceptLoop;

    public TcpTarget(IPAddress? address = null, int backlog = 128)
    {
        address ??= IPAddress.Loopback;
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(address, 0));
        _listener.Listen(backlog);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = AcceptLoopAsync();
    }

    public IPEndPoint EndPoint { get; }

    public ushort Port => (ushort)EndPoint.Port;

    public Task<Socket> AcceptAsync() => _accepted.Reader.ReadAsync().AsTask().DefaultTimeout();

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                Socket socket = await _listener.AcceptAsync();
                lock (_all)
                {
                    _all.Add(socket);
                }

                await _accepted.Writer.WriteAsync(socket);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
            // The listener was disposed: the test is over.
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        lock (_all)
        {
            foreach (Socket socket in _all)
            {
                socket.Dispose();
            }
        }

        _acceptLoop.Wait(TestTimeouts.Default);
    }
}
