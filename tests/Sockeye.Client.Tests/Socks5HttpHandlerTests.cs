using System.Net;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;

namespace Sockeye.Client.Tests;

public sealed class Socks5HttpHandlerTests
{
    [Fact]
    public async Task HttpClient_ThroughOneProxy_FetchesTheBody()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpTestServer("through one proxy");
        using var client = new HttpClient(Socks5HttpHandler.Create(new Socks5Client(server.Proxy())));

        string body = await client.GetStringAsync(new Uri($"http://127.0.0.1:{http.Port}/")).DefaultTimeout();

        Assert.Equal("through one proxy", body);
    }

    [Fact]
    public async Task HttpClient_ThroughTwoProxyChain_FetchesTheBody()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("bob", "hunter2")));
        using var http = new HttpTestServer("through a chain");
        var chain = new Socks5Client(a.Proxy(), b.Proxy("bob", "hunter2"));
        using var client = new HttpClient(Socks5HttpHandler.Create(chain));

        // localhost: the name goes to the last proxy unresolved, which resolves it (and tries ::1, then 127.0.0.1).
        string body = await client.GetStringAsync(new Uri($"http://localhost:{http.Port}/")).DefaultTimeout();

        Assert.Equal("through a chain", body);
    }

    [Fact]
    public async Task HttpClient_ToIPv6Literal_FetchesTheBody()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpTestServer("over IPv6", IPAddress.IPv6Loopback);
        using var client = new HttpClient(Socks5HttpHandler.Create(new Socks5Client(server.Proxy())));

        string body = await client.GetStringAsync(new Uri($"http://[::1]:{http.Port}/")).DefaultTimeout();

        Assert.Equal("over IPv6", body);
    }

    [Fact]
    public async Task HttpClient_ProxyCannotReachTheServer_ThrowsHttpRequestExceptionWrappingTheSocksException()
    {
        await using TestServer server = await TestServer.StartAsync();
        int closedPort = Socks5ClientTests.ReserveClosedPort();
        using var client = new HttpClient(Socks5HttpHandler.Create(new Socks5Client(server.Proxy())));

        HttpRequestException e = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(new Uri($"http://127.0.0.1:{closedPort}/"))).DefaultTimeout();

        SocksException inner = Assert.IsType<SocksException>(e.InnerException);
        Assert.Equal(Socks5ReplyCode.ConnectionRefused, inner.ReplyCode);
    }

    [Fact]
    public async Task ConnectCallback_OnAHandlerConfiguredByTheCaller_GoesThroughTheProxy()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpTestServer("custom handler");
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = Socks5HttpHandler.CreateConnectCallback(new Socks5Client(server.Proxy())),
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        };
        using var client = new HttpClient(handler);

        string body = await client.GetStringAsync(new Uri($"http://127.0.0.1:{http.Port}/")).DefaultTimeout();

        Assert.Equal("custom handler", body);
    }

    [MicrosocksFact]
    public async Task HttpClient_ThroughSockeyeThenMicrosocks_FetchesTheBody()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using ExternalServer microsocks = await ThirdParty.MicrosocksTests.StartMicrosocksAsync();
        using var http = new HttpTestServer("sockeye, then microsocks");
        var chain = new Socks5Client(a.Proxy(), new Socks5Proxy(microsocks.EndPoint, new NetworkCredential("alice", "secret")));
        using var client = new HttpClient(Socks5HttpHandler.Create(chain));

        string body = await client.GetStringAsync(new Uri($"http://127.0.0.1:{http.Port}/")).DefaultTimeout();

        Assert.Equal("sockeye, then microsocks", body);
    }
}
