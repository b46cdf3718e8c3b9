using System.Net;
using System.Net.Sockets;
using Sockeye.Client;

namespace Sockeye.Client.Tests.Infrastructure;

/// <summary>
/// A SOCKS5 "server" that the test scripts byte by byte: it answers whatever code, version or garbage the test wants,
/// which no real server would. Messages are written out by hand, not with the codec under test.
/// </summary>
internal sealed class FakeSocksServer : IDisposable
{
    private readonly Socket _listener;
    private readonly List<FakeSocksConnection> _accepted = [];

    public FakeSocksServer(IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(address, 0));
        _listener.Listen(16);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    public IPEndPoint EndPoint { get; }

    public Socks5Proxy Proxy(NetworkCredential? credential = null) => new(EndPoint, credential);

    public async Task<FakeSocksConnection> AcceptAsync()
    {
        Socket socket = await _listener.AcceptAsync().DefaultTimeout();
        socket.NoDelay = true;
        var connection = new FakeSocksConnection(socket);
        lock (_accepted)
        {
            _accepted.Add(connection);
        }

        return connection;
    }

    /// <summary>Accepts, reads a greeting and selects NO AUTHENTICATION: the usual opening.</summary>
    public async Task<FakeSocksConnection> AcceptNoAuthAsync()
    {
        FakeSocksConnection connection = await AcceptAsync();
        await connection.ReceiveGreetingAsync();
        await connection.SendAsync(5, 0);
        return connection;
    }

    public void Dispose()
    {
        _listener.Dispose();
        lock (_accepted)
        {
            foreach (FakeSocksConnection connection in _accepted)
            {
                connection.Dispose();
            }
        }
    }
}
