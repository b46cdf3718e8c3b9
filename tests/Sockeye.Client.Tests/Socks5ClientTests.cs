using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;

namespace Sockeye.Client.Tests;

/// <summary>CONNECT through one proxy: the real Sockeye server where it can answer, the fake where only a fake would.</summary>
public sealed class Socks5ClientTests
{
    [Fact]
    public async Task Connect_ToIPv4Destination_RelaysBothWaysAndReportsBoundAddress()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(server.Proxy());

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        // BND is the address the proxy connected from: the target sees exactly that peer.
        Assert.Equal(Socks5AddressType.IPv4, connection.BoundAddress.Type);
        Assert.Equal(accepted.RemoteEndPoint, new IPEndPoint(connection.BoundAddress.ToIPAddress(), connection.BoundPort));
        await AssertRelaysAsync(connection, accepted);
    }

    [Fact]
    public async Task Connect_ToIPv6Destination_SendsIPv6AddressType()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget(IPAddress.IPv6Loopback);
        var client = new Socks5Client(server.Proxy());

        await using Socks5Connection connection = await client.ConnectAsync("[::1]", target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        Assert.Equal(Socks5AddressType.IPv6, connection.BoundAddress.Type);
        Assert.Equal(accepted.RemoteEndPoint, new IPEndPoint(connection.BoundAddress.ToIPAddress(), connection.BoundPort));
        await AssertRelaysAsync(connection, accepted);
    }

    [Fact]
    public async Task Connect_ToDomainName_ProxyResolvesIt()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(server.Proxy());

        await using Socks5Connection connection = await client.ConnectAsync("localhost", target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await AssertRelaysAsync(connection, accepted);
    }

    [Theory]
    [InlineData("example.test", new byte[] { 3, 12, (byte)'e', (byte)'x', (byte)'a', (byte)'m', (byte)'p', (byte)'l', (byte)'e', (byte)'.', (byte)'t', (byte)'e', (byte)'s', (byte)'t' })]
    [InlineData("192.0.2.1", new byte[] { 1, 192, 0, 2, 1 })]
    [InlineData("2001:db8::1", new byte[] { 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 })]
    [InlineData("[2001:db8::1]", new byte[] { 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 })]
    public async Task Connect_Host_SentAsTheRightAddressTypeAndNeverResolvedHere(string host, byte[] expectedAddress)
    {
        // The fake never connects anywhere: the request bytes are all this test looks at (192.0.2.1 is TEST-NET-1).
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());

        Task<Socks5Connection> connecting = client.ConnectAsync(host, 443);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        byte[] request = await proxy.ReceiveRequestAsync();
        await proxy.SendAsync(FakeSocksConnection.Reply(0));
        await using Socks5Connection connection = await connecting.DefaultTimeout();

        Assert.Equal<byte>([5, 1, 0, .. expectedAddress, 1, 187], request);
    }

    [Fact]
    public async Task Connect_WithoutCredentials_OffersOnlyNoAuthentication()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 80);
        using FakeSocksConnection proxy = await fake.AcceptAsync();

        Assert.Equal(new byte[] { 5, 1, 0 }, await proxy.ReceiveGreetingAsync());
        proxy.Dispose();
        await Assert.ThrowsAsync<SocksException>(() => connecting).DefaultTimeout();
    }

    [Fact]
    public async Task Connect_WithCredentials_OffersBothMethodsAndSendsThem()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy(new NetworkCredential("alice", "sécret")));

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 80);
        using FakeSocksConnection proxy = await fake.AcceptAsync();
        Assert.Equal(new byte[] { 5, 2, 0, 2 }, await proxy.ReceiveGreetingAsync());
        await proxy.SendAsync(5, 2);
        byte[] credentials = await proxy.ReceiveCredentialsAsync();
        await proxy.SendAsync(1, 0);
        await proxy.ReceiveRequestAsync();
        await proxy.SendAsync(FakeSocksConnection.Reply(0));
        await using Socks5Connection connection = await connecting.DefaultTimeout();

        byte[] expected = [1, 5, .. "alice"u8.ToArray(), 7, .. Encoding.UTF8.GetBytes("sécret")];
        Assert.Equal(expected, credentials);
    }

    [Fact]
    public async Task Connect_WithCorrectPassword_AuthenticatesToSockeye()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        using var target = new TcpTarget();
        var client = new Socks5Client(server.Proxy("alice", "secret"));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await AssertRelaysAsync(connection, accepted);
    }

    [Fact]
    public async Task Connect_WithWrongPassword_ThrowsAuthenticationFailed()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        var client = new Socks5Client(server.Proxy("alice", "wrong"));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, 9)).DefaultTimeout();

        Assert.Equal(SocksError.AuthenticationFailed, e.Error);
        Assert.Null(e.ReplyCode);
        Assert.Contains("'alice'", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_WithoutCredentialsToServerThatRequiresThem_ThrowsNoAcceptableMethod()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        var client = new Socks5Client(server.Proxy());

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, 9)).DefaultTimeout();

        Assert.Equal(SocksError.NoAcceptableMethod, e.Error);
        Assert.Contains("username and password", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_DataRightBehindTheReply_IsLeftForTheStream()
    {
        // A destination that speaks first (SMTP, FTP) can have its banner in the same segment as the reply: the
        // handshake must take the reply's bytes and not one more.
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());

        Task<Socks5Connection> connecting = client.ConnectAsync("mail.example.test", 25);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        await proxy.ReceiveRequestAsync();
        await proxy.SendAsync([.. FakeSocksConnection.Reply(0, new IPEndPoint(IPAddress.Parse("192.0.2.7"), 4242)), .. "220 ready\r\n"u8.ToArray()]);
        await using Socks5Connection connection = await connecting.DefaultTimeout();

        Assert.Equal("192.0.2.7", connection.BoundAddress.ToString());
        Assert.Equal(4242, connection.BoundPort);
        byte[] banner = new byte[11];
        await connection.Stream.ReadExactlyAsync(banner).DefaultTimeout();
        Assert.Equal("220 ready\r\n"u8.ToArray(), banner);
    }

    [Fact]
    public async Task Connect_ReplyArrivesOneByteAtATime_IsAssembled()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());
        byte[] name = "bound.example.test"u8.ToArray();
        byte[] reply = [5, 0, 0, 3, (byte)name.Length, .. name, 0x1f, 0x90];

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 80);
        using FakeSocksConnection proxy = await fake.AcceptAsync();
        await proxy.ReceiveGreetingAsync();
        await proxy.SendAsync(5);
        await proxy.SendAsync(0);
        await proxy.ReceiveRequestAsync();
        foreach (byte b in reply)
        {
            await proxy.SendAsync(b);
        }

        await using Socks5Connection connection = await connecting.DefaultTimeout();

        Assert.True(connection.BoundAddress.IsDomainName);
        Assert.Equal("bound.example.test", connection.BoundAddress.DomainName);
        Assert.Equal(8080, connection.BoundPort);
    }

    [Fact]
    public async Task Connect_ProxyNotListening_ThrowsProxyUnreachable()
    {
        int closedPort = ReserveClosedPort();
        var client = new Socks5Client(new Socks5Proxy("127.0.0.1", closedPort));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync("example.test", 80)).DefaultTimeout();

        Assert.Equal(SocksError.ProxyUnreachable, e.Error);
        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
        Assert.Contains($"127.0.0.1:{closedPort}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_ProxyNeverAnswers_ThrowsTimedOutAndClosesTheSocket()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy()) { ConnectTimeout = TimeSpan.FromMilliseconds(500) };

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 80);
        using FakeSocksConnection proxy = await fake.AcceptAsync();
        await proxy.ReceiveGreetingAsync();
        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting).DefaultTimeout();

        Assert.Equal(SocksError.TimedOut, e.Error);
        Assert.IsType<TimeoutException>(e.InnerException);
        Assert.Contains("method selection within 500 ms", e.Message, StringComparison.Ordinal);
        Assert.True(await proxy.ClientClosedAsync());
    }

    [Fact]
    public async Task Connect_Canceled_ThrowsOperationCanceledAndClosesTheSocket()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());
        using var cts = new CancellationTokenSource();

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 80, cts.Token);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        await proxy.ReceiveRequestAsync();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connecting).DefaultTimeout();
        Assert.True(await proxy.ClientClosedAsync());
    }

    [Fact]
    public async Task Connect_AlreadyCanceled_NeverReachesTheProxy()
    {
        var client = new Socks5Client(new Socks5Proxy("127.0.0.1", 1));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ConnectAsync("example.test", 80, new CancellationToken(canceled: true))).DefaultTimeout();
    }

    [Fact]
    public async Task Connect_ManyAtOnceThroughOneClient_AllSucceed()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(server.Proxy());

        Socks5Connection[] connections = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.ConnectAsync(IPAddress.Loopback, target.Port))).DefaultTimeout();
        try
        {
            Assert.All(connections, c => Assert.True(c.Socket.Connected));
        }
        finally
        {
            foreach (Socks5Connection connection in connections)
            {
                await connection.DisposeAsync().AsTask().DefaultTimeout();
            }
        }
    }

    [Fact]
    public void Constructor_NoProxy_Throws()
    {
        Assert.Throws<ArgumentException>(() => new Socks5Client(Array.Empty<Socks5Proxy>()));
        Assert.Throws<ArgumentException>(() => new Socks5Client(new Socks5Proxy("127.0.0.1", 1080), null!));
    }

    [Fact]
    public void ConnectTimeout_ZeroOrNegative_Throws()
    {
        var proxy = new Socks5Proxy("127.0.0.1", 1080);

        Assert.Throws<ArgumentOutOfRangeException>(() => new Socks5Client(proxy) { ConnectTimeout = TimeSpan.Zero });
        Assert.Equal(Timeout.InfiniteTimeSpan, new Socks5Client(proxy) { ConnectTimeout = Timeout.InfiniteTimeSpan }.ConnectTimeout);
    }

    [Fact]
    public async Task Connect_BadArguments_ThrowBeforeAnyIO()
    {
        var client = new Socks5Client(new Socks5Proxy("127.0.0.1", 1));

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.ConnectAsync("example.test", 65536)).DefaultTimeout();
        await Assert.ThrowsAsync<ArgumentException>(() => client.ConnectAsync(new string('a', 256), 80)).DefaultTimeout();
        await Assert.ThrowsAsync<ArgumentException>(() => client.ConnectAsync("", 80)).DefaultTimeout();
    }

    internal static async Task AssertRelaysAsync(Socks5Connection connection, Socket peer)
    {
        await connection.Stream.WriteAsync("ping"u8.ToArray()).DefaultTimeout();
        byte[] up = new byte[4];
        await peer.ReceiveAsync(up, SocketFlags.None).DefaultTimeout();
        Assert.Equal("ping"u8.ToArray(), up);

        await peer.SendAsync("pong"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        byte[] down = new byte[4];
        await connection.Stream.ReadExactlyAsync(down).DefaultTimeout();
        Assert.Equal("pong"u8.ToArray(), down);
    }

    internal static int ReserveClosedPort(IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(address, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
