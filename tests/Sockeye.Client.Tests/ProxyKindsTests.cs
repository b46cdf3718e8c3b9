using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;

namespace Sockeye.Client.Tests;

/// <summary>
/// CONNECT through each kind of proxy, and chains that mix them, with the Sockeye server (which speaks SOCKS5, SOCKS4a
/// and HTTP on one port) as every hop; how each kind's refusals reach the caller.
/// </summary>
public sealed class ProxyKindsTests
{
    [Theory]
    [InlineData(ProxyKind.Socks5)]
    [InlineData(ProxyKind.Socks4a)]
    [InlineData(ProxyKind.Http)]
    public async Task Connect_ThroughEachKind_RelaysBothWays(ProxyKind kind)
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(new Socks5Proxy(kind, server.EndPoint));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [Theory]
    [InlineData(ProxyKind.Socks4a)]
    [InlineData(ProxyKind.Http)]
    public async Task Connect_NameThroughEachKind_IsResolvedByTheProxy(ProxyKind kind)
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(new Socks5Proxy(kind, server.EndPoint));

        await using Socks5Connection connection = await client.ConnectAsync("localhost", target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [Fact]
    public async Task Connect_ThroughHttpWithBasicCredentials_RelaysBothWays()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("bob", "hunter2")));
        using var target = new TcpTarget();
        var client = new Socks5Client(Socks5Proxy.FromUri(new Uri($"http://bob:hunter2@{server.EndPoint}")));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [Fact]
    public async Task Connect_ThroughSocks4aWithAnAllowedUserId_RelaysBothWays()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("bob", "hunter2"));
            o.Socks4.AllowWithUsers.Add("bob");
        });
        using var target = new TcpTarget();
        var client = new Socks5Client(Socks5Proxy.FromUri(new Uri($"socks4a://bob@{server.EndPoint}")));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [Fact]
    public async Task Connect_ChainSocks5ThenHttpThenSocks4a_ReachesTheDestination()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("bob", "hunter2")));
        await using TestServer c = await TestServer.StartAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(
            a.Proxy(),
            new Socks5Proxy(ProxyKind.Http, b.EndPoint, new NetworkCredential("bob", "hunter2")),
            new Socks5Proxy(ProxyKind.Socks4a, c.EndPoint));

        await using Socks5Connection connection = await client.ConnectAsync("localhost", target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
        Assert.Equal(a.EndPoint, connection.Socket.RemoteEndPoint);
    }

    [Fact]
    public async Task Connect_ChainSocks4aThenHttpThenSocks5_ReachesTheDestination()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync();
        await using TestServer c = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("carol", "pw")));
        using var target = new TcpTarget();
        var client = new Socks5Client(
            new Socks5Proxy(ProxyKind.Socks4a, a.EndPoint),
            new Socks5Proxy(ProxyKind.Http, b.EndPoint),
            c.Proxy("carol", "pw"));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
        Assert.Equal(accepted.RemoteEndPoint, new IPEndPoint(connection.BoundAddress.ToIPAddress(), connection.BoundPort));
    }

    [Fact]
    public async Task Connect_HttpHopDeniedByRule_ThrowsConnectionNotAllowedWith403()
    {
        using var target = new TcpTarget();
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync(o =>
        {
            o.Rules.Add(new AccessRule { Action = AccessAction.Deny, Ports = { new PortRange(target.Port, target.Port) } });
            o.Rules.Add(new AccessRule { Action = AccessAction.Allow });
        });
        var client = new Socks5Client(a.Proxy(), new Socks5Proxy(ProxyKind.Http, b.EndPoint));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, target.Port)).DefaultTimeout();

        Assert.Equal(SocksError.CommandFailed, e.Error);
        Assert.Equal(Socks5ReplyCode.ConnectionNotAllowed, e.ReplyCode);
        Assert.Equal(403, e.UpstreamStatus);
        Assert.Same(client.Proxies[1], e.Proxy);
        Assert.Equal($"HTTP proxy {b.EndPoint} (hop 2 of 2) answered HTTP 403 Forbidden to CONNECT 127.0.0.1:{target.Port}.", e.Message);
    }

    [Fact]
    public async Task Connect_HttpToClosedPort_ThrowsHostUnreachableWith502()
    {
        await using TestServer server = await TestServer.StartAsync();
        int closedPort = Socks5ClientTests.ReserveClosedPort();
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Http, server.EndPoint));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, closedPort)).DefaultTimeout();

        Assert.Equal(SocksError.CommandFailed, e.Error);
        Assert.Equal(Socks5ReplyCode.HostUnreachable, e.ReplyCode);
        Assert.Equal(502, e.UpstreamStatus);
        Assert.StartsWith($"HTTP proxy {server.EndPoint} answered HTTP 502 ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_Socks4aToClosedPort_ThrowsGeneralFailureWithCd91()
    {
        await using TestServer server = await TestServer.StartAsync();
        int closedPort = Socks5ClientTests.ReserveClosedPort();
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Socks4a, server.EndPoint));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync("localhost", closedPort)).DefaultTimeout();

        Assert.Equal(SocksError.CommandFailed, e.Error);
        Assert.Equal(Socks5ReplyCode.GeneralFailure, e.ReplyCode);
        Assert.Equal(91, e.UpstreamStatus);
        Assert.Equal($"SOCKS4a proxy {server.EndPoint} rejected CONNECT to localhost:{closedPort}: request rejected or failed (CD 91).", e.Message);
    }

    [Fact]
    public async Task Connect_HttpWrongPassword_ThrowsAuthenticationFailedWith407()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("bob", "hunter2")));
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Http, server.EndPoint, new NetworkCredential("bob", "wrong")));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync("example.test", 443)).DefaultTimeout();

        Assert.Equal(SocksError.AuthenticationFailed, e.Error);
        Assert.Equal(407, e.UpstreamStatus);
        Assert.Null(e.ReplyCode);
        Assert.Contains("rejected the credentials of user 'bob'", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_HttpWithoutCredentialsToAProxyWithUsers_ThrowsAuthenticationFailedWith407()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("bob", "hunter2")));
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Http, server.EndPoint));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync("example.test", 443)).DefaultTimeout();

        Assert.Equal(SocksError.AuthenticationFailed, e.Error);
        Assert.Equal(407, e.UpstreamStatus);
        Assert.Contains("requires a username and password", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_Socks4aToIPv6_ThrowsAddressTypeNotSupportedBeforeSendingAnything()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Socks4a, fake.EndPoint));

        Task<SocksException> failure = Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.IPv6Loopback, 80));
        using FakeSocksConnection hop = await fake.AcceptAsync();
        SocksException e = await failure.DefaultTimeout();

        Assert.Equal(SocksError.CommandFailed, e.Error);
        Assert.Equal(Socks5ReplyCode.AddressTypeNotSupported, e.ReplyCode);
        Assert.Null(e.UpstreamStatus);
        Assert.Contains("[::1]:80", e.Message, StringComparison.Ordinal);
        Assert.True(await hop.ClientClosedAsync());
    }

    [Fact]
    public async Task Connect_HttpToANameThatIsNotAscii_ThrowsAddressTypeNotSupported()
    {
        await using TestServer server = await TestServer.StartAsync();
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Http, server.EndPoint));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync("bücher.example", 80)).DefaultTimeout();

        Assert.Equal(Socks5ReplyCode.AddressTypeNotSupported, e.ReplyCode);
        Assert.Contains("xn--", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ProxyKind.Socks5)]
    [InlineData(ProxyKind.Socks4a)]
    [InlineData(ProxyKind.Http)]
    public async Task Connect_HopClosesMidHandshake_ThrowsConnectionClosed(ProxyKind kind)
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(new Socks5Proxy(kind, fake.EndPoint));

        Task<SocksException> failure = Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync("example.test", 80));
        using (FakeSocksConnection hop = await fake.AcceptAsync())
        {
            await hop.ReceiveExactlyAsync(2);

            // Half an answer, then the close.
            await hop.SendAsync(kind == ProxyKind.Http ? "HTTP/1.1 200 Conn"u8.ToArray() : [kind == ProxyKind.Socks5 ? (byte)5 : (byte)0]);
        }

        SocksException e = await failure.DefaultTimeout();

        Assert.Equal(SocksError.ConnectionClosed, e.Error);
        Assert.Same(client.Proxies[0], e.Proxy);
    }

    [Fact]
    public async Task Connect_HttpAnswerWithInterimHeadAndTunnelBytesInOneSegment_KeepsTheTunnelBytes()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Http, fake.EndPoint, new NetworkCredential("bob", "pw")));

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 443);
        using FakeSocksConnection hop = await fake.AcceptAsync();
        string request = await ReceiveHttpHeadAsync(hop.Socket);
        await hop.SendAsync("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection established\nVia: 1.1 test\n\n220 banner\r\n"u8.ToArray());
        await using Socks5Connection connection = await connecting.DefaultTimeout();

        Assert.Equal("CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\nProxy-Authorization: Basic Ym9iOnB3\r\n\r\n", request);
        byte[] banner = new byte[12];
        await connection.Stream.ReadExactlyAsync(banner).DefaultTimeout();
        Assert.Equal("220 banner\r\n"u8.ToArray(), banner);
    }

    [Fact]
    public async Task Connect_Socks4aReplyAndTunnelBytesInOneSegment_KeepsTheTunnelBytes()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Socks4a, fake.EndPoint, new NetworkCredential("alice", "")));

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 25);
        using FakeSocksConnection hop = await fake.AcceptAsync();
        byte[] request = await hop.ReceiveExactlyAsync(8 + 6 + 13);
        await hop.SendAsync(0, 90, 0, 25, 192, 0, 2, 7, (byte)'2', (byte)'2', (byte)'0');
        await using Socks5Connection connection = await connecting.DefaultTimeout();

        // VN 4, CONNECT, port 25, 0.0.0.1 (SOCKS4a's marker), "alice" NUL, "example.test" NUL.
        Assert.Equal([4, 1, 0, 25, 0, 0, 0, 1, .. "alice\0example.test\0"u8.ToArray()], request);
        Assert.Equal("192.0.2.7", connection.BoundAddress.ToString());
        Assert.Equal(25, connection.BoundPort);
        byte[] banner = new byte[3];
        await connection.Stream.ReadExactlyAsync(banner).DefaultTimeout();
        Assert.Equal("220"u8.ToArray(), banner);
    }

    [Fact]
    public async Task Connect_HttpProxyAnswersGarbage_ThrowsProtocolViolationAtOnce()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Http, fake.EndPoint));

        Task<SocksException> failure = Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync("example.test", 443));
        using FakeSocksConnection hop = await fake.AcceptAsync();
        await ReceiveHttpHeadAsync(hop.Socket);
        await hop.SendAsync(5, 0); // a SOCKS5 method selection: this is no HTTP proxy
        SocksException e = await failure.DefaultTimeout();

        Assert.Equal(SocksError.ProtocolViolation, e.Error);
    }

    [Theory]
    [InlineData(ProxyKind.Http)]
    [InlineData(ProxyKind.Socks4a)]
    public async Task Bind_LastHopNotSocks5_ThrowsNotSupportedNamingTheHop(ProxyKind kind)
    {
        await using TestServer server = await TestServer.StartAsync();
        var client = new Socks5Client(server.Proxy(), new Socks5Proxy(kind, server.EndPoint));

        NotSupportedException e = await Assert.ThrowsAsync<NotSupportedException>(() => client.BindAsync(IPAddress.Loopback, 0)).DefaultTimeout();

        Assert.Contains($"{server.EndPoint} (hop 2 of 2)", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("BIND needs a SOCKS5 proxy as the last hop", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UdpAssociate_LastHopHttp_ThrowsNotSupported()
    {
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Http, "127.0.0.1", 1));

        NotSupportedException e = await Assert.ThrowsAsync<NotSupportedException>(() => client.UdpAssociateAsync()).DefaultTimeout();

        Assert.StartsWith("UDP ASSOCIATE needs a SOCKS5 proxy as the last hop", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Reads a request head byte by byte up to its empty line, as a test proxy that must not read further.</summary>
    internal static async Task<string> ReceiveHttpHeadAsync(Socket socket)
    {
        var head = new List<byte>();
        byte[] one = new byte[1];
        while (head.Count < 4096 && !(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await socket.ReceiveAsync(one, SocketFlags.None).DefaultTimeout() == 0)
            {
                break;
            }

            head.Add(one[0]);
        }

        return System.Text.Encoding.ASCII.GetString([.. head]);
    }
}
