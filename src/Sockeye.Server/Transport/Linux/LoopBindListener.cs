using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Sockeye.Server.Interop;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// BIND's listening socket on the client's event loop: a raw descriptor whose accept4(2) runs on the loop, and whose
/// peer is registered on the same loop, so that the tunnel that follows is relayed there like any other.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class LoopBindListener : BindListener, IEpollEventTarget
{
    private readonly EpollLoop _loop;

    // Closes the listening socket if this listener is dropped undisposed; _fd is the copy accept4(2) uses.
    private readonly DescriptorHandle _handle;
    private readonly int _fd;
    private readonly ReadinessWaiter _pending = new();
    private ulong _id;
    private int _closed;

    private LoopBindListener(EpollLoop loop, DescriptorHandle handle, IPEndPoint localEndPoint)
    {
        _loop = loop;
        _handle = handle;
        _fd = handle.Descriptor;
        LocalEndPoint = localEndPoint;
    }

    public override IPEndPoint LocalEndPoint { get; }

    /// <summary>
    /// Listens on <paramref name="address"/>, port 0, with a backlog of one (BIND takes one connection; no queue for
    /// strangers), on <paramref name="loop"/>. <see langword="null"/> and the error when it cannot.
    /// </summary>
    public static LoopBindListener? Open(EpollLoop loop, IPAddress address, out SocketError error)
    {
        int fd = RawSocket.CreateTcp(address.AddressFamily);
        if (fd < 0)
        {
            error = Errno.ToSocketError(Libc.LastError);
            return null;
        }

        var handle = new DescriptorHandle(fd);
        if (RawSocket.Bind(fd, address, 0) != 0 || RawSocket.Listen(fd, 1) != 0 || RawSocket.LocalEndPoint(fd) is not { } bound)
        {
            error = Errno.ToSocketError(Libc.LastError);
            handle.Dispose();
            return null;
        }

        var listener = new LoopBindListener(loop, handle, bound);
        try
        {
            listener._id = loop.Register(fd, listener, EpollLoop.EpollIn | EpollLoop.EpollEt);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The loop refused the descriptor (out of memory, or the loop is stopping).
            handle.Dispose();
            error = SocketError.NoBufferSpaceAvailable;
            return null;
        }

        error = SocketError.Success;
        return listener;
    }

    public override async ValueTask<TunnelSocket> AcceptAsync(CancellationToken cancellationToken)
    {
        byte[] address = new byte[RawSocket.MaxAddressLength];
        while (true)
        {
            _pending.Consume();
            int client = RawSocket.Accept(_fd, address, out int addressLength);
            if (client >= 0)
            {
                EndPoint? remote = RawSocket.ToEndPoint(address.AsSpan(0, Math.Min(addressLength, address.Length)));
                try
                {
                    return EpollTunnelSocket.Adopt(_loop, client, remote);
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException)
                {
                    RawSocket.Close(client);
                    throw new SocketException((int)SocketError.NoBufferSpaceAvailable);
                }
            }

            int errno = Libc.LastError;
            if (errno == Errno.ECONNABORTED)
            {
                // The peer gave up while still in the backlog: wait for the next one.
                continue;
            }

            if (errno != Errno.EAGAIN)
            {
                throw new SocketException((int)Errno.ToSocketError(errno));
            }

            await _pending.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <remarks>
    /// The descriptor is closed on the loop's thread, where every accept4 on it runs, so that a peer arriving as the
    /// client leaves can never meet a closed (or reused) descriptor number.
    /// </remarks>
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _pending.Cancel();
            if (_loop.IsCurrent)
            {
                Close();
            }
            else
            {
                _loop.Post(Close);
            }
        }
    }

    private void Close()
    {
        if (_id != 0)
        {
            _loop.Unregister(_id, _fd, descriptorClosing: true);
        }

        _handle.Dispose();
    }

    void IEpollEventTarget.OnEvents(uint events, Span<byte> scratch) => _pending.Signal();

    void IEpollEventTarget.OnRemovedAfterFault() => _pending.Cancel();
}
