using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Listening;

namespace Sockeye.Server.Transport;

/// <summary>One listening socket (<see cref="TransportEngine.Listen"/>) and its engine's way of accepting on it.</summary>
internal abstract class TransportListener : IDisposable
{
    /// <summary>
    /// After an accept error other than a reset in the backlog (e.g. out of file descriptors), the wait before retrying
    /// rather than spin: the condition does not clear in microseconds.
    /// </summary>
    protected static readonly TimeSpan AcceptErrorBackoff = TimeSpan.FromMilliseconds(50);

    private readonly ILogger _logger;

    // A condition like EMFILE lasts: one line per interval, not one per retry.
    private readonly LogGate _acceptFailures;

    protected TransportListener(Socket socket, ILogger logger, TimeProvider timeProvider)
    {
        Socket = socket;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        _logger = logger;
        TimeProvider = timeProvider;
        _acceptFailures = new LogGate(timeProvider, LogGate.DefaultInterval);
    }

    /// <summary>The endpoint really bound: port 0 is replaced by the port the OS chose.</summary>
    public IPEndPoint LocalEndPoint { get; }

    protected Socket Socket { get; }

    protected TimeProvider TimeProvider { get; }

    /// <summary>
    /// Starts accepting, handing each client to <paramref name="onAccepted"/>. The task completes once
    /// <see cref="Dispose"/> has stopped the listener: no client is handed over after that.
    /// </summary>
    public abstract Task StartAccepting(Action<TunnelSocket> onAccepted);

    /// <summary>Stops accepting and closes the listening socket.</summary>
    public abstract void Dispose();

    /// <summary>A bound, listening socket for <paramref name="endPoint"/>.</summary>
    /// <exception cref="SockeyeListenException">The endpoint cannot be listened on.</exception>
    protected static Socket BindSocket(IPEndPoint endPoint, int backlog)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen(backlog);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new SockeyeListenException(endPoint, e);
        }
    }

    /// <summary>Logs a failed accept: once per interval, with the count.</summary>
    protected void ReportAcceptFailure(Exception e)
    {
        if (_acceptFailures.TryReport(out long failures))
        {
            ServerLog.AcceptFailed(_logger, LocalEndPoint, failures, e);
        }
    }
}
