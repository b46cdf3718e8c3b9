using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>
/// A TCP connection through the proxies, ready for the application's bytes: from CONNECT, or from BIND once the peer
/// has connected. Disposing it closes the socket.
/// </summary>
public sealed class Socks5Connection : IAsyncDisposable, IDisposable
{
    private readonly EndPoint? _proxyEndPoint;

    internal Socks5Connection(Socket socket, Socks5Address boundAddress, ushort boundPort)
    {
        Socket = socket;
        _proxyEndPoint = socket.RemoteEndPoint;
        Stream = new NetworkStream(socket, ownsSocket: true);
        BoundAddress = boundAddress;
        BoundPort = boundPort;
    }

    /// <summary>The stream to read and write the destination's bytes. It owns <see cref="Socket"/>.</summary>
    public NetworkStream Stream { get; }

    /// <summary>
    /// The socket to the first proxy, for options (keep-alive, buffer sizes) and endpoints. Its remote endpoint is the
    /// first proxy, not the destination.
    /// </summary>
    public Socket Socket { get; }

    /// <summary>
    /// BND.ADDR of the last reply. After CONNECT, the address the proxy connected from; after BIND, the address of the
    /// peer that connected.
    /// </summary>
    public Socks5Address BoundAddress { get; }

    /// <summary>BND.PORT of the last reply.</summary>
    public int BoundPort { get; }

    /// <summary>Closes the connection.</summary>
    public ValueTask DisposeAsync() => Stream.DisposeAsync();

    /// <summary>Closes the connection.</summary>
    public void Dispose() => Stream.Dispose();

    /// <summary>"proxy → bound address" for logs: <c>127.0.0.1:1080 (bound 127.0.0.1:50000)</c>.</summary>
    public override string ToString() => $"{_proxyEndPoint} (bound {BoundAddress.ToString((ushort)BoundPort)})";
}
