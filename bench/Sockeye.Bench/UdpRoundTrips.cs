using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>
/// The UDP round-trip generator: one thread that owns both ends, the client socket and the echo socket, and polls them
/// with non-blocking system calls without ever sleeping. It keeps <see cref="Window"/> datagrams outstanding.
/// </summary>
/// <remarks>
/// An asynchronous generator (socket completions on the runtime's epoll thread, continuations on the thread pool) was
/// the limit of this figure, not the proxy: on the generator's one core its rate moved by half between runs of the same
/// subject as the thread pool's threads and the JIT's tiers settled, and a proxy in the path cost it more wake-ups than
/// a direct echo did. A thread that never sleeps makes the same calls per round trip whether or not a proxy is in the
/// path (two sends, two receives, and receives that find nothing), so the direct figure is what the generator's core
/// can do and a proxy's figure shows whether the proxy keeps up with it.
/// </remarks>
internal sealed class UdpRoundTrips
{
    /// <summary>Datagrams in flight at once.</summary>
    public const int Window = 16;

    /// <summary>How long nothing may arrive before the datagrams in flight are counted lost and the window is refilled.</summary>
    private static readonly TimeSpan LossTimeout = TimeSpan.FromMilliseconds(500);

    private readonly Socket _client;
    private readonly Socket _echo;
    private readonly byte[] _datagram;
    private readonly int _count;

    /// <param name="client">A bound UDP socket, connected to the first hop: the echo, or the proxy's relay.</param>
    /// <param name="echo">The bound UDP socket the datagrams reach and that echoes them to their source.</param>
    /// <param name="datagram">What the client sends each time, with the SOCKS UDP header when a proxy is in the path.</param>
    /// <param name="count">Round trips to complete or lose.</param>
    public UdpRoundTrips(Socket client, Socket echo, byte[] datagram, int count)
    {
        _client = client;
        _echo = echo;
        _datagram = datagram;
        _count = count;
    }

    /// <summary>Runs on a thread of its own: it spins its core for the whole run.</summary>
    public Task<(double PerSecond, long Lost)> RunAsync() => BlockingTransfer.RunAsync("bench udp generator", Run);

    private unsafe (double PerSecond, long Lost) Run()
    {
        nint client = _client.SafeHandle.DangerousGetHandle();
        nint echo = _echo.SafeHandle.DangerousGetHandle();
        byte[] buffer = new byte[65536];
        byte* source = stackalloc byte[128];
        long sent = 0;
        long received = 0;
        long lost = 0;
        int stalls = 0;
        var clock = Stopwatch.StartNew();
        TimeSpan lastArrival = TimeSpan.Zero;
        fixed (byte* datagram = _datagram)
        fixed (byte* data = buffer)
        {
            for (; sent < Math.Min(Window, _count); sent++)
            {
                Native.SendOrThrow(client, datagram, _datagram.Length);
            }

            while (received + lost < _count)
            {
                bool arrived = false;
                for (int i = 0; i < Window; i++)
                {
                    int sourceLength = 128;
                    long length = Native.ReceiveFromNow(echo, data, buffer.Length, source, ref sourceLength);
                    if (length < 0)
                    {
                        break;
                    }

                    Native.SendToOrThrow(echo, data, (int)length, source, sourceLength);
                    arrived = true;
                }

                for (int i = 0; i < Window; i++)
                {
                    if (Native.ReceiveNow(client, data, buffer.Length) < 0)
                    {
                        break;
                    }

                    received++;
                    arrived = true;
                    if (sent < _count)
                    {
                        Native.SendOrThrow(client, datagram, _datagram.Length);
                        sent++;
                    }
                }

                if (arrived)
                {
                    lastArrival = clock.Elapsed;
                    stalls = 0;
                }
                else if (clock.Elapsed - lastArrival > LossTimeout)
                {
                    // Whatever is still in flight is not coming back. Refill the window, unless the path has stayed
                    // dead for a second timeout: then the rest of the run is lost too, and it ends now.
                    lost += sent - received - lost;
                    lastArrival = clock.Elapsed;
                    if (++stalls >= 2)
                    {
                        lost = _count - received;
                        break;
                    }

                    for (int i = 0; i < Window && sent < _count; i++, sent++)
                    {
                        Native.SendOrThrow(client, datagram, _datagram.Length);
                    }
                }
            }
        }

        return (received / clock.Elapsed.TotalSeconds, lost);
    }

    /// <summary>A UDP socket on 127.0.0.1 with room for a burst, for either end.</summary>
    public static Socket Bind()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.ReceiveBufferSize = 4 << 20;
        return socket;
    }
}
