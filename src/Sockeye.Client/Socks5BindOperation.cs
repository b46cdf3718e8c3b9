using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Handshake;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client;

/// <summary>
/// A BIND in progress (RFC 1928 §4, §6): the proxy listens at <see cref="AnnouncedAddress"/>:<see cref="AnnouncedPort"/>
/// (its first reply); <see cref="AcceptAsync"/> waits for the peer (the second reply) and returns the connection.
/// Disposing it before then closes the control connection, and with it the proxy's listener.
/// </summary>
public sealed class Socks5BindOperation : IAsyncDisposable, IDisposable
{
    private readonly HopContext _hop;
    private readonly Socks5Address _expectedPeer;
    private readonly ushort _expectedPort;
    private readonly GssapiProtectionLevel _protection;
    private Socket? _socket; // owns: until AcceptAsync hands it to the connection, or Dispose closes it
    private Stream? _stream; // owns (and it owns _socket): the second reply comes through it, and it becomes the connection's
    private int _accepting;

    internal Socks5BindOperation(Socks5Client.Established established, Socks5Address expectedPeer, ushort expectedPort)
    {
        _socket = established.Socket;
        _stream = established.Stream;
        _protection = established.Protection;
        _hop = established.Last;
        _expectedPeer = expectedPeer;
        _expectedPort = expectedPort;
        AnnouncedAddress = established.Reply.Bound;
        AnnouncedPort = established.Reply.Port;
    }

    /// <summary>BND.ADDR of the first reply: where the proxy listens for the peer.</summary>
    /// <remarks>
    /// Some proxies announce 0.0.0.0 to mean their own address; <see cref="AnnouncedEndPoint"/> does not guess, so
    /// check <see cref="IPAddress.Any"/> when that matters.
    /// </remarks>
    public Socks5Address AnnouncedAddress { get; }

    /// <summary>BND.PORT of the first reply.</summary>
    public int AnnouncedPort { get; }

    /// <summary>The announced address and port as an endpoint; <see langword="null"/> if the proxy announced a name.</summary>
    public IPEndPoint? AnnouncedEndPoint =>
        AnnouncedAddress.TryGetIPAddress(out IPAddress? address) ? new IPEndPoint(address, AnnouncedPort) : null;

    /// <summary>
    /// Waits for the proxy's second reply, sent when the peer connects, and returns the connection to the peer. Call it
    /// once. The wait has no timeout of its own (the proxy usually has one; Sockeye's is 60 s): bound it with
    /// <paramref name="cancellationToken"/>.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting; the control connection is closed and <see cref="OperationCanceledException"/> thrown.</param>
    /// <returns>The connection, whose <see cref="Socks5Connection.BoundAddress"/> is the peer's address.</returns>
    /// <exception cref="SocksException">The proxy failed the BIND (for example X'02' for an unexpected peer, or X'06' when its accept timeout ran out) or closed the connection.</exception>
    /// <exception cref="InvalidOperationException">AcceptAsync was already called.</exception>
    /// <exception cref="ObjectDisposedException">The operation was disposed, before or during the wait.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public async Task<Socks5Connection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _accepting, 1) != 0)
        {
            throw new InvalidOperationException("AcceptAsync was already called: a BIND accepts one connection.");
        }

        Socket socket = Volatile.Read(ref _socket) ?? throw new ObjectDisposedException(nameof(Socks5BindOperation));
        Stream stream = Volatile.Read(ref _stream) ?? throw new ObjectDisposedException(nameof(Socks5BindOperation));
        using var handshake = new ProxyHandshake(_hop, HandshakeStep.AwaitingPeer);

        // With GSSAPI protection the second reply comes wrapped, through the stream that then becomes the connection's.
        handshake.Attach(stream);
        try
        {
            Socks5Reply reply = await handshake.ReceiveSecondReplyAsync(_expectedPeer, _expectedPort, cancellationToken).ConfigureAwait(false);
            ObjectDisposedException.ThrowIf(Interlocked.Exchange(ref _socket, null) is null, this);
            Volatile.Write(ref _stream, null);
            return new Socks5Connection(socket, stream, reply.Bound, reply.Port, _protection);
        }
        catch (Exception e)
        {
            bool disposedMeanwhile = Interlocked.Exchange(ref _socket, null) is null;
            Interlocked.Exchange(ref _stream, null)?.Dispose();
            socket.Dispose();
            // Our own Dispose closed the socket under the wait: say so, rather than blame the proxy.
            ObjectDisposedException.ThrowIf(disposedMeanwhile && e is SocketException or IOException or ObjectDisposedException, this);

            SocksException? failure = handshake.Classify(e, timedOut: false, Timeout.InfiniteTimeSpan);
            if (failure is null)
            {
                throw;
            }

            throw failure;
        }
    }

    /// <summary>Closes the control connection unless <see cref="AcceptAsync"/> has handed it to a connection.</summary>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Closes the control connection unless <see cref="AcceptAsync"/> has handed it to a connection.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _socket, null) is { } socket)
        {
            Interlocked.Exchange(ref _stream, null)?.Dispose();
            socket.Dispose();
        }
    }
}
