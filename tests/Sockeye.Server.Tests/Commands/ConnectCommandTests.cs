using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Commands;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Commands;

public sealed class ConnectCommandTests
{
    [Fact]
    public async Task Connect_ToClosedPort_RepliesConnectionRefused()
    {
        await using TestServer server = await TestServer.StartAsync();
        int closedPort = ReserveClosedPort(IPAddress.Loopback);

        byte reply = await RequestAsync(server, Socks5Bytes.Connect(new IPEndPoint(IPAddress.Loopback, closedPort)));

        Assert.Equal(5, reply);
    }

    [Fact]
    public async Task Connect_ToIPv6Loopback_RelaysAndRepliesIPv6Bound()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget(IPAddress.IPv6Loopback);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(target.EndPoint)]);
        await client.ReceiveExactlyAsync(2);
        byte[] reply = await client.ReceiveReplyAsync();
        using Socket accepted = await target.AcceptAsync();

        Assert.Equal(new byte[] { 5, 0, 0, 4 }, reply[..4]);
        Assert.Equal(accepted.RemoteEndPoint, Socks5Bytes.BoundEndPoint(reply));
        await accepted.SendAsync("hi"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        Assert.Equal("hi"u8.ToArray(), await client.ReceiveExactlyAsync(2));
    }

    [Fact]
    public async Task Connect_ToDomainName_ResolvesAndConnects()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.ConnectDomain("localhost", target.Port)]);
        await client.ReceiveExactlyAsync(2);
        byte[] reply = await client.ReceiveReplyAsync();

        // localhost may resolve to ::1 first, where nothing listens: the server must then try 127.0.0.1.
        Assert.Equal(0, reply[1]);
        using Socket accepted = await target.AcceptAsync();
        Assert.Equal(accepted.RemoteEndPoint, Socks5Bytes.BoundEndPoint(reply));
    }

    [Fact]
    public async Task Connect_DomainWithSeveralAddresses_TriesEachInTurn()
    {
        using var target = new TcpTarget();
        int closedPort = ReserveClosedPort(IPAddress.Loopback);
        _ = closedPort;
        var resolver = new FakeResolver(_ => [IPAddress.Parse("127.0.0.2"), IPAddress.IPv6Loopback, IPAddress.Loopback]);
        await using TestServer server = await TestServer.StartAsync(resolver: resolver);

        // 127.0.0.2 and ::1 refuse (nothing listens on that port there); 127.0.0.1 answers.
        byte reply = await RequestAsync(server, Socks5Bytes.ConnectDomain("multi.test", target.Port));

        Assert.Equal(0, reply);
        Assert.Equal("multi.test", Assert.Single(resolver.Queries));
    }

    [Fact]
    public async Task Connect_SameNameTwice_ResolvedOnceWithinTheCacheTtl()
    {
        using var target = new TcpTarget();
        var resolver = new FakeResolver(_ => [IPAddress.Loopback]);
        await using TestServer server = await TestServer.StartAsync(resolver: resolver);

        Assert.Equal(0, await RequestAsync(server, Socks5Bytes.ConnectDomain("cached.test", target.Port)));
        Assert.Equal(0, await RequestAsync(server, Socks5Bytes.ConnectDomain("CACHED.test", target.Port)));

        Assert.Single(resolver.Queries);
    }

    [Fact]
    public async Task Connect_CacheTtlZero_ResolvedEveryTime()
    {
        using var target = new TcpTarget();
        var resolver = new FakeResolver(_ => [IPAddress.Loopback]);
        await using TestServer server = await TestServer.StartAsync(o => o.DnsCacheTtl = TimeSpan.Zero, resolver);

        Assert.Equal(0, await RequestAsync(server, Socks5Bytes.ConnectDomain("fresh.test", target.Port)));
        Assert.Equal(0, await RequestAsync(server, Socks5Bytes.ConnectDomain("fresh.test", target.Port)));

        Assert.Equal(2, resolver.Queries.Count);
    }

    [Fact]
    public async Task Connect_NameNotResolved_RepliesHostUnreachable()
    {
        var resolver = new FakeResolver(_ => throw new SocketException((int)SocketError.HostNotFound));
        await using TestServer server = await TestServer.StartAsync(resolver: resolver);

        byte reply = await RequestAsync(server, Socks5Bytes.ConnectDomain("no-such-host.invalid", 80));

        Assert.Equal(4, reply);
    }

    [Fact]
    public async Task Connect_NameResolvesToNothing_RepliesHostUnreachable()
    {
        await using TestServer server = await TestServer.StartAsync(resolver: new FakeResolver(_ => []));

        byte reply = await RequestAsync(server, Socks5Bytes.ConnectDomain("empty.test", 80));

        Assert.Equal(4, reply);
    }

    [Theory]
    [MemberData(nameof(UnspecifiedAddressNames.All), MemberType = typeof(UnspecifiedAddressNames))]
    public async Task Connect_ToNameWrittenAsTheUnspecifiedAddress_RepliesInsteadOfFaulting(string name)
    {
        // Issue 17: the system resolver throws ArgumentException for these names, which used to reset the session.
        await using TestServer server = await TestServer.StartAsync();
        int closedPort = ReserveClosedPort(IPAddress.Loopback);

        // Linux connects 0.0.0.0 and :: to this host, where the port is closed; which code comes back depends on the
        // host's IPv6, so only that there is one is asserted.
        await RequestAsync(server, Socks5Bytes.ConnectDomain(name, closedPort));

        Assert.DoesNotContain(server.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) || line.Contains("[4002]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connect_ToNameWrittenAsAnAddress_ConnectsWithoutAskingTheResolver()
    {
        using var target = new TcpTarget();
        var resolver = new FakeResolver(_ => []);
        await using TestServer server = await TestServer.StartAsync(resolver: resolver);

        // "127.1" is 127.0.0.1 in the shorthand inet_aton accepts.
        byte reply = await RequestAsync(server, Socks5Bytes.ConnectDomain("127.1", target.Port));

        Assert.Equal(0, reply);
        Assert.Empty(resolver.Queries);
    }

    [Fact]
    public async Task Connect_ResolverFailsUnexpectedly_RepliesHostUnreachable()
    {
        var resolver = new FakeResolver(_ => throw new InvalidOperationException("a resolver bug"));
        await using TestServer server = await TestServer.StartAsync(resolver: resolver);

        byte reply = await RequestAsync(server, Socks5Bytes.ConnectDomain("broken.test", 80));

        Assert.Equal(4, reply);
        Assert.DoesNotContain(server.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connect_ToMulticastAddress_RepliesNetworkUnreachable()
    {
        // Linux refuses a TCP connect to a multicast address with ENETUNREACH before sending anything.
        await using TestServer server = await TestServer.StartAsync();

        byte reply = await RequestAsync(server, Socks5Bytes.Connect(new IPEndPoint(IPAddress.Parse("224.0.0.1"), 80)));

        Assert.Equal(3, reply);
    }

    [Fact]
    public async Task Connect_DestinationNeverAnswers_RepliesTtlExpiredAfterConnectTimeout()
    {
        using SilentDestination silent = await SilentDestination.StartAsync();
        await using TestServer server = await TestServer.StartAsync(o => o.ConnectTimeout = TimeSpan.FromMilliseconds(500));

        byte reply = await RequestAsync(server, Socks5Bytes.Connect(silent.EndPoint));

        Assert.Equal(6, reply);
    }

    [LinuxFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Connect_DestinationNeverAnswers_OnTheLoopWithAFakeClock_TtlExpiredWhenTheClockPassesTheTimeout()
    {
        // The connecting socket is on an event loop, and the connect timeout follows the server's clock: nothing but the
        // fake clock's advance ends the wait.
        using SilentDestination silent = await SilentDestination.StartAsync();
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.RelayEngine = Configuration.RelayEngine.Linux;
            o.ConnectTimeout = TimeSpan.FromSeconds(10);
        }, timeProvider: time);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(silent.EndPoint)]);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));

        // The listener, the client and the connecting socket are on the loops.
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.TcpSocketsOnEventLoops == 3);
        time.Advance(TimeSpan.FromSeconds(10));

        // The deadline is set just after the socket is registered, on the clock as it then reads: an advance that came
        // in between leaves it 10 s after that. A second more per poll passes it either way, and only the clock does.
        await SocketTestExtensions.WaitUntilAsync(() =>
        {
            if (client.Socket.Available > 0)
            {
                return true;
            }

            time.Advance(TimeSpan.FromSeconds(1));
            return false;
        });
        Assert.Equal(6, (await client.ReceiveReplyAsync())[1]);
    }

    [Fact]
    public async Task Connect_TunnelOutlivesItsConnectTimeout_StillRelaysBothWays()
    {
        // The connect's deadline must be gone once it connected: a late one would fail the target's writes. 8 MiB to a
        // target that reads only after a pause fills every buffer on the way, so the relay has to wait for room to write.
        await using TestServer server = await TestServer.StartAsync(o => o.ConnectTimeout = TimeSpan.FromMilliseconds(100));
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();
        await Task.Delay(300);

        byte[] payload = new byte[8 << 20];
        Random.Shared.NextBytes(payload);
        Task<int> upload = client.Socket.SendAsync(payload, SocketFlags.None);
        await Task.Delay(300);
        byte[] received = new byte[payload.Length];
        for (int got = 0; got < received.Length;)
        {
            int read = await accepted.ReceiveAsync(received.AsMemory(got), SocketFlags.None).DefaultTimeout();
            got += read > 0 ? read : throw new IOException($"the tunnel ended after {got} bytes");
        }

        await upload.DefaultTimeout();
        Assert.True(payload.AsSpan().SequenceEqual(received));
        await accepted.SendAsync("pong"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        Assert.Equal("pong"u8.ToArray(), await client.ReceiveExactlyAsync(4));
    }

    [Fact]
    public async Task Connect_ResolverHangs_RepliesTtlExpiredAfterConnectTimeout()
    {
        var resolver = new FakeResolver(_ => [], hang: true);
        await using TestServer server = await TestServer.StartAsync(o => o.ConnectTimeout = TimeSpan.FromMilliseconds(300), resolver);

        byte reply = await RequestAsync(server, Socks5Bytes.ConnectDomain("slow.test", 80));

        Assert.Equal(6, reply);
    }

    [Fact]
    public async Task Connect_IPv6AddressNeverAnswers_HappyEyeballsReachesIPv4WithinTheTimeout()
    {
        using var target = new TcpTarget();

        // A listener on [::1] at the same port whose accept queue is full: connects to it hang, as to a dead IPv6 route.
        using var blackhole = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        blackhole.Bind(new IPEndPoint(IPAddress.IPv6Loopback, target.Port));
        blackhole.Listen(0);
        var filler = new List<Socket>();
        try
        {
            for (int i = 0; i < 8; i++)
            {
                var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
                filler.Add(socket);
                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, target.Port), cts.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            var resolver = new FakeResolver(_ => [IPAddress.IPv6Loopback, IPAddress.Loopback]);
            await using TestServer server = await TestServer.StartAsync(o => o.ConnectTimeout = TimeSpan.FromSeconds(20), resolver);

            // Tried one after the other, the IPv6 attempt would use up the whole connect timeout and the reply be X'06'.
            // Raced, IPv4 starts 250 ms later and wins.
            byte reply = await RequestAsync(server, Socks5Bytes.ConnectDomain("dual.test", target.Port));

            Assert.Equal(0, reply);
            using Socket accepted = await target.AcceptAsync();
            Assert.Equal(AddressFamily.InterNetwork, accepted.AddressFamily);
        }
        finally
        {
            foreach (Socket socket in filler)
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>Sends a no-auth request and returns REP; asserts the server then closes the connection.</summary>
    private static Task<byte> RequestAsync(TestServer server, byte[] request) => RawClient.RequestAsync(server.EndPoint, request);

    private static int ReserveClosedPort(IPAddress address)
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(address, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private sealed class FakeResolver(Func<string, IPAddress[]> answer, bool hang = false) : IHostResolver
    {
        public List<string> Queries { get; } = [];

        public async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            lock (Queries)
            {
                Queries.Add(host);
            }

            if (hang)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return answer(host);
        }
    }
}
