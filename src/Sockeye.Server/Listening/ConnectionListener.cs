using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Relay;
using Sockeye.Server.Interop;

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

    // A condition like EMFILE lasts: one line per interval, not one per retry.
    private readonly LogGate _acceptFailures;

    // Accepting on an event loop: the acceptor in force (replaced when its loop fails), and what ends with the listener.
    private readonly Lock _acceptorLock = new();
    private LoopAcceptor? _acceptor;
    private TaskCompletionSource? _acceptStopped;
    private bool _disposed;

    private ConnectionListener(Socket socket, IPEndPoint localEndPoint, ILogger logger, TimeProvider timeProvider)
    {
        _socket = socket;
        LocalEndPoint = localEndPoint;
        _logger = logger;
        _timeProvider = timeProvider;
        _acceptFailures = new LogGate(timeProvider, LogGate.DefaultInterval);
    }

    private void ReportAcceptFailure(Exception e)
    {
        if (_acceptFailures.TryReport(out long failures))
        {
            ServerLog.AcceptFailed(_logger, LocalEndPoint, failures, e);
        }
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
    public async Task AcceptLoopAsync(Action<TunnelSocket> onAccepted)
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
                ReportAcceptFailure(e);
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

            onAccepted(new RuntimeTunnelSocket(client));
        }
    }

    /// <summary>
    /// Accepts on <paramref name="loop"/>'s thread, with accept4(2), each client a raw descriptor registered on the loop
    /// <paramref name="loopForClient"/> picks, and handed to <paramref name="onAccepted"/> there and then. Completes once
    /// <see cref="Dispose"/> has taken the listener off the loop: no client is handed over after that.
    /// </summary>
    /// <remarks>
    /// Should <paramref name="loop"/> fail, the listener moves to the loop <paramref name="loopForClient"/> gives next: a
    /// failed loop closes its sessions, but never stops the server accepting.
    /// </remarks>
    [SupportedOSPlatform("linux")]
    public Task AcceptOnLoop(EpollLoop loop, Func<EpollLoop> loopForClient, Action<TunnelSocket> onAccepted)
    {
        lock (_acceptorLock)
        {
            _acceptStopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _acceptor = new LoopAcceptor(this, loop, loopForClient, onAccepted);
            return _acceptStopped.Task;
        }
    }

    public void Dispose()
    {
        LoopAcceptor? acceptor;
        lock (_acceptorLock)
        {
            _disposed = true;
            acceptor = _acceptor;
        }

        if (acceptor is not null && OperatingSystem.IsLinux())
        {
            // The loop closes the socket once it is off the loop, so that no accept4 can meet a closed descriptor.
            acceptor.Stop();
            return;
        }

        _socket.Dispose();
        _acceptStopped?.TrySetResult();
    }

    /// <summary>The acceptor's loop failed: go on accepting on another loop, unless the listener is closing.</summary>
    [SupportedOSPlatform("linux")]
    private void MoveAfterLoopFault(LoopAcceptor failed, Func<EpollLoop> loopForClient, Action<TunnelSocket> onAccepted)
    {
        lock (_acceptorLock)
        {
            if (_disposed || _acceptor != failed)
            {
                return;
            }

            try
            {
                _acceptor = new LoopAcceptor(this, loopForClient(), loopForClient, onAccepted);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // No loop would take the listener (the server is stopping, or out of descriptors): it stops accepting.
                _acceptor = null;
                ReportAcceptFailure(e);
                _socket.Dispose();
                _acceptStopped?.TrySetResult();
            }
        }
    }

    /// <summary>The listening socket on an event loop, level-triggered: while connections wait, the loop keeps calling.</summary>
    [SupportedOSPlatform("linux")]
    private sealed class LoopAcceptor : IEpollEventTarget
    {
        // Accepted per wake-up at most, so that a flood of connects leaves the loop's tunnels their turn.
        private const int AcceptsPerTurn = 32;

        private readonly ConnectionListener _listener;
        private readonly EpollLoop _loop;
        private readonly Func<EpollLoop> _loopForClient;
        private readonly Action<TunnelSocket> _onAccepted;
        private readonly ulong _id;
        private readonly int _fd;
        private ITimer? _backoff;
        private bool _stopping;

        public LoopAcceptor(ConnectionListener listener, EpollLoop loop, Func<EpollLoop> loopForClient, Action<TunnelSocket> onAccepted)
        {
            _listener = listener;
            _loop = loop;
            _loopForClient = loopForClient;
            _onAccepted = onAccepted;

            // Readiness can go stale (the client reset while queued): accept4 must answer EAGAIN then, not block.
            listener._socket.Blocking = false;
            _fd = (int)listener._socket.SafeHandle.DangerousGetHandle();
            _id = loop.Register(_fd, this, EpollLoop.EpollIn);
        }

        public void Stop() => _loop.Post(() =>
        {
            _stopping = true;
            _backoff?.Dispose();
            _loop.Unregister(_id, _fd, descriptorClosing: false);
            _listener._socket.Dispose();
            _listener._acceptStopped?.TrySetResult();
        });

        public void OnEvents(uint events, Span<byte> scratch)
        {
            Span<byte> address = stackalloc byte[RawSocket.MaxAddressLength];
            for (int i = 0; i < AcceptsPerTurn && !_stopping; i++)
            {
                int client = RawSocket.Accept(_fd, address, out int addressLength);
                if (client < 0)
                {
                    int errno = Libc.LastError;
                    if (errno is Errno.EAGAIN)
                    {
                        return;
                    }

                    if (errno == Errno.ECONNABORTED)
                    {
                        // The client gave up while still in the backlog: routine. (EINTR is retried by RawSocket.Accept.)
                        continue;
                    }

                    // Out of descriptors or memory: the condition does not clear in microseconds, and a level-triggered
                    // listener would call again at once, so stop watching it for a while.
                    _listener.ReportAcceptFailure(new SocketException((int)Errno.ToSocketError(errno)));
                    Pause();
                    return;
                }

                EndPoint? remote = RawSocket.ToEndPoint(address[..Math.Min(addressLength, address.Length)]);
                EpollTunnelSocket socket;
                try
                {
                    socket = EpollTunnelSocket.Adopt(_loopForClient(), client, remote);
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException)
                {
                    // No loop took it (out of memory, or the server is stopping).
                    RawSocket.Close(client);
                    _listener.ReportAcceptFailure(e);
                    continue;
                }

                _onAccepted(socket);
            }
        }

        public void OnRemovedAfterFault()
        {
            // Called on the failing loop's thread: the move to another loop goes to the thread pool.
            _stopping = true;
            _backoff?.Dispose();
            ThreadPool.UnsafeQueueUserWorkItem(
                static acceptor => acceptor._listener.MoveAfterLoopFault(acceptor, acceptor._loopForClient, acceptor._onAccepted), this, preferLocal: false);
        }

        private void Pause()
        {
            _ = _loop.Modify(_id, _fd, 0);
            _backoff?.Dispose();
            _backoff = _listener._timeProvider.CreateTimer(
                static state =>
                {
                    var acceptor = (LoopAcceptor)state!;
                    acceptor._loop.Post(() =>
                    {
                        if (!acceptor._stopping)
                        {
                            _ = acceptor._loop.Modify(acceptor._id, acceptor._fd, EpollLoop.EpollIn);
                        }
                    });
                },
                this, AcceptErrorBackoff, Timeout.InfiniteTimeSpan);
        }
    }
}
