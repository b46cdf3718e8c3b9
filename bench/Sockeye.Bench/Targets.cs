using System.Net;
using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>
/// The destinations, in the generator's process: an echo (on 127.0.0.1 and ::1, one port, so "localhost" works whichever
/// address a proxy tries first), a sink that reads to EOF, and a source that writes a fixed amount. The UDP scenario
/// brings its own echo (<see cref="UdpRoundTrips"/>).
/// </summary>
internal sealed class Targets : IDisposable
{
    private readonly List<Socket> _listeners = [];
    private readonly CancellationTokenSource _stop = new();

    public Targets()
    {
        (EchoPort, Socket echo4, Socket echo6) = BindBothLoopbacks();
        _listeners.AddRange([echo4, echo6]);
        (AnswerOncePort, Socket once4, Socket once6) = BindBothLoopbacks();
        _listeners.AddRange([once4, once6]);
        Socket sink = Listen(new IPEndPoint(IPAddress.Loopback, 0));
        Socket source = Listen(new IPEndPoint(IPAddress.Loopback, 0));
        _listeners.AddRange([sink, source]);
        SinkPort = ((IPEndPoint)sink.LocalEndPoint!).Port;
        SourcePort = ((IPEndPoint)source.LocalEndPoint!).Port;

        _ = AcceptLoopAsync(echo4, EchoAsync);
        _ = AcceptLoopAsync(echo6, EchoAsync);
        _ = AcceptLoopAsync(once4, AnswerOnceAsync);
        _ = AcceptLoopAsync(once6, AnswerOnceAsync);
        _ = AcceptLoopAsync(sink, socket => BlockingTransfer.RunAsync("bench sink", () => Sink(socket)));
        _ = AcceptLoopAsync(source, socket => BlockingTransfer.RunAsync("bench source", () => Source(socket)));
    }

    public int EchoPort { get; }

    /// <summary>
    /// Echoes one 64-byte message, then closes first. The side that closes first keeps the TIME_WAIT, and here that is a
    /// listening port, not one of the generator's (or a proxy's) ephemeral ports: a tunnel-rate run makes tens of
    /// thousands of connections, more than the 28 000 ephemeral ports Linux hands out by default.
    /// </summary>
    public int AnswerOncePort { get; }

    public int SinkPort { get; }

    public int SourcePort { get; }

    /// <summary>What the source sends on each connection.</summary>
    public long SourceBytes { get; set; }

    private static (int Port, Socket V4, Socket V6) BindBothLoopbacks()
    {
        for (int attempt = 0; ; attempt++)
        {
            Socket v4 = Listen(new IPEndPoint(IPAddress.Loopback, 0));
            int port = ((IPEndPoint)v4.LocalEndPoint!).Port;
            try
            {
                return (port, v4, Listen(new IPEndPoint(IPAddress.IPv6Loopback, port)));
            }
            catch (SocketException) when (attempt < 20)
            {
                v4.Dispose();
            }
        }
    }

    private static Socket Listen(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(endPoint);
        socket.Listen(4096);
        return socket;
    }

    private async Task AcceptLoopAsync(Socket listener, Func<Socket, Task> serve)
    {
        try
        {
            while (true)
            {
                Socket client = await listener.AcceptAsync(_stop.Token);
                client.NoDelay = true;
                _ = Task.Run(() => serve(client));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped.
        }
    }

    private async Task EchoAsync(Socket socket)
    {
        using (socket)
        {
            byte[] buffer = new byte[4096];
            try
            {
                while (true)
                {
                    int read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // The client went away.
            }
        }
    }

    private async Task AnswerOnceAsync(Socket socket)
    {
        using (socket)
        {
            byte[] buffer = new byte[64];
            try
            {
                for (int got = 0; got < buffer.Length;)
                {
                    int read = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    got += read;
                }

                await socket.SendAsync(buffer, SocketFlags.None, _stop.Token);
                socket.Shutdown(SocketShutdown.Send);
                while (await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token) > 0)
                {
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // The client went away.
            }
        }
    }

    private static long Sink(Socket socket)
    {
        using (socket)
        {
            try
            {
                long read = BlockingTransfer.ReceiveToEnd(socket);
                socket.Shutdown(SocketShutdown.Send);
                return read;
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                // The client went away.
                return 0;
            }
        }
    }

    private long Source(Socket socket)
    {
        using (socket)
        {
            try
            {
                long bytes = SourceBytes;
                BlockingTransfer.SendAll(socket, bytes);
                socket.Shutdown(SocketShutdown.Send);
                _ = BlockingTransfer.ReceiveToEnd(socket);
                return bytes;
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                // The client went away.
                return 0;
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        foreach (Socket listener in _listeners)
        {
            listener.Dispose();
        }

        _stop.Dispose();
    }
}
