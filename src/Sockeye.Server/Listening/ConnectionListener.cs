using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Diagnostics;

namespace Sockeye.Server.Listening;

/// <summary>One listening socket and its accept loop.</summary>
internal sealed class ConnectionListener : IDisposable
{
    // After an accept error other than a reset in the backlog (e.g. out of file descriptors), wait before retrying
    // rather than spin: the condition does not clear in microseconds.
    private static readonly TimeSpan AcceptErrorBackoff = TimeSpan.FromMilliseconds(50);

    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;

    private ConnectionListener(Socket socket, IPEndPoint localEndPoint, ILogger logger, TimeProvider timeProvider)
    {
        _socket = socket;
        LocalEndPoint = localEndPoint;
        _logger = logger;
        _timeProvider = timeProvider;
    }

    /// <summary>The endpoint really bound: port 0 is replaced by the port the OS chose.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Binds and listens.</summary>
    /// <exception cref="SockeyeListenException">The endpoint cannot be listened on.</exception>
    public static ConnectionListener Bind(IPEndPoint endPoint, int backlog, ILogger logger, TimeProvider timeProvider)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen(backlog);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new SockeyeListenException(endPoint, e);
        }

        return new ConnectionListener(socket, (IPEndPoint)socket.LocalEndPoint!, logger, timeProvider);
    }

    /// <summary>Accepts until the listener is disposed, handing each client to <paramref name="onAccepted"/>.</summary>
    public async Task AcceptLoopAsync(Action<Socket> onAccepted)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _socket.AcceptAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                // The client gave up while still in the backlog: routine.
                continue;
            }
            catch (SocketException e)
            {
                ServerLog.AcceptFailed(_logger, LocalEndPoint, e);
                await Task.Delay(AcceptErrorBackoff, _timeProvider).ConfigureAwait(false);
                continue;
            }

            try
            {
                client.NoDelay = true;
            }
            catch (SocketException)
            {
                // The client reset between accept and here: nothing to serve.
                client.Dispose();
                continue;
            }

            onAccepted(client);
        }
    }

    public void Dispose() => _socket.Dispose();
}
