using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.Versioning;
using Sockeye.Server.Interop;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// A TCP connection on a raw, non-blocking descriptor, registered edge-triggered on one <see cref="EpollLoop"/>. Every
/// operation first tries its system call; only EAGAIN makes it wait, and the wait completes on the loop's thread, where
/// the awaiting session then goes on. The runtime's socket engine never sees the descriptor.
/// </summary>
/// <remarks>
/// Operations may be started from any thread (a session resumes on the thread pool after a DNS lookup or a password
/// hash), at most one read and one write at a time, as with a <see cref="Socket"/>. The descriptor is closed only by
/// <see cref="Close"/> or <see cref="Abort"/>, which the owner calls once nothing is pending; cancellation (a canceled
/// token, <see cref="CancelPending"/>) fails pending and later waits without touching the descriptor, so a system call
/// on another thread can never meet a recycled descriptor number.
/// The descriptor is owned by a <see cref="DescriptorHandle"/>, so that a socket dropped without a close is closed by the
/// handle's finalizer, gracefully, instead of leaking; system calls use a plain copy of it (no reference counting on the
/// hot path), which the rule above keeps valid. A registered socket is reachable from its loop, which must deliver its
/// events: so the finalizer catches only a socket never registered, or one left on a loop that was then disposed.
/// The slow paths of receive and send (after EAGAIN) are async methods with pooled state machines: a handshake takes
/// one or two of them per tunnel, and each returned <see cref="ValueTask"/> is awaited once, as a socket's must be.
/// </remarks>
[SupportedOSPlatform("linux")]
[SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
    Justification = "A tunnel socket's end is Close or Abort (the TunnelSocket contract), which dispose _handle.")]
internal sealed class EpollTunnelSocket : TunnelSocket, IEpollEventTarget, IEpollDeadlineTarget, IPendingConnect
{
    private const uint ReadEvents = EpollLoop.EpollIn | EpollLoop.EpollRdHup | EpollLoop.EpollErr | EpollLoop.EpollHup;
    private const uint WriteEvents = EpollLoop.EpollOut | EpollLoop.EpollErr | EpollLoop.EpollHup;
    private const uint HangUpEvents = EpollLoop.EpollRdHup | EpollLoop.EpollErr | EpollLoop.EpollHup;
    private const uint Registered = EpollLoop.EpollIn | EpollLoop.EpollOut | EpollLoop.EpollRdHup | EpollLoop.EpollEt;

    // Closed gracefully by close(2), never by a SafeSocketHandle, whose release closes abortively (RST): a graceful
    // close has to deliver what is still queued. The owner always closes it (Close, Abort); it never leaves the loop
    // for the runtime's sockets. _fd is the copy every system call uses, valid until then.
    private readonly DescriptorHandle _handle;
    private readonly int _fd;
    // Starts drained: registration reports data already there as an edge, so until one comes there is nothing to read.
    private readonly ReadinessWaiter _read = new(drained: true);
    private readonly ReadinessWaiter _write = new();
    private readonly EndPoint? _remoteEndPoint;
    private ulong _id;
    private int _closed;
    private bool _connecting;
    // Set on the loop's thread when the event that ended a connect said writable with no error: connected, so that
    // FinishConnect need not ask (SO_ERROR), one system call of the thirty or so a tunnel costs.
    private bool _connectedByEvent;
    private bool _hungUp;

    private EpollTunnelSocket(EpollLoop loop, int fd, EndPoint? remoteEndPoint)
    {
        Loop = loop;
        _handle = new DescriptorHandle(fd);
        _fd = fd;
        _remoteEndPoint = remoteEndPoint;
    }

    /// <summary>The loop this socket's events arrive on.</summary>
    public EpollLoop Loop { get; }

    /// <summary>The raw descriptor, for splice(2). Valid until <see cref="Close"/> or <see cref="Abort"/>.</summary>
    public int Descriptor => _fd;

    /// <summary>The client's endpoint for an accepted socket; <see langword="null"/> for a connected one (see <see cref="StartConnect"/>).</summary>
    public override EndPoint? RemoteEndPoint => _remoteEndPoint;

    // Not kept: read once or twice per session (the reply's BND.ADDR), and 72 bytes an idle tunnel need not hold.
    public override EndPoint? LocalEndPoint => RawSocket.LocalEndPoint(_fd);

    /// <summary>
    /// Whether an event has reported the peer's FIN, a hang-up or an error. Set on the loop's thread before the readable
    /// edge is signalled, and never cleared, so a reader resumed by that edge, or whose <see cref="ConsumeReadable"/>
    /// took it, sees it.
    /// </summary>
    /// <remarks>
    /// A read that returns less than it asked for has drained the socket, and any later arrival (data or FIN) makes a new
    /// edge: so a reader may wait after a short read instead of reading again for EAGAIN. Except when the FIN was already
    /// queued behind the data when the edge was taken: no edge will come for it, and this says so.
    /// </remarks>
    public bool HasHungUp => Volatile.Read(ref _hungUp);

    /// <summary>Whether <see cref="CancelPending"/> (or a canceled wait) has ended this socket's waits.</summary>
    public bool IsCanceled => _read.IsCanceled;

    /// <summary>
    /// Takes over <paramref name="fd"/>, a connected, non-blocking descriptor (from accept4), and registers it on
    /// <paramref name="loop"/>. On failure the exception is thrown and the descriptor left to the caller.
    /// </summary>
    /// <param name="loop">The loop the socket's events arrive on.</param>
    /// <param name="fd">The accepted descriptor.</param>
    /// <param name="remoteEndPoint">The client's endpoint, from accept4.</param>
    /// <param name="noDelayInherited">
    /// Whether the listener had TCP_NODELAY set, which an accepted socket inherits on Linux: then it is not set again.
    /// </param>
    public static EpollTunnelSocket Adopt(EpollLoop loop, int fd, EndPoint? remoteEndPoint, bool noDelayInherited = false)
    {
        var socket = new EpollTunnelSocket(loop, fd, remoteEndPoint);
        if (!noDelayInherited)
        {
            RawSocket.SetNoDelay(fd);
        }

        try
        {
            socket._id = loop.Register(fd, socket, Registered);
        }
        catch
        {
            // The caller closes the descriptor: the handle must not close it again, perhaps under a new owner.
            socket._handle.Relinquish();
            throw;
        }

        return socket;
    }

    /// <summary>
    /// Connects to <paramref name="target"/> from <paramref name="source"/> (any address when <see langword="null"/>).
    /// A failure, a timeout or a cancellation is a value, so that a Happy Eyeballs race can weigh it against the others.
    /// </summary>
    public static async Task<(TunnelSocket? Socket, SocketError Error)> ConnectAsync(EpollLoop loop, IPEndPoint target, IPAddress? source, string? device, CancellationToken cancellationToken)
    {
        (EpollTunnelSocket? socket, SocketError error) = StartConnect(loop, target.Address, target.Port, source, device);
        if (socket is null || !socket.IsConnecting)
        {
            return (socket, error);
        }

        try
        {
            await socket.WhenConnectedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // FinishConnect sees the canceled wait.
        }

        (EpollTunnelSocket? connected, error) = socket.FinishConnect();
        return (connected, error);
    }

    /// <summary>
    /// Starts a connect to <paramref name="address"/>:<paramref name="port"/> from <paramref name="source"/> (any address
    /// when <see langword="null"/>), on the loop. Returns the socket, connected or <see cref="IsConnecting"/> (then
    /// <see cref="WhenConnectedAsync"/>, then <see cref="FinishConnect"/>), or the error that ended it at once.
    /// </summary>
    /// <remarks>
    /// In three steps, with nothing of its own to await, so that a caller that is suspended anyway (a session) waits for
    /// the connect in its own state machine: the async methods of a connect were three more objects per tunnel.
    /// </remarks>
    public static (EpollTunnelSocket? Socket, SocketError Error) StartConnect(EpollLoop loop, IPAddress address, int port, IPAddress? source, string? device = null)
    {
        int fd = RawSocket.CreateTcp(address.AddressFamily);
        if (fd < 0)
        {
            return (null, Errno.ToSocketError(Libc.LastError));
        }

        // The peer's endpoint is not kept: nothing reads a target's, and it is 72 bytes an idle tunnel need not hold.
        var socket = new EpollTunnelSocket(loop, fd, remoteEndPoint: null);
        RawSocket.SetNoDelay(fd);
        if (source is not null && RawSocket.BindSourceForConnect(fd, source) != 0)
        {
            return FailConnect(socket, Libc.LastError);
        }

        if (device is not null && RawSocket.BindToDevice(fd, device) != 0)
        {
            return FailConnect(socket, Libc.LastError);
        }

        int result = RawSocket.Connect(fd, address, port);
        int errno = result == 0 ? 0 : Libc.LastError;
        // EINTR too goes on like EINPROGRESS: an interrupted non-blocking connect completes in the background, and its
        // socket reports the outcome as writable, like any other (connect(2); retrying would answer EALREADY).
        if (result != 0 && errno is not (Errno.EINPROGRESS or Errno.EINTR))
        {
            return FailConnect(socket, errno);
        }

        try
        {
            // Registered after connect(2): an unconnected TCP socket reports itself writable and hung up at once.
            socket._id = loop.Register(fd, socket, Registered);
        }
        catch (IOException)
        {
            // The loop refused the descriptor (epoll_ctl failed: out of memory, or the loop has failed).
            socket.Close();
            return (null, SocketError.NoBufferSpaceAvailable);
        }
        catch (ObjectDisposedException)
        {
            // The loop is stopping: the caller hears so as before, and the socket (connected, perhaps) is not left
            // open until a finalizer runs.
            socket.Close();
            throw;
        }

        socket._connecting = result != 0;
        return (socket, SocketError.Success);
    }

    /// <summary>Whether a connect from <see cref="StartConnect"/> is still under way.</summary>
    public bool IsConnecting => _connecting;

    /// <summary>
    /// Waits until the connect <see cref="StartConnect"/> began has an outcome. Throws <see cref="OperationCanceledException"/>
    /// when <paramref name="cancellationToken"/> fires or the connect's deadline passes; <see cref="FinishConnect"/> then says so.
    /// </summary>
    public ValueTask WhenConnectedAsync(CancellationToken cancellationToken) => _write.WaitAsync(cancellationToken);

    /// <summary>
    /// The outcome of the connect, after <see cref="WhenConnectedAsync"/> completed or threw: this socket, or the error
    /// (<see cref="SocketError.TimedOut"/> for a timeout or a cancellation), the socket then closed.
    /// </summary>
    public (EpollTunnelSocket? Socket, SocketError Error) FinishConnect()
    {
        _connecting = false;
        if (_write.IsCanceled)
        {
            Close();
            return (null, SocketError.TimedOut);
        }

        if (_connectedByEvent)
        {
            // A failed connect reports EPOLLERR with its EPOLLOUT (tcp_poll sets it while an error is pending).
            _connectedByEvent = false;
            return (this, SocketError.Success);
        }

        int error = RawSocket.PendingError(_fd);
        return error == 0 ? (this, SocketError.Success) : FailConnect(this, error);
    }

    /// <summary>
    /// The outcome of a connect started by <see cref="StartConnect"/> with its timeout a deadline of the loop's
    /// (<paramref name="ticket"/>, from <see cref="EpollLoop.AddDeadline"/>), which is removed here.
    /// </summary>
    (TunnelSocket? Socket, SocketError Error) IPendingConnect.FinishConnect(long ticket)
    {
        Loop.RemoveDeadline(ticket, this);
        return FinishConnect();
    }

    /// <summary>A connect's deadline (<see cref="EpollLoop.AddDeadline"/>): fails its wait, so that it finishes as timed out.</summary>
    void IEpollDeadlineTarget.OnDeadline()
    {
        // The deadline's owner removes it when the wait ends; on the loop's thread, where both run, it cannot come after.
        if (_connecting)
        {
            _write.Cancel();
        }
    }

    private static (EpollTunnelSocket? Socket, SocketError Error) FailConnect(EpollTunnelSocket socket, int errno)
    {
        socket.Close();
        return (null, Errno.ToSocketError(errno));
    }

    public override int Available => Volatile.Read(ref _closed) == 0 ? RawSocket.Available(_fd) : 0;

    public override int Unacknowledged => Volatile.Read(ref _closed) == 0 ? RawSocket.Unacknowledged(_fd) : 0;

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }

        if (buffer.IsEmpty)
        {
            return WaitForDataAsync(cancellationToken);
        }

        if (_read.IsDrained)
        {
            // The last read took everything and no edge has come since: a read now would answer EAGAIN.
            return ReceiveWhenReadableAsync(buffer, cancellationToken);
        }

        _read.Consume();
        long read = RawSocket.Receive(_fd, buffer.Span);
        if (read >= 0)
        {
            NoteRead(read, buffer.Length);
            return ValueTask.FromResult((int)read);
        }

        int errno = Libc.LastError;
        return errno == Errno.EAGAIN
            ? ReceiveWhenReadableAsync(buffer, cancellationToken)
            : ValueTask.FromException<int>(new SocketException((int)Errno.ToSocketError(errno)));
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReceiveWhenReadableAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            await _read.WaitAsync(cancellationToken).ConfigureAwait(false);
            _read.Consume();
            long read = RawSocket.Receive(_fd, buffer.Span);
            if (read >= 0)
            {
                NoteRead(read, buffer.Length);
                return (int)read;
            }

            int errno = Libc.LastError;
            if (errno != Errno.EAGAIN)
            {
                throw new SocketException((int)Errno.ToSocketError(errno));
            }
        }
    }

    /// <summary>
    /// The zero-byte receive: waits until a one-byte peek finds data or EOF; a reset is a <see cref="SocketException"/>.
    /// Its cancellation only ends the wait (BIND watches the client this way, then relays it).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> WaitForDataAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            _read.Consume();
            if (RawSocket.Peek(_fd) >= 0)
            {
                return 0;
            }

            int errno = Libc.LastError;
            if (errno != Errno.EAGAIN)
            {
                throw new SocketException((int)Errno.ToSocketError(errno));
            }

            await _read.WaitInterruptiblyAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        while (!data.IsEmpty)
        {
            _write.Consume();
            long sent = RawSocket.Send(_fd, data.Span);
            if (sent > 0)
            {
                data = data[(int)sent..];
                continue;
            }

            int errno = Libc.LastError;
            return errno == Errno.EAGAIN
                ? SendWhenWritableAsync(data, cancellationToken)
                : ValueTask.FromException(new SocketException((int)Errno.ToSocketError(errno)));
        }

        return ValueTask.CompletedTask;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendWhenWritableAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (true)
        {
            await _write.WaitAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                _write.Consume();
                long sent = RawSocket.Send(_fd, data.Span);
                if (sent > 0)
                {
                    data = data[(int)sent..];
                    if (data.IsEmpty)
                    {
                        return;
                    }

                    continue;
                }

                int errno = Libc.LastError;
                if (errno == Errno.EAGAIN)
                {
                    break;
                }

                throw new SocketException((int)Errno.ToSocketError(errno));
            }
        }
    }

    /// <summary>
    /// Whether the socket is known to have nothing to read: the last read drained it and no edge has come since (or none
    /// ever came). A reader then waits (<see cref="WaitReadableAsync"/>) before it reads.
    /// </summary>
    public bool IsReadDrained => _read.IsDrained;

    /// <summary>
    /// Notes what a read of the caller's own (after <see cref="ConsumeReadable"/>) returned: fewer bytes than asked for
    /// drained the socket, unless the peer's FIN may be queued behind them (<see cref="HasHungUp"/>), which no edge
    /// will report again.
    /// </summary>
    public void NoteRead(long read, int asked)
    {
        if (read > 0 && read < asked && !HasHungUp)
        {
            _read.MarkDrained();
        }
    }

    /// <summary>
    /// Waits for readability after a call on the descriptor answered EAGAIN, or while <see cref="IsReadDrained"/> (see
    /// <see cref="ReadinessWaiter"/>).
    /// </summary>
    public ValueTask WaitReadableAsync() => _read.WaitAsync();

    /// <summary>Waits for room to write after a call on the descriptor answered EAGAIN.</summary>
    public ValueTask WaitWritableAsync() => _write.WaitAsync();

    /// <summary>Call before a system call of the caller's own that may answer EAGAIN (splice), as <see cref="ReadinessWaiter.Consume"/>.</summary>
    public void ConsumeReadable() => _read.Consume();

    /// <inheritdoc cref="ConsumeReadable"/>
    public void ConsumeWritable() => _write.Consume();

    /// <summary>Fails every pending and later wait; the descriptor stays open until <see cref="Close"/> or <see cref="Abort"/>.</summary>
    public void CancelPending()
    {
        _read.Cancel();
        _write.Cancel();
    }

    public override void ShutdownSend()
    {
        if (Volatile.Read(ref _closed) == 0)
        {
            RawSocket.ShutdownSend(_fd);
        }
    }

    public override void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            CancelPending();
            if (_id != 0)
            {
                Loop.Unregister(_id, _fd, descriptorClosing: true);
            }

            _handle.Dispose();
        }
    }

    public override void Abort()
    {
        if (Volatile.Read(ref _closed) == 0)
        {
            RawSocket.SetAbortiveClose(_fd);
        }

        Close();
    }

    void IEpollEventTarget.OnEvents(uint events, Span<byte> scratch)
    {
        if ((events & HangUpEvents) != 0)
        {
            // Before the signal, whose interlocked exchange publishes it to a reader on another thread.
            Volatile.Write(ref _hungUp, true);
        }

        if ((events & ReadEvents) != 0)
        {
            _read.Signal();
        }

        if ((events & WriteEvents) != 0)
        {
            if (_connecting && (events & WriteEvents) == EpollLoop.EpollOut)
            {
                // Before the signal, which publishes it to FinishConnect.
                _connectedByEvent = true;
            }

            _write.Signal();
        }
    }

    void IEpollEventTarget.OnRemovedAfterFault() => CancelPending();
}
