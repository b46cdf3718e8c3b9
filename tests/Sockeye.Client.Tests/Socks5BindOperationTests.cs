using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Tests;

public sealed class Socks5BindOperationTests
{
    [Fact]
    public async Task Bind_PeerConnects_AcceptReturnsTheConnectionToThePeer()
    {
        await using TestServer server = await TestServer.StartAsync();
        var client = new Socks5Client(server.Proxy());

        await using Socks5BindOperation bind = await client.BindAsync(IPAddress.Loopback, 0).DefaultTimeout();
        IPEndPoint announced = Assert.IsType<IPEndPoint>(bind.AnnouncedEndPoint);
        Assert.Equal(IPAddress.Loopback, announced.Address);
        Assert.NotEqual(0, bind.AnnouncedPort);

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(announced).DefaultTimeout();
        await using Socks5Connection connection = await bind.AcceptAsync().DefaultTimeout();

        // The second reply's BND is the peer's address and port.
        Assert.Equal(peer.LocalEndPoint, new IPEndPoint(connection.BoundAddress.ToIPAddress(), connection.BoundPort));
        await Socks5ClientTests.AssertRelaysAsync(connection, peer);
    }

    [Fact]
    public async Task Bind_ExpectedPeerByName_AcceptsItsAddress()
    {
        await using TestServer server = await TestServer.StartAsync();
        var client = new Socks5Client(server.Proxy());

        await using Socks5BindOperation bind = await client.BindAsync("localhost", 21).DefaultTimeout();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(bind.AnnouncedEndPoint!).DefaultTimeout();
        await using Socks5Connection connection = await bind.AcceptAsync().DefaultTimeout();

        await Socks5ClientTests.AssertRelaysAsync(connection, peer);
    }

    [Fact]
    public async Task Bind_OverIPv6_AnnouncesAnIPv6Address()
    {
        await using TestServer server = await TestServer.StartAsync(listenAddress: IPAddress.IPv6Loopback);
        var client = new Socks5Client(server.Proxy());

        await using Socks5BindOperation bind = await client.BindAsync(IPAddress.IPv6Loopback, 0).DefaultTimeout();
        Assert.Equal(Socks5AddressType.IPv6, bind.AnnouncedAddress.Type);
        using var peer = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(bind.AnnouncedEndPoint!).DefaultTimeout();
        await using Socks5Connection connection = await bind.AcceptAsync().DefaultTimeout();

        Assert.Equal(Socks5AddressType.IPv6, connection.BoundAddress.Type);
        await Socks5ClientTests.AssertRelaysAsync(connection, peer);
    }

    [Fact]
    public async Task Bind_ThroughAChain_LastProxyListens()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync();
        var client = new Socks5Client(a.Proxy(), b.Proxy());

        await using Socks5BindOperation bind = await client.BindAsync(IPAddress.Loopback, 0).DefaultTimeout();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(bind.AnnouncedEndPoint!).DefaultTimeout();
        await using Socks5Connection connection = await bind.AcceptAsync().DefaultTimeout();

        await Socks5ClientTests.AssertRelaysAsync(connection, peer);
    }

    [Fact]
    public async Task Accept_UnexpectedPeer_ThrowsConnectionNotAllowed()
    {
        await using TestServer server = await TestServer.StartAsync();
        var client = new Socks5Client(server.Proxy());

        // The client expects 127.0.0.2; the connection comes from 127.0.0.1.
        await using Socks5BindOperation bind = await client.BindAsync(IPAddress.Parse("127.0.0.2"), 0).DefaultTimeout();
        Task<Socks5Connection> accepting = bind.AcceptAsync();
        using var stranger = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        stranger.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        try
        {
            await stranger.ConnectAsync(bind.AnnouncedEndPoint!).DefaultTimeout();
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // The server's reset can overtake the end of the TCP handshake on loopback: refused all the same.
        }

        SocksException failure = await Assert.ThrowsAsync<SocksException>(() => accepting).DefaultTimeout();
        Assert.Equal(SocksError.CommandFailed, failure.Error);
        Assert.Equal(Socks5ReplyCode.ConnectionNotAllowed, failure.ReplyCode);
        Assert.Contains("failed BIND for 127.0.0.2:0: connection not allowed by ruleset (X'02')", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Accept_NobodyConnectsBeforeTheProxysTimeout_ThrowsTtlExpired()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Bind.AcceptTimeout = TimeSpan.FromMilliseconds(200));
        var client = new Socks5Client(server.Proxy());

        await using Socks5BindOperation bind = await client.BindAsync(IPAddress.Loopback, 0).DefaultTimeout();
        SocksException e = await Assert.ThrowsAsync<SocksException>(() => bind.AcceptAsync()).DefaultTimeout();

        Assert.Equal(Socks5ReplyCode.TtlExpired, e.ReplyCode);
    }

    [Fact]
    public async Task Accept_Canceled_ThrowsOperationCanceledAndClosesTheControlConnection()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());
        Task<Socks5BindOperation> binding = client.BindAsync(IPAddress.Any, 0);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        await proxy.ReceiveRequestAsync();
        await proxy.SendAsync(FakeSocksConnection.Reply(0, new IPEndPoint(IPAddress.Loopback, 5000)));
        await using Socks5BindOperation bind = await binding.DefaultTimeout();
        using var cts = new CancellationTokenSource();

        Task<Socks5Connection> accepting = bind.AcceptAsync(cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => accepting).DefaultTimeout();
        Assert.True(await proxy.ClientClosedAsync());
    }

    [Fact]
    public async Task Bind_SecondReplyFollowsTheFirstInOneSegment_BothAreRead()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());
        Task<Socks5BindOperation> binding = client.BindAsync("ftp.example.test", 20);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        byte[] request = await proxy.ReceiveRequestAsync();
        await proxy.SendAsync([
            .. FakeSocksConnection.Reply(0, new IPEndPoint(IPAddress.Parse("192.0.2.1"), 5000)),
            .. FakeSocksConnection.Reply(0, new IPEndPoint(IPAddress.Parse("198.51.100.2"), 20)),
            .. "hello"u8.ToArray()]);

        await using Socks5BindOperation bind = await binding.DefaultTimeout();
        await using Socks5Connection connection = await bind.AcceptAsync().DefaultTimeout();
        byte[] hello = new byte[5];
        await connection.Stream.ReadExactlyAsync(hello).DefaultTimeout();

        Assert.Equal(2, request[1]);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 5000), bind.AnnouncedEndPoint);
        Assert.Equal("198.51.100.2", connection.BoundAddress.ToString());
        Assert.Equal("hello"u8.ToArray(), hello);
    }

    [Fact]
    public async Task Accept_CalledTwice_Throws()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());
        Task<Socks5BindOperation> binding = client.BindAsync(IPAddress.Any, 0);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        await proxy.ReceiveRequestAsync();
        await proxy.SendAsync(FakeSocksConnection.Reply(0, new IPEndPoint(IPAddress.Loopback, 5000)));
        await using Socks5BindOperation bind = await binding.DefaultTimeout();

        Task<Socks5Connection> first = bind.AcceptAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() => bind.AcceptAsync()).DefaultTimeout();
        await bind.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => first).DefaultTimeout();
        Assert.True(await proxy.ClientClosedAsync());
    }

    [Fact]
    public async Task Dispose_BeforeThePeerComes_ClosesTheControlConnection()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());
        Task<Socks5BindOperation> binding = client.BindAsync(IPAddress.Any, 0);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        await proxy.ReceiveRequestAsync();
        await proxy.SendAsync(FakeSocksConnection.Reply(0, new IPEndPoint(IPAddress.Loopback, 5000)));
        Socks5BindOperation bind = await binding.DefaultTimeout();

        await bind.DisposeAsync();

        Assert.True(await proxy.ClientClosedAsync());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => bind.AcceptAsync()).DefaultTimeout();
    }
}
