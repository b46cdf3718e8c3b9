using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Runtime.Versioning;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// Sessions on the server's own epoll loops in splice mode (Linux only: elsewhere each test is reported skipped): the
/// listener and both sides of every tunnel, paced or not, BIND's too, are registered there while the tunnel lives, and
/// nothing stays behind when sessions end or the server stops.
/// </summary>
public sealed class EventLoopSessionTests
{
    private const int Tunnels = 20;

    [LinuxTheory]
    [SupportedOSPlatform("linux")]
    [InlineData(RelayEngine.Linux)]
    [InlineData(RelayEngine.Auto)]
    public async Task Splice_OpenTunnels_TheListenerAndBothSidesOfEachAreOnTheLoops_UntilTheyClose(RelayEngine mode)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode);
        using var target = new TcpTarget();
        Assert.Equal(1, server.Server.TcpSocketsOnEventLoops);

        var tunnels = new List<Tunnel>(Tunnels);
        try
        {
            for (int i = 0; i < Tunnels; i++)
            {
                tunnels.Add(await OpenTunnelWithRoundTripAsync(server, target, i));
            }

            Assert.Equal(Tunnels, server.Server.ActiveSessionCount);
            Assert.Equal(1 + (2 * Tunnels), server.Server.TcpSocketsOnEventLoops);
        }
        finally
        {
            CloseAll(tunnels);
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.TcpSocketsOnEventLoops == 1);
    }

    [LinuxTheory]
    [SupportedOSPlatform("linux")]
    [InlineData(0)]
    [InlineData(10_000)]
    public async Task Splice_AnyPollingWindow_TunnelsAndDatagramsAreRelayed(int pollMicroseconds)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.RelayEngine = RelayEngine.Linux;
            o.EventLoopPoll = TimeSpan.FromMicroseconds(pollMicroseconds);
        });
        using var target = new TcpTarget();
        var tunnels = new List<Tunnel>();
        try
        {
            for (int i = 0; i < 5; i++)
            {
                tunnels.Add(await OpenTunnelWithRoundTripAsync(server, target, i));
            }
        }
        finally
        {
            CloseAll(tunnels);
        }

        using var echo = new UdpEcho();
        using (UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint))
        {
            byte[] datagram = [.. UdpAssociateClient.Header(echo.EndPoint), .. "ping"u8];
            for (int i = 0; i < 5; i++)
            {
                await client.SendAsync(datagram);
                Assert.Equal(datagram, await client.ReceiveAsync(TestTimeouts.Default));
            }

            Assert.Equal(2, server.Server.UdpSocketsOnEventLoops);
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
    }

    [LinuxFact]
    [SupportedOSPlatform("linux")]
    public async Task Copy_OpenTunnels_NothingIsOnTheLoops()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = RelayEngine.Portable);
        using var target = new TcpTarget();
        Assert.Equal(0, server.Server.TcpSocketsOnEventLoops);

        var tunnels = new List<Tunnel>();
        try
        {
            for (int i = 0; i < 5; i++)
            {
                tunnels.Add(await OpenTunnelWithRoundTripAsync(server, target, i));
            }

            Assert.Equal(5, server.Server.ActiveSessionCount);
            Assert.Equal(0, server.Server.TcpSocketsOnEventLoops);
        }
        finally
        {
            CloseAll(tunnels);
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        Assert.Equal(0, server.Server.TcpSocketsOnEventLoops);
    }

    [LinuxFact]
    [SupportedOSPlatform("linux")]
    public async Task Splice_ClientLeavesDuringTheHandshake_ItsSocketLeavesTheLoop()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = RelayEngine.Linux);
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            // Half a greeting: the session waits on the loop for the rest. (The socket is registered just before its
            // session is: wait for both.)
            await client.SendAsync([5]);
            await SocketTestExtensions.WaitUntilAsync(() => server.Server.TcpSocketsOnEventLoops == 2 && server.Server.ActiveSessionCount == 1);
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.TcpSocketsOnEventLoops == 1);
    }

    [LinuxFact]
    [SupportedOSPlatform("linux")]
    public async Task Splice_ConnectRefused_RepliesConnectionRefused_BothSocketsLeaveTheLoop()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = RelayEngine.Linux);

        // Bound but not listening: the port stays ours, and a SYN to it is answered with RST.
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        byte reply = await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect((IPEndPoint)closed.LocalEndPoint!));

        Assert.Equal(5, reply);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.TcpSocketsOnEventLoops == 1);
    }

    [LinuxFact]
    [SupportedOSPlatform("linux")]
    public async Task Splice_SessionBandwidthLimit_BothSidesStayOnTheLoop_BytesExactBothWays_WithHalfClose()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.RelayEngine = RelayEngine.Linux;

            // A burst of 100 KiB, less than each transfer below: both directions wait for tokens on a deadline of the
            // loop, on the system's clock.
            o.Limits.SessionBytesPerSecond = 1L << 20;
        });
        using var target = new TcpTarget();
        Tunnel tunnel = await OpenTunnelWithRoundTripAsync(server, target, 0);
        try
        {
            // The listener, the client and the destination: nothing was handed to the runtime's sockets.
            Assert.Equal(1, server.Server.ActiveSessionCount);
            Assert.Equal(3, server.Server.TcpSocketsOnEventLoops);

            byte[] up = TestData.RandomBytes(256 * 1024, seed: 1);
            byte[] down = TestData.RandomBytes(256 * 1024, seed: 2);

            // The upload to its end first: the destination sees the client's FIN while its own direction stays open.
            Task<byte[]> targetReceives = tunnel.Accepted.ReadToEndAsync();
            await tunnel.Client.SendAsync(up);
            tunnel.Client.Socket.Shutdown(SocketShutdown.Send);
            Assert.Equal(up, await targetReceives.DefaultTimeout());
            Assert.Equal(3, server.Server.TcpSocketsOnEventLoops);

            // Then the download, through the half-closed tunnel, still on the loop.
            Task<byte[]> clientReceives = tunnel.Client.ReadToEndAsync();
            await tunnel.Accepted.SendAsync(down, SocketFlags.None).DefaultTimeout();
            Assert.Equal(3, server.Server.TcpSocketsOnEventLoops);
            tunnel.Accepted.Shutdown(SocketShutdown.Send);
            Assert.Equal(down, await clientReceives.DefaultTimeout());
        }
        finally
        {
            tunnel.Dispose();
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.TcpSocketsOnEventLoops == 1);
    }

    [LinuxFact]
    [SupportedOSPlatform("linux")]
    public async Task Splice_Bind_PeerConnects_DataFlowsBothWays_AllOnTheClientsLoop()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = RelayEngine.Linux);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.Loopback, 0), command: 2)]);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        byte[] first = await client.ReceiveReplyAsync();
        Assert.Equal(0, first[1]);
        IPEndPoint announced = Socks5Bytes.BoundEndPoint(first);

        // BIND waits for its peer on the client's loop: the server's listener, the client, and BIND's listening socket.
        Assert.Equal(3, server.Server.TcpSocketsOnEventLoops);

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(announced).DefaultTimeout();
        byte[] second = await client.ReceiveReplyAsync();
        Assert.Equal(0, second[1]);
        Assert.Equal(((IPEndPoint)peer.LocalEndPoint!).Port, Socks5Bytes.BoundEndPoint(second).Port);

        await peer.SendAsync("220 ready\r\n"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        Assert.Equal("220 ready\r\n"u8.ToArray(), await client.ReceiveExactlyAsync(11));
        await client.SendAsync("STOR file\r\n"u8.ToArray());
        Assert.Equal("STOR file\r\n"u8.ToArray(), await peer.ReceiveExactlyAsync(11));

        // Relayed on the loop too: the listener, the client and the peer (BIND's listening socket is closed).
        Assert.Equal(3, server.Server.TcpSocketsOnEventLoops);

        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Empty(await peer.ReadToEndAsync());
        peer.Shutdown(SocketShutdown.Send);
        Assert.Empty(await client.ReadToEndAsync());
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        Assert.Equal(1, server.Server.TcpSocketsOnEventLoops);
    }

    [LinuxTheory]
    [SupportedOSPlatform("linux")]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Splice_StopOrDisposeWithOpenTunnels_Completes_ClosesThem_NothingLeftOnTheLoops(bool dispose)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.RelayEngine = RelayEngine.Linux;
            o.ShutdownTimeout = TimeSpan.FromMilliseconds(200);
        });
        using var target = new TcpTarget();
        var tunnels = new List<Tunnel>();
        try
        {
            for (int i = 0; i < 5; i++)
            {
                tunnels.Add(await OpenTunnelWithRoundTripAsync(server, target, i));
            }

            Assert.Equal(1 + (2 * 5), server.Server.TcpSocketsOnEventLoops);

            Task stop = dispose ? server.Server.DisposeAsync().AsTask() : server.Server.StopAsync();
            await stop.DefaultTimeout();

            Assert.Equal(0, server.Server.ActiveSessionCount);
            Assert.Equal(0, server.Server.TcpSocketsOnEventLoops);

            // The server closed both sides of every tunnel (a reset counts as a close here).
            foreach (Tunnel tunnel in tunnels)
            {
                Assert.Empty(await tunnel.Client.ReadToEndAsync());
                Assert.Empty(await tunnel.Accepted.ReadToEndAsync());
            }
        }
        finally
        {
            CloseAll(tunnels);
        }
    }

    /// <summary>
    /// Counts the whole process's descriptors, so it runs alone: no other test may open or close sockets meanwhile.
    /// </summary>
    /// <remarks>
    /// What is compared is every descriptor that is not a file: sockets, pipes, epoll sets, eventfds, which is what a
    /// server can leak. Files are left out because the runtime keeps two descriptors open for each assembly it loads, so
    /// their number depends on which code paths happened to run first, not on the server.
    /// </remarks>
    [Collection(ProcessWideResources.Name)]
    public sealed class WholeProcess
    {
        // While the server runs, its splice pool may keep a few more idle pipes for reuse than it had at the baseline.
        // Sockets have no room at all: every one a session opened must be closed.
        private const int RunningMargin = 8;

        // Once the server has stopped, nothing it opened may stay (its loops' epoll sets and eventfds, its pipes); the
        // small room is for the runtime's own descriptors, never seen to move.
        private const int StoppedMargin = 2;

        [LinuxFact]
        [SupportedOSPlatform("linux")]
        public async Task Splice_200TunnelsOpenedAndClosed_DescriptorsBackToTheirBaseline()
        {
            await using TestServer server = await StartSpliceServerAsync();
            using var target = new TcpTarget();

            // Warm the server (both loops, the pipe pool), the runtime's socket engine and the target, so that the baseline
            // holds everything later tunnels find already there.
            await OpenAndCloseBatchAsync(server, target, 0);
            Descriptors baseline = CountDescriptors();

            for (int batch = 1; batch <= 10; batch++)
            {
                await OpenAndCloseBatchAsync(server, target, batch);
            }

            Descriptors after = await SettledAsync(() => CountDescriptors() is var now && now.Sockets <= baseline.Sockets && now.NotFiles <= baseline.NotFiles + RunningMargin);
            Assert.True(after.Sockets <= baseline.Sockets && after.NotFiles <= baseline.NotFiles + RunningMargin,
                $"after 200 tunnels: before {baseline}, after {after}");
        }

        [LinuxFact]
        [SupportedOSPlatform("linux")]
        public async Task Splice_StopWithOpenTunnels_EveryDescriptorTheServerOpenedIsClosed()
        {
            using var target = new TcpTarget();

            // A whole server lifetime first, the same as the one measured: code that runs for the first time loads
            // assemblies, and the runtime's socket engine starts on first use and stays.
            await RunAndStopWithOpenTunnelsAsync(target, 2);
            Descriptors baseline = CountDescriptors();

            await RunAndStopWithOpenTunnelsAsync(target, Tunnels);

            Descriptors after = await SettledAsync(() => IsBack(CountDescriptors(), baseline));
            Assert.True(IsBack(after, baseline), $"after the server stopped: before it started {baseline}, after {after}");

            static bool IsBack(Descriptors now, Descriptors baseline) =>
                now.Sockets <= baseline.Sockets && now.Pipes <= baseline.Pipes && now.NotFiles <= baseline.NotFiles + StoppedMargin;
        }

        private static Task<TestServer> StartSpliceServerAsync() => TestServer.StartAsync(o =>
        {
            o.RelayEngine = RelayEngine.Linux;
            o.ShutdownTimeout = TimeSpan.FromMilliseconds(200);
        });

        private static async Task RunAndStopWithOpenTunnelsAsync(TcpTarget target, int count)
        {
            var tunnels = new List<Tunnel>(count);
            TestServer server = await StartSpliceServerAsync();
            try
            {
                for (int i = 0; i < count; i++)
                {
                    tunnels.Add(await OpenTunnelWithRoundTripAsync(server, target, i));
                }

                Assert.Equal(1 + (2 * count), server.Server.TcpSocketsOnEventLoops);
                await server.Server.StopAsync().DefaultTimeout();
                foreach (Tunnel tunnel in tunnels)
                {
                    Assert.Empty(await tunnel.Client.ReadToEndAsync());
                    Assert.Empty(await tunnel.Accepted.ReadToEndAsync());
                }
            }
            finally
            {
                CloseAll(tunnels);
                await server.DisposeAsync();
            }
        }

        private static async Task OpenAndCloseBatchAsync(TestServer server, TcpTarget target, int batch)
        {
            var tunnels = new List<Tunnel>(Tunnels);
            try
            {
                for (int i = 0; i < Tunnels; i++)
                {
                    tunnels.Add(await OpenTunnelWithRoundTripAsync(server, target, (batch * Tunnels) + i));
                }

                Assert.Equal(1 + (2 * Tunnels), server.Server.TcpSocketsOnEventLoops);
            }
            finally
            {
                CloseAll(tunnels);
            }

            await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
            await SocketTestExtensions.WaitUntilAsync(() => server.Server.TcpSocketsOnEventLoops == 1);
        }

        /// <summary>The count once <paramref name="isBack"/> holds, or after two seconds: a close may still be under way.</summary>
        private static async Task<Descriptors> SettledAsync(Func<bool> isBack)
        {
            for (int i = 0; i < 100 && !isBack(); i++)
            {
                await Task.Delay(20);
            }

            return CountDescriptors();
        }

        private static Descriptors CountDescriptors()
        {
            int total = 0;
            int files = 0;
            int sockets = 0;
            int pipes = 0;
            foreach (string descriptor in Directory.GetFileSystemEntries("/proc/self/fd"))
            {
                total++;
                try
                {
                    string link = new FileInfo(descriptor).LinkTarget ?? "";
                    if (link.StartsWith('/'))
                    {
                        files++;
                    }
                    else if (link.StartsWith("socket:", StringComparison.Ordinal))
                    {
                        sockets++;
                    }
                    else if (link.StartsWith("pipe:", StringComparison.Ordinal))
                    {
                        pipes++;
                    }
                }
                catch (IOException)
                {
                    // Closed while we listed them: counted as a file, which is not compared.
                    files++;
                }
            }

            return new Descriptors(total, files, sockets, pipes);
        }

        /// <summary>Descriptors by kind; <see cref="NotFiles"/> adds epoll sets and eventfds to the sockets and pipes.</summary>
        private readonly record struct Descriptors(int Total, int Files, int Sockets, int Pipes)
        {
            public int NotFiles => Total - Files;
        }
    }

    /// <summary>Opens a tunnel through the server to the target and checks one round trip of messages unique to <paramref name="index"/>.</summary>
    private static async Task<Tunnel> OpenTunnelWithRoundTripAsync(TestServer server, TcpTarget target, int index)
    {
        RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        Socket? accepted = null;
        try
        {
            accepted = await target.AcceptAsync();
            byte[] up = Encoding.ASCII.GetBytes($"up {index:D6}");
            byte[] down = Encoding.ASCII.GetBytes($"down {index:D6}");
            await client.SendAsync(up);
            Assert.Equal(up, await accepted.ReceiveExactlyAsync(up.Length));
            await accepted.SendAsync(down, SocketFlags.None).DefaultTimeout();
            Assert.Equal(down, await client.ReceiveExactlyAsync(down.Length));
            return new Tunnel(client, accepted);
        }
        catch
        {
            client.Dispose();
            accepted?.Dispose();
            throw;
        }
    }

    private static void CloseAll(List<Tunnel> tunnels)
    {
        foreach (Tunnel tunnel in tunnels)
        {
            tunnel.Dispose();
        }
    }

    private sealed record Tunnel(RawClient Client, Socket Accepted) : IDisposable
    {
        public void Dispose()
        {
            Client.Dispose();
            Accepted.Dispose();
        }
    }
}
