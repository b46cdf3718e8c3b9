using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>
/// A TCP connection through the proxies, ready for the application's bytes: from CONNECT, or from BIND once the peer
/// has connected. Disposing it closes the socket (and releases a GSSAPI context, if the stream is protected).
/// </summary>
public sealed class Socks5Connection : IAsyncDisposable, IDisposable
{
    private readonly EndPoint? _proxyEndPoint;

    /// <param name="socket">The socket to the first proxy.</param>
    /// <param name="stream">The stream over it, owning it: a <see cref="NetworkStream"/>, or a GSSAPI protected stream.</param>
    /// <param name="boundAddress">BND.ADDR of the last reply.</param>
    /// <param name="boundPort">BND.PORT of the last reply.</param>
    /// <param name="protection">The GSSAPI protection level the last hop granted.</param>
    internal Socks5Connection(Socket socket, Stream stream, Socks5Address boundAddress, ushort boundPort, GssapiProtectionLevel protection)
    {
        Socket = socket;
        _proxyEndPoint = socket.RemoteEndPoint;
        Stream = stream;
        BoundAddress = boundAddress;
        BoundPort = boundPort;
        GssapiProtectionLevel = protection;
    }

    /// <summary>
    /// The stream to read and write the destination's bytes. Without GSSAPI protection it is a
    /// <see cref="NetworkStream"/> on <see cref="Socket"/>; when a proxy granted a GSSAPI protection level above none
    /// (RFC 1961 §5) it wraps every write and unwraps every read, and a read fails with an <see cref="IOException"/> on a
    /// message that does not unwrap. Either way disposing it closes <see cref="Socket"/>.
    /// </summary>
    public Stream Stream { get; }

    /// <summary>
    /// The GSSAPI protection level the last proxy granted (RFC 1961 §4): <see cref="GssapiProtectionLevel.None"/> without
    /// GSSAPI. A hop before the last that granted protection wraps the bytes too, inside its own messages.
    /// </summary>
    public GssapiProtectionLevel GssapiProtectionLevel { get; }

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
    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync().ConfigureAwait(false);
        Socket.Dispose();
    }

    /// <summary>Closes the connection.</summary>
    public void Dispose()
    {
        Stream.Dispose();
        Socket.Dispose();
    }

    /// <summary>"proxy → bound address" for logs: <c>127.0.0.1:1080 (bound 127.0.0.1:50000)</c>.</summary>
    public override string ToString() => $"{_proxyEndPoint} (bound {BoundAddress.ToString((ushort)BoundPort)})";
}
