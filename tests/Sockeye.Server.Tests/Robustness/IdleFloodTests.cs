using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;
using Sockeye.Server.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Sockeye.Server.Tests.Robustness;

/// <summary>
/// Thousands of connections that never finish their handshake: silent, stopped halfway through a greeting, or trickling
/// a byte a second. They must not keep a well-behaved client from being served, and the handshake timeout must end them
/// with a FIN, not a reset.
/// </summary>
[Collection(ProcessWideResources.Name)]
public sealed class IdleFloodTests(ITestOutputHelper output)
{
    private const int FloodSize = 5000;

    // Bounded so that loopback's accept queue (listen backlog 1024 below, net.core.somaxconn 4096) never overflows:
    // an overflowing queue drops SYNs, and the retransmission a second later would only slow the batch down.
    private const int ConnectConcurrency = 200;

    private enum Behaviour
    {
        Silent,
        PartialGreeting,
        ByteASecond,
    }

    [Fact]
    public async Task IdleFlood_FiveThousandHeld_WellBehavedClientIsServedWhileNoneIsClosed()
    {
        ulong? openFileLimit = OpenFileLimit.ReadSoftLimit();
        Assert.True(openFileLimit is null or >= (2 * FloodSize) + 2000,
            $"The open-file limit ({openFileLimit}) cannot hold both ends of {FloodSize} connections in one process.");

        await using TestServer server = await TestServer.StartAsync(o =>
        {
            // Long enough that no flood connection can time out while the well-behaved client is served: the test
            // proves the order (served while all are held), not a time.
            o.HandshakeTimeout = TimeSpan.FromSeconds(60);
            o.Limits.MaxHandshakes = FloodSize + 100;
            o.ListenBacklog = 1024;
        },
        // The budget derived from the open-file limit assumes the server is the process's only holder of descriptors and
        // allows a quarter of it (about 4 400 of 20 000) for handshakes, evicting the oldest beyond that. Here the test's
        // own 5 000 client ends share the process, so that budget would both be wrong and evict the flood before the
        // well-behaved client arrives. The 20 000 limit itself holds 5 000 + 5 000 sockets with room to spare, and the
        // explicit MaxHandshakes above is the cap the test relies on.
        descriptors: DescriptorBudget.Unlimited);
        using var target = new TcpTarget();
        ResourceBaseline baseline = ResourceBaseline.Capture();

        Socket[] flood = new Socket[FloodSize];
        var stopwatch = Stopwatch.StartNew();
        try
        {
            await OpenFloodAsync(server.EndPoint, flood);
            output.WriteLine($"{FloodSize} connections opened in {stopwatch.ElapsedMilliseconds} ms");
            await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == FloodSize);

            using var trickleStop = new CancellationTokenSource();
            var ticks = new StrongBox<int>();
            Task trickle = TrickleAsync(Slow(flood), ticks, trickleStop.Token);
            await SocketTestExtensions.WaitUntilAsync(() => Volatile.Read(ref ticks.Value) >= 2);

            stopwatch.Restart();
            using (RawClient good = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint))
            using (Socket accepted = await target.AcceptAsync())
            {
                byte[] payload = TestData.RandomBytes(64 * 1024, seed: 5000);
                await good.SendAsync(payload);
                Assert.Equal(payload, await accepted.ReceiveExactlyAsync(payload.Length));
                await accepted.SendAsync(payload);
                Assert.Equal(payload, await good.ReceiveExactlyAsync(payload.Length));
                output.WriteLine($"Well-behaved client: connect, CONNECT and a 64 KiB echo in {stopwatch.Elapsed.TotalMilliseconds:F1} ms under {FloodSize} idle connections");
            }

            // The ordering that matters: the good client was served while every flood connection was still held. A
            // readable socket here would mean data, a FIN or a reset from the server, and none is due before the timeout.
            int closed = flood.Count(s => s.Poll(0, SelectMode.SelectRead));
            Assert.Equal(0, closed);
            Assert.Equal(0, server.Server.LimitStatistics.EvictedHandshakes);
            Assert.True(server.Server.ActiveSessionCount >= FloodSize, $"{server.Server.ActiveSessionCount} sessions held");

            await trickleStop.CancelAsync();
            await trickle.DefaultTimeout();
        }
        finally
        {
            foreach (Socket socket in flood)
            {
                socket?.Dispose();
            }
        }

        Array.Clear(flood);
        await baseline.AssertReturnedAsync(server.Server);
        await Hostile.AssertNormalConnectWorksAsync(server);
    }

    [Fact]
    public async Task IdleFlood_EndedByTheHandshakeTimeout_EachWithAFin_ThenResourcesReturn()
    {
        const int Count = 1500;
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.FromSeconds(2);
            o.Limits.MaxHandshakes = Count + 100;
            o.ListenBacklog = 1024;
        });
        ResourceBaseline baseline = ResourceBaseline.Capture();
        Socket[] flood = new Socket[Count];
        try
        {
            await OpenFloodAsync(server.EndPoint, flood);
            using var trickleStop = new CancellationTokenSource();
            Task trickle = TrickleAsync(Slow(flood), new StrongBox<int>(), trickleStop.Token);

            // Every one of them, whatever it was doing, sees the server's FIN and nothing before it.
            byte[][] received = await Task.WhenAll(flood.Select(s => Hostile.ReadToFinAsync(s)));
            Assert.All(received, Assert.Empty);
            Assert.Equal(0, server.Server.LimitStatistics.EvictedHandshakes);

            await trickleStop.CancelAsync();
            await trickle.DefaultTimeout();
        }
        finally
        {
            foreach (Socket socket in flood)
            {
                socket?.Dispose();
            }
        }

        Array.Clear(flood);
        await baseline.AssertReturnedAsync(server.Server);
        await Hostile.AssertNormalConnectWorksAsync(server);
    }

    public static TheoryData<string, byte[], byte[]> StalledHandshakes => new()
    {
        // Stage, what the client sends before it stalls, the replies it is due before the FIN.
        { "nothing sent", [], [] },
        { "half a greeting", [5, 2, 2], [] },
        { "greeting, no credentials", [5, 1, 2], [5, 2] },
        { "half the credentials", [5, 1, 2, 1, 5, (byte)'a', (byte)'l'], [5, 2] },
        { "authenticated, no request", [5, 1, 2, .. Socks5Bytes.Credentials("alice", "secret")], [5, 2, 1, 0] },
        { "authenticated, half a request", [5, 1, 2, .. Socks5Bytes.Credentials("alice", "secret"), 5, 1, 0, 1, 127], [5, 2, 1, 0] },
    };

    [Theory]
    [MemberData(nameof(StalledHandshakes))]
    public async Task HandshakeTimeout_StalledInAnyStage_ClosedWithAFinAfterTheRepliesDue(string stage, byte[] sent, byte[] due)
    {
        _ = stage;
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.FromMilliseconds(500);
            o.Users.Add(new SockeyeUser("alice", "secret"));
        });
        ResourceBaseline baseline = ResourceBaseline.Capture();
        using (Socket client = await Hostile.ConnectAsync(server.EndPoint))
        {
            if (sent.Length > 0)
            {
                await client.SendAsync(sent);
            }

            Assert.Equal(due, await Hostile.ReadToFinAsync(client));
        }

        await baseline.AssertReturnedAsync(server.Server);
    }

    [Fact]
    public async Task HandshakeTimeout_ClientTricklingAByteASecond_ClosedWithAFin()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(2));
        using Socket client = await Hostile.ConnectAsync(server.EndPoint);

        // A greeting that offers 255 methods never completes at this pace. Bytes keep arriving until the server has
        // closed: exactly the case where a close with unread input would be a reset.
        using var stop = new CancellationTokenSource();
        var ticks = new StrongBox<int>();
        Task trickle = TrickleAsync([client], ticks, stop.Token, period: TimeSpan.FromMilliseconds(200));
        Assert.Empty(await Hostile.ReadToFinAsync(client));
        Assert.True(Volatile.Read(ref ticks.Value) >= 5, $"only {ticks.Value} byte(s) trickled before the close");
        await stop.CancelAsync();
        await trickle.DefaultTimeout();
    }

    [Fact]
    public async Task HandshakeEviction_OldestStalledHandshake_ClosedWithAFinAfterItsReply()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.FromSeconds(30);
            o.Limits.MaxHandshakes = 2;
        });
        using Socket oldest = await Hostile.ConnectAsync(server.EndPoint);
        await oldest.SendAsync(Socks5Bytes.NoAuthGreeting);
        Assert.Equal(new byte[] { 5, 0 }, await oldest.ReceiveExactlyAsync(2));
        using Socket second = await Hostile.ConnectAsync(server.EndPoint);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 2);

        using Socket third = await Hostile.ConnectAsync(server.EndPoint);
        Assert.Empty(await Hostile.ReadToFinAsync(oldest));
        Assert.Equal(1, server.Server.LimitStatistics.EvictedHandshakes);
    }

    [Fact]
    public async Task HandshakeEviction_InTheOrderTheHandshakesBegan_NeverATunnelThatIsRelaying()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.FromSeconds(30);
            o.Limits.MaxHandshakes = 2;
        });
        using var target = new TcpTarget();

        // The oldest session of all relays: its handshake is over, so it is no candidate.
        using RawClient tunnel = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket upstream = await target.AcceptAsync();
        using Socket first = await Hostile.ConnectAsync(server.EndPoint);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 2);
        using Socket second = await Hostile.ConnectAsync(server.EndPoint);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 3);

        using Socket third = await Hostile.ConnectAsync(server.EndPoint);
        Assert.Empty(await Hostile.ReadToFinAsync(first));
        using Socket fourth = await Hostile.ConnectAsync(server.EndPoint);
        Assert.Empty(await Hostile.ReadToFinAsync(second));
        Assert.Equal(2, server.Server.LimitStatistics.EvictedHandshakes);

        await tunnel.Socket.SendAsync("still here"u8.ToArray());
        Assert.Equal("still here"u8.ToArray(), await upstream.ReceiveExactlyAsync(10));
    }

    private static async Task OpenFloodAsync(IPEndPoint server, Socket[] flood)
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, flood.Length), new ParallelOptions { MaxDegreeOfParallelism = ConnectConcurrency }, async (i, _) =>
        {
            Socket socket = await Hostile.ConnectAsync(server);
            flood[i] = socket;
            if (BehaviourOf(i) == Behaviour.PartialGreeting)
            {
                // Two methods announced, one sent.
                await socket.SendAsync(new byte[] { 5, 2, 0 });
            }
        }).DefaultTimeout();
    }

    private static Behaviour BehaviourOf(int index) => (Behaviour)(index % 3);

    private static Socket[] Slow(Socket[] flood) => [.. flood.Where((_, i) => BehaviourOf(i) == Behaviour.ByteASecond)];

    /// <summary>
    /// Sends each socket the next byte of a greeting offering 255 methods, once a period, until stopped (or two minutes):
    /// 257 bytes take longer than any test runs. A socket the server has closed drops out.
    /// </summary>
    private static async Task TrickleAsync(Socket[] sockets, StrongBox<int> ticks, CancellationToken stop, TimeSpan? period = null)
    {
        byte[] greeting = [5, 255, .. Enumerable.Range(0, 255).Select(b => (byte)b)];
        bool[] gone = new bool[sockets.Length];
        TimeSpan interval = period ?? TimeSpan.FromSeconds(1);
        int maxTicks = (int)(TimeSpan.FromMinutes(2) / interval);
        for (int tick = 0; tick < maxTicks && tick < greeting.Length && !stop.IsCancellationRequested; tick++)
        {
            for (int i = 0; i < sockets.Length; i++)
            {
                if (gone[i])
                {
                    continue;
                }

                try
                {
                    sockets[i].Send(greeting.AsSpan(tick, 1), SocketFlags.None);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    gone[i] = true;
                }
            }

            Interlocked.Increment(ref ticks.Value);
            try
            {
                await Task.Delay(interval, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}
