using System.Net.Sockets;
using Sockeye.Server.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Sockeye.Server.Tests.Robustness;

/// <summary>
/// Tunnels whose receiving end never reads: the sender must be held back (TCP flow control through the relay), and the
/// bytes in flight must sit in bounded socket and relay buffers, not pile up in the server's heap.
/// </summary>
[Collection(ProcessWideResources.Name)]
public sealed class NeverReadingClientTests(ITestOutputHelper output)
{
    private const int Tunnels = 50;

    // What each sender would push if nothing held it back.
    private const long Offered = 256L * 1024 * 1024;

    // The most the path can hold, from this machine's settings: the sender's send buffer, the server's receive buffer
    // on that side (autotuned up to tcp_rmem's maximum, 32 MiB here, while the server still reads fast), the relay's
    // pipe or buffer, the server's send buffer on the other side and the never-reading end's receive buffer. Measured
    // here: up to about 40 MiB, most of it the server's autotuned receive buffer, all of it in the kernel.
    private static readonly long InFlightBound = (2 * SysctlMax("net/ipv4/tcp_wmem")) + (2 * SysctlMax("net/ipv4/tcp_rmem")) + SysctlMax("fs/pipe-max-size");

    // The relay's buffers are pooled, one per busy direction (64 KiB by default), or splice pipes outside the heap: the
    // heap's share of a stalled tunnel is that buffer and the session's objects. A quarter MiB per tunnel is several
    // times that, and far below what buffering the stalled bytes themselves would take (megabytes per tunnel).
    private const long HeapBoundPerTunnel = 256 * 1024;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NeverReadingEnd_SenderStallsAfterBoundedBytes_AndHeapStaysBounded(bool clientNeverReads)
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        ResourceBaseline baseline = ResourceBaseline.Capture();
        byte[] chunk = TestData.RandomBytes(256 * 1024, seed: 22);

        var clients = new RawClient[Tunnels];
        var accepted = new Socket[Tunnels];
        long[] sent = new long[Tunnels];
        var pushes = new Task[Tunnels];
        using var stop = new CancellationTokenSource();
        try
        {
            for (int i = 0; i < Tunnels; i++)
            {
                clients[i] = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
                accepted[i] = await target.AcceptAsync();
            }

            long heapBefore = ManagedHeap();
            for (int i = 0; i < Tunnels; i++)
            {
                Socket sender = clientNeverReads ? accepted[i] : clients[i].Socket;
                pushes[i] = PushAsync(sender, chunk, i, sent, stop.Token);
            }

            // Stalled: no sender has moved for a second (every wait bounded: at most a minute of pushing in all).
            long total = -1;
            DateTime deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                long now = 0;
                for (int i = 0; i < Tunnels; i++)
                {
                    now += Interlocked.Read(ref sent[i]);
                }

                if (now == total)
                {
                    break;
                }

                total = now;
            }

            long heapDuring = ManagedHeap();
            long most = sent.Max();
            output.WriteLine($"{(clientNeverReads ? "client" : "target")} never reads: {Tunnels} senders stalled after {total / Tunnels / 1024} KiB each on average " +
                $"(most {most / 1024} KiB, least {sent.Min() / 1024} KiB); heap {heapBefore / 1024} KiB before, {heapDuring / 1024} KiB stalled " +
                $"({(heapDuring - heapBefore) / Tunnels / 1024.0:F1} KiB per tunnel)");

            Assert.All(pushes, p => Assert.False(p.IsCompleted, $"a sender finished or failed: {p.Exception?.GetBaseException()}"));
            Assert.True(most < InFlightBound, $"a tunnel whose end never reads absorbed {most / 1024} KiB, more than its buffers hold ({InFlightBound / 1024} KiB)");
            Assert.True(sent.Min() > 0, "a sender sent nothing: the tunnel was not even open");
            Assert.True(heapDuring - heapBefore < Tunnels * HeapBoundPerTunnel,
                $"the heap grew by {(heapDuring - heapBefore) / 1024} KiB while {Tunnels} tunnels were stalled");
        }
        finally
        {
            await stop.CancelAsync();
            foreach (RawClient client in clients)
            {
                client?.Dispose();
            }

            foreach (Socket socket in accepted)
            {
                socket?.Dispose();
            }

            await Task.WhenAll(pushes.Where(p => p is not null)).ContinueWith(_ => { }, TaskScheduler.Default).DefaultTimeout();
        }

        Array.Clear(clients);
        Array.Clear(accepted);
        chunk = [];
        await baseline.AssertReturnedAsync(server.Server);
        await Hostile.AssertNormalConnectWorksAsync(server);
    }

    /// <summary>Sends <paramref name="chunk"/> over and over, up to <see cref="Offered"/> bytes, counting into <paramref name="sent"/>.</summary>
    private static async Task PushAsync(Socket socket, byte[] chunk, int index, long[] sent, CancellationToken stop)
    {
        while (Volatile.Read(ref sent[index]) < Offered)
        {
            int count = await socket.SendAsync(chunk, SocketFlags.None, stop);
            Interlocked.Add(ref sent[index], count);
        }
    }

    /// <summary>The last (largest) number of a setting under /proc/sys: tcp_rmem's and tcp_wmem's maximum, or a single value.</summary>
    private static long SysctlMax(string name) =>
        long.Parse(File.ReadAllText("/proc/sys/" + name).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[^1], System.Globalization.CultureInfo.InvariantCulture);

    private static long ManagedHeap()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
