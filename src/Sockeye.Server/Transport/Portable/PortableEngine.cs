using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;

namespace Sockeye.Server.Transport.Portable;

/// <summary>
/// The portable engine: the runtime's <see cref="Socket"/>s and the thread pool, on every OS. Tunnels copy through a
/// pooled buffer after a zero-byte read, so an idle one holds none. It runs wherever the Linux engine does not, and on
/// Linux when <c>relay.engine</c> is <c>portable</c>.
/// </summary>
internal sealed class PortableEngine(SockeyeServerOptions options, TimeProvider timeProvider, ILoggerFactory loggerFactory) : TransportEngine
{
    private readonly ILogger _logger = loggerFactory.CreateLogger("Sockeye.Server");

    public override string Name => "portable";

    public override TransportListener Listen(IPEndPoint endPoint, int backlog) => SocketListener.Bind(endPoint, backlog, _logger, timeProvider);

    public override void StartSession(IThreadPoolWorkItem session) => ThreadPool.UnsafeQueueUserWorkItem(session, preferLocal: false);

    public override async Task<(TunnelSocket? Socket, SocketError Error)> ConnectAsync(IPEndPoint target, IPAddress? source, TunnelSocket? near, CancellationToken cancellationToken, string? device = null)
    {
        Socket socket;
        try
        {
            socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        }
        catch (SocketException e)
        {
            // Out of descriptors (EMFILE, ENFILE) or memory: this attempt fails, the server goes on.
            return (null, e.SocketErrorCode);
        }

        try
        {
            if (source is not null)
            {
                BindSourceForConnect(socket, source);
            }

            if (device is not null)
            {
                BindToDevice(socket, device);
            }

            await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
            socket.NoDelay = true;
            return (new RuntimeTunnelSocket(socket), SocketError.Success);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            return (null, e.SocketErrorCode);
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            return (null, SocketError.TimedOut);
        }
    }

    /// <summary>SO_BINDTODEVICE through the runtime's socket: Linux only; elsewhere the connect fails as unsupported.</summary>
    /// <summary>
    /// Binds to the source address with the port left for the connect to pick on Linux (IP_BIND_ADDRESS_NO_PORT; see the
    /// Linux engine's RawSocket.BindSourceForConnect), so that one source address is not limited to one port per
    /// connection whatever the destination.
    /// </summary>
    internal static void BindSourceForConnect(Socket socket, IPAddress source)
    {
        if (OperatingSystem.IsLinux())
        {
            const int SolIp = 0;
            const int IpBindAddressNoPort = 24;
            try
            {
                socket.SetRawSocketOption(SolIp, IpBindAddressNoPort, BitConverter.GetBytes(1));
            }
            catch (SocketException)
            {
                // A kernel before 4.2: the bind takes a port, as everywhere else.
            }
        }

        socket.Bind(new IPEndPoint(source, 0));
    }

    private static void BindToDevice(Socket socket, string device)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new SocketException((int)SocketError.OperationNotSupported);
        }

        const int SolSocket = 1;
        const int SoBindToDevice = 25;
        byte[] name = new byte[System.Text.Encoding.ASCII.GetByteCount(device) + 1];
        System.Text.Encoding.ASCII.GetBytes(device, name);
        socket.SetRawSocketOption(SolSocket, SoBindToDevice, name);
    }

    public override TunnelRelay CreateRelay(TunnelSocket client, TunnelSocket target, SessionBandwidth? bandwidth) =>
        new TcpRelay(((RuntimeTunnelSocket)client).Socket, ((RuntimeTunnelSocket)target).Socket, options.RelayBufferBytes, timeProvider, bandwidth);

    public override BindListener? ListenForPeer(IPAddress localAddress, TunnelSocket near, out SocketError error) =>
        SocketBindListener.Open(localAddress, out error);

    public override DatagramPump CreateDatagramPump(IDatagramRelay relay) => new SocketDatagramPump(relay);

    /// <summary>Nothing to stop: the runtime's sockets and thread pool belong to the process.</summary>
    public override void Dispose()
    {
    }
}
