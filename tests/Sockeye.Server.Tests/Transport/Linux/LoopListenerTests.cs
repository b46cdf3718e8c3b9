using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server.Interop;
using Sockeye.Server.Transport;
using Sockeye.Server.Transport.Linux;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// The Linux engine's listener on a real <see cref="EpollLoop"/>: what an accepted socket starts with, and that clients
/// queued together are all accepted by a loop that takes one per event (Linux only: elsewhere each test is reported
/// skipped).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class LoopListenerTests
{
    private const int IpprotoTcp = 6;
    private const int TcpNodelay = 1;

    [LinuxFact]
    public async Task AcceptedSocket_HasNoDelay_InheritedFromTheListener()
    {
        using EpollLoop loop = new("test-loop", 2048, NullLogger.Instance);
        var accepted = new ConcurrentQueue<TunnelSocket>();
        using (LoopListener listener = Listen(loop))
        {
            _ = listener.StartAccepting(accepted.Enqueue);
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(listener.LocalEndPoint).DefaultTimeout();
            await SocketTestExtensions.WaitUntilAsync(() => !accepted.IsEmpty);
        }

        Assert.True(accepted.TryDequeue(out TunnelSocket? socket));
        var tunnel = Assert.IsType<EpollTunnelSocket>(socket);
        try
        {
            // Small replies and relayed messages go out at once, not held back by Nagle's algorithm for an ACK.
            Assert.Equal(1, NoDelay(tunnel.Descriptor));
        }
        finally
        {
            tunnel.Close();
        }
    }

    [LinuxFact]
    public async Task ClientsQueuedWhileTheLoopIsBusy_EveryOneIsAccepted_ByASerialLoop()
    {
        const int Clients = 12;
        using EpollLoop loop = new("test-loop", 2048, NullLogger.Instance);

        // The clients go to a loop of their own: their first events (writable) would make the listener's batches hold
        // several events, and so its loop concurrent, which accepts up to 32 at a time.
        using EpollLoop clientsLoop = new("test-clients", 2048, NullLogger.Instance);
        var accepted = new ConcurrentQueue<TunnelSocket>();
        var clients = new List<Socket>(Clients);
        using var release = new ManualResetEventSlim();
        try
        {
            using (LoopListener listener = Listen(loop, clientsLoop))
            {
                _ = listener.StartAccepting(accepted.Enqueue);

                // Posted work holds the loop while every client's connect completes in the listener's backlog.
                using var holding = new ManualResetEventSlim();
                loop.Post(() =>
                {
                    holding.Set();
                    release.Wait(TimeSpan.FromSeconds(30));
                });
                Assert.True(holding.Wait(TimeSpan.FromSeconds(10)));
                for (int i = 0; i < Clients; i++)
                {
                    var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    clients.Add(client);
                    await client.ConnectAsync(listener.LocalEndPoint).DefaultTimeout();
                }

                release.Set();

                // One accept per event on a loop that serves one exchange at a time: the level-triggered listener must
                // keep reporting the ones still queued.
                await SocketTestExtensions.WaitUntilAsync(() => accepted.Count == Clients);
                Assert.False(loop.HasConcurrentLoad);
            }
        }
        finally
        {
            release.Set();
            while (accepted.TryDequeue(out TunnelSocket? socket))
            {
                socket.Close();
            }

            foreach (Socket client in clients)
            {
                client.Dispose();
            }
        }

        // The listener leaves the loop on the loop's thread.
        await SocketTestExtensions.WaitUntilAsync(() => loop.Count == 0 && clientsLoop.Count == 0);
    }

    /// <summary>The listener on <paramref name="loop"/> (the first loop it asks for), its clients on <paramref name="clientsLoop"/> if given.</summary>
    private static LoopListener Listen(EpollLoop loop, EpollLoop? clientsLoop = null)
    {
        int asked = 0;
        return LoopListener.Bind(new IPEndPoint(IPAddress.Loopback, 0), backlog: 64, NullLogger.Instance, TimeProvider.System,
            () => Interlocked.Increment(ref asked) == 1 ? loop : clientsLoop ?? loop);
    }

    private static unsafe int NoDelay(int fd)
    {
        int value = 0;
        int length = sizeof(int);
        Assert.Equal(0, Libc.getsockopt(fd, IpprotoTcp, TcpNodelay, &value, &length));
        return value;
    }
}
