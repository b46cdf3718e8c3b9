using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;

namespace Sockeye.Client.Tests;

/// <summary>A chain: the client reaches proxy A, asks it to CONNECT to proxy B, negotiates with B through it, and so on.</summary>
public sealed class Socks5ClientChainTests
{
    [Fact]
    public async Task Connect_ThroughTwoProxies_ReachesTheDestination()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("bob", "hunter2")));
        using var target = new TcpTarget();
        var client = new Socks5Client(a.Proxy(), b.Proxy("bob", "hunter2"));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
        Assert.Equal(a.EndPoint, connection.Socket.RemoteEndPoint);
        Assert.Equal(accepted.RemoteEndPoint, new IPEndPoint(connection.BoundAddress.ToIPAddress(), connection.BoundPort));
    }

    [Fact]
    public async Task Connect_ThroughThreeHops_ReachesTheDestination()
    {
        // A → B → A: the same server twice is a chain of three all the same.
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(a.Proxy(), b.Proxy(), a.Proxy());

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [Fact]
    public async Task Connect_SecondHopNamedByHost_IsResolvedByTheFirst()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(a.Proxy(), new Socks5Proxy("localhost", b.EndPoint.Port));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [Fact]
    public async Task Connect_SecondHopNotListening_ThrowsCommandFailedNamingTheFirstHop()
    {
        await using TestServer a = await TestServer.StartAsync();
        int closedPort = Socks5ClientTests.ReserveClosedPort();
        var client = new Socks5Client(a.Proxy(), new Socks5Proxy("127.0.0.1", closedPort));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync("example.test", 80)).DefaultTimeout();

        Assert.Equal(SocksError.CommandFailed, e.Error);
        Assert.Equal(Socks5ReplyCode.ConnectionRefused, e.ReplyCode);
        Assert.Same(client.Proxies[0], e.Proxy);
        Assert.Equal($"SOCKS5 proxy {a.EndPoint} (hop 1 of 2) failed CONNECT to 127.0.0.1:{closedPort}: connection refused (X'05').", e.Message);
    }

    [Fact]
    public async Task Connect_SecondHopRejectsPassword_ThrowsAuthenticationFailedNamingTheSecondHop()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("bob", "hunter2")));
        var client = new Socks5Client(a.Proxy(), b.Proxy("bob", "wrong"));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync("example.test", 80)).DefaultTimeout();

        Assert.Equal(SocksError.AuthenticationFailed, e.Error);
        Assert.Same(client.Proxies[1], e.Proxy);
        Assert.Contains("(hop 2 of 2)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_LastHopRefuses_ThrowsCommandFailedNamingTheLastHop()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync();
        int closedPort = Socks5ClientTests.ReserveClosedPort();
        var client = new Socks5Client(a.Proxy(), b.Proxy());

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, closedPort)).DefaultTimeout();

        Assert.Equal(Socks5ReplyCode.ConnectionRefused, e.ReplyCode);
        Assert.Same(client.Proxies[1], e.Proxy);
    }

    [Fact]
    public async Task Connect_ChainThroughFake_SendsEachHopItsOwnHandshake()
    {
        // Through one socket: A's greeting and request naming B, then B's greeting and request naming the destination.
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy(), new Socks5Proxy("proxy-b.example.test", 1080, "bob", "pw"));

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 80);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        byte[] toB = await proxy.ReceiveRequestAsync();
        await proxy.SendAsync(FakeSocksConnection.Reply(0));
        Assert.Equal(new byte[] { 5, 2, 0, 2 }, await proxy.ReceiveGreetingAsync());
        await proxy.SendAsync(5, 2);
        Assert.Equal(new byte[] { 1, 3, (byte)'b', (byte)'o', (byte)'b', 2, (byte)'p', (byte)'w' }, await proxy.ReceiveCredentialsAsync());
        await proxy.SendAsync(1, 0);
        byte[] toDestination = await proxy.ReceiveRequestAsync();
        await proxy.SendAsync(FakeSocksConnection.Reply(0));
        await using Socks5Connection connection = await connecting.DefaultTimeout();

        byte[] expectedToB = [5, 1, 0, 3, 20, .. "proxy-b.example.test"u8.ToArray(), 4, 56];
        byte[] expectedToDestination = [5, 1, 0, 3, 12, .. "example.test"u8.ToArray(), 0, 80];
        Assert.Equal(expectedToB, toB);
        Assert.Equal(expectedToDestination, toDestination);
    }
}
