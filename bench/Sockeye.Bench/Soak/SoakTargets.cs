using System.Net;
using System.Net.Sockets;

namespace Sockeye.Bench.Soak;

/// <summary>
/// The soak's destinations, in the generator's process, each on a port the OS picks: the transfer target (which
/// stalls or resets when the client's header asks it to), a refused port, a UDP echo, and the BIND peer.
/// </summary>
internal sealed class SoakTargets : IDisposable
{
    private readonly Socket _listener;
    private readonly Socket _refusing;
    private readonly Socket _udpEcho;
    private readonly SoakStats _stats;
    private readonly TimeSpan _connectionLimit;
    private readonly CancellationTokenSource _stop = new();
    private int _open;

    /// <param name="stats">Where the targets count what they receive.</param>
    /// <param name="connectionLimit">
    /// The longest a target connection may stay open: longer than any operation may take, so that one still open then
    /// is one the proxy failed to close.
    /// </param>
    public SoakTargets(SoakStats stats, TimeSpan connectionLimit)
    {
        _stats = stats;
        _connectionLimit = connectionLimit;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(4096);
        TransferEndPoint = (IPEndPoint)_listener.LocalEndPoint!;

        // Bound and never listening: a connection to it is refused (RST), and while it is held no one else gets the port.
        _refusing = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _refusing.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        RefusedEndPoint = (IPEndPoint)_refusing.LocalEndPoint!;

        _udpEcho = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _udpEcho.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _udpEcho.ReceiveBufferSize = 4 << 20;
        UdpEchoEndPoint = (IPEndPoint)_udpEcho.LocalEndPoint!;

        _ = AcceptLoopAsync();
        _ = UdpEchoLoopAsync();
    }

    public IPEndPoint TransferEndPoint { get; }

    public IPEndPoint RefusedEndPoint { get; }

    public IPEndPoint UdpEchoEndPoint { get; }

    /// <summary>Target connections (and BIND peers) still being served.</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <summary>The BIND peer: connects to the address the proxy announced and serves a transfer there.</summary>
    public async Task ConnectPeerAsync(IPEndPoint announced, CancellationToken cancellationToken)
    {
        var socket = new Socket(announced.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(announced, cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        Interlocked.Increment(ref _open);
        _ = ServeAndCountAsync(socket);
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                Socket client = await _listener.AcceptAsync(_stop.Token);
                client.NoDelay = true;
                Interlocked.Increment(ref _open);
                _ = Task.Run(() => ServeAndCountAsync(client));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped.
        }
    }

    private async Task ServeAndCountAsync(Socket socket)
    {
        try
        {
            await SoakTransfer.ServeAsync(socket, _stats, _connectionLimit, _stop.Token);
        }
        catch (Exception e)
        {
            _stats.CountTargetError($"unexpected {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    }

    private async Task UdpEchoLoopAsync()
    {
        byte[] buffer = new byte[65536];
        var from = new SocketAddress(AddressFamily.InterNetwork);
        try
        {
            while (true)
            {
                try
                {
                    int read = await _udpEcho.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token);
                    await _udpEcho.SendToAsync(buffer.AsMemory(0, read), SocketFlags.None, from, _stop.Token);
                }
                catch (SocketException) when (!_stop.IsCancellationRequested)
                {
                    // An association's relay that closed meanwhile; the next datagram is another's.
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        _refusing.Dispose();
        _udpEcho.Dispose();
        _stop.Dispose();
    }
}
