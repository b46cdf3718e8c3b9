using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Interop;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// The Linux engine's listener: accept4(2) on an event loop's thread, each client a raw descriptor registered on the
/// loop the engine picks next, and its session started there and then.
/// </summary>
/// <remarks>
/// Should the listener's loop fail, the listener moves to the next loop: a failed loop closes its sessions, but never
/// stops the server accepting.
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class LoopListener : TransportListener
{
    private readonly Func<EpollLoop> _nextLoop;

    // The acceptor in force (replaced when its loop fails), and what ends with the listener.
    private readonly Lock _acceptorLock = new();
    private readonly TaskCompletionSource _acceptStopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Acceptor? _acceptor;
    private bool _disposed;

    private LoopListener(Socket socket, ILogger logger, TimeProvider timeProvider, Func<EpollLoop> nextLoop)
        : base(socket, logger, timeProvider)
    {
        _nextLoop = nextLoop;
    }

    public static LoopListener Bind(IPEndPoint endPoint, int backlog, ILogger logger, TimeProvider timeProvider, Func<EpollLoop> nextLoop)
    {
        Socket socket = BindSocket(endPoint, backlog);

        // Accepted sockets inherit TCP_NODELAY from the listener on Linux: set once here, not once per client.
        socket.NoDelay = true;
        return new LoopListener(socket, logger, timeProvider, nextLoop);
    }

    public override Task StartAccepting(Action<TunnelSocket> onAccepted)
    {
        lock (_acceptorLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _acceptor = new Acceptor(this, _nextLoop(), onAccepted);
            return _acceptStopped.Task;
        }
    }

    public override void Dispose()
    {
        Acceptor? acceptor;
        lock (_acceptorLock)
        {
            _disposed = true;
            acceptor = _acceptor;
        }

        if (acceptor is not null)
        {
            // The loop closes the socket once it is off the loop, so that no accept4 can meet a closed descriptor.
            acceptor.Stop();
            return;
        }

        Socket.Dispose();
        _acceptStopped.TrySetResult();
    }

    /// <summary>The acceptor's loop failed: go on accepting on another loop, unless the listener is closing.</summary>
    private void MoveAfterLoopFault(Acceptor failed)
    {
        lock (_acceptorLock)
        {
            if (_disposed || _acceptor != failed)
            {
                return;
            }

            try
            {
                _acceptor = new Acceptor(this, _nextLoop(), failed.OnAccepted);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // No loop would take the listener (the server is stopping, or out of descriptors): it stops accepting.
                _acceptor = null;
                ReportAcceptFailure(e);
                Socket.Dispose();
                _acceptStopped.TrySetResult();
            }
        }
    }

    /// <summary>The listening socket on an event loop, level-triggered: while connections wait, the loop keeps calling.</summary>
    private sealed class Acceptor : IEpollEventTarget
    {
        // Accepted per wake-up at most under a concurrent load, so that a flood of connects leaves the loop's tunnels their
        // turn; one while the loop is serial (OnEvents).
        private const int AcceptsPerTurn = 32;

        private readonly LoopListener _listener;
        private readonly EpollLoop _loop;
        private readonly ulong _id;
        private readonly int _fd;
        private ITimer? _backoff;
        private bool _stopping;

        public Acceptor(LoopListener listener, EpollLoop loop, Action<TunnelSocket> onAccepted)
        {
            _listener = listener;
            _loop = loop;
            OnAccepted = onAccepted;

            // Readiness can go stale (the client reset while queued): accept4 must answer EAGAIN then, not block.
            listener.Socket.Blocking = false;
            _fd = (int)listener.Socket.SafeHandle.DangerousGetHandle();
            _id = loop.Register(_fd, this, EpollLoop.EpollIn);
        }

        public Action<TunnelSocket> OnAccepted { get; }

        public void Stop() => _loop.Post(() =>
        {
            _stopping = true;
            _backoff?.Dispose();
            _loop.Unregister(_id, _fd, descriptorClosing: false);
            _listener.Socket.Dispose();
            _listener._acceptStopped.TrySetResult();
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
                    socket = EpollTunnelSocket.Adopt(_listener._nextLoop(), client, remote, noDelayInherited: true);
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException)
                {
                    // No loop took it (out of memory, or the server is stopping).
                    RawSocket.Close(client);
                    _listener.ReportAcceptFailure(e);
                    continue;
                }

                OnAccepted(socket);
                if (!_loop.HasConcurrentLoad)
                {
                    // A loop serving one exchange at a time seldom has a second connection queued behind the first, and
                    // the listener is level-triggered: the next epoll_wait reports one if it is there. So the accept4
                    // that would only answer EAGAIN is saved, one system call of the thirty or so a tunnel costs.
                    return;
                }
            }
        }

        public void OnRemovedAfterFault()
        {
            // Called on the failing loop's thread: the move to another loop goes to the thread pool.
            _stopping = true;
            _backoff?.Dispose();
            ThreadPool.UnsafeQueueUserWorkItem(static acceptor => acceptor._listener.MoveAfterLoopFault(acceptor), this, preferLocal: false);
        }

        private void Pause()
        {
            _ = _loop.Modify(_id, _fd, 0);
            _backoff?.Dispose();
            _backoff = _listener.TimeProvider.CreateTimer(
                static state =>
                {
                    var acceptor = (Acceptor)state!;
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
