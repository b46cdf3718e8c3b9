using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Client;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Rules;

/// <summary>
/// Routes (issue 21): a rule sends its destinations directly, or onward through upstream proxies — other Sockeye servers
/// speaking SOCKS5, SOCKS4a or HTTP, and Debian's microsocks — leaving from a chosen address, with a fallback.
/// </summary>
public sealed class RouteTests
{
    // A name only the upstream can resolve: the front server must hand it on unresolved.
    private const string UpstreamOnlyName = "inside.upstream.test";

    [Theory]
    [InlineData("socks5")]
    [InlineData("socks4a")]
    [InlineData("http")]
    public async Task Upstream_OfEachKind_CarriesTheConnection_AndResolvesTheName(string scheme)
    {
        await using TestServer upstream = await TestServer.StartAsync(resolver: new NameResolver(UpstreamOnlyName));
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough($"{scheme}://127.0.0.1:{upstream.EndPoint.Port}")), resolver: new NameResolver());
        using var target = new TcpTarget();

        using RawClient client = await RawClient.ConnectAsync(front.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.ConnectDomain(UpstreamOnlyName, target.Port)]);
        Assert.Equal([5, 0], await client.ReceiveExactlyAsync(2));
        byte[] reply = await client.ReceiveReplyAsync();
        using Socket peer = await target.AcceptAsync();

        Assert.Equal(0, reply[1]);
        await AssertRelaysAsync(client.Socket, peer);
    }

    [Fact]
    public async Task Chain_Socks5ThenHttpWithLogin_ReachesTheDestination()
    {
        await using TestServer last = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("carol", "secret")), resolver: new NameResolver(UpstreamOnlyName));
        await using TestServer middle = await TestServer.StartAsync();
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough(
            $"socks5://127.0.0.1:{middle.EndPoint.Port}", $"http://carol:secret@127.0.0.1:{last.EndPoint.Port}")), resolver: new NameResolver());
        using var target = new TcpTarget();

        using RawClient client = await RawClient.ConnectAsync(front.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.ConnectDomain(UpstreamOnlyName, target.Port)]);
        Assert.Equal([5, 0], await client.ReceiveExactlyAsync(2));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
        using Socket peer = await target.AcceptAsync();

        await AssertRelaysAsync(client.Socket, peer);
    }

    [Fact]
    public async Task RouteByDomain_CorpDirect_TheRestThroughTheUpstream()
    {
        await using TestServer upstream = await TestServer.StartAsync(resolver: new NameResolver("www.elsewhere.test"));
        await using TestServer front = await TestServer.StartAsync(o =>
        {
            var corp = new AccessRule { Action = AccessAction.Allow, Route = new RouteOptions() };
            Assert.True(DestinationPattern.TryParse("*.corp.test", out DestinationPattern? pattern, out _));
            corp.Destinations.Add(pattern!);
            o.Rules.Add(corp);
            o.Rules.Add(RouteTestSupport.RouteThrough($"socks5://127.0.0.1:{upstream.EndPoint.Port}"));
        }, resolver: new NameResolver("intranet.corp.test"));
        using var target = new TcpTarget();

        // Each name resolves only on its side: a wrong route would answer X'04'.
        foreach (string name in (string[])["intranet.corp.test", "www.elsewhere.test"])
        {
            using RawClient client = await RawClient.ConnectAsync(front.EndPoint);
            await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.ConnectDomain(name, target.Port)]);
            Assert.Equal([5, 0], await client.ReceiveExactlyAsync(2));
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
            using Socket peer = await target.AcceptAsync();
            await AssertRelaysAsync(client.Socket, peer);
        }
    }

    [Fact]
    public async Task UpstreamDown_AnswersGeneralFailure_AndLogsTheRoute()
    {
        int down = RouteTestSupport.ClosedPort();
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough($"socks5://127.0.0.1:{down}")));
        using var target = new TcpTarget();

        byte reply = await RequestCodeAsync(front, target.EndPoint);

        Assert.Equal(1, reply);
        Assert.Contains(front.Logs.Lines, line => line.Contains("Sockeye.Server[1022]", StringComparison.Ordinal) && line.Contains($"127.0.0.1:{down}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UpstreamDown_WithFallbackDirect_Connects()
    {
        int down = RouteTestSupport.ClosedPort();
        await using TestServer front = await TestServer.StartAsync(o =>
        {
            AccessRule rule = RouteTestSupport.RouteThrough($"socks5://127.0.0.1:{down}");
            rule.Route!.Fallback = new RouteOptions();
            o.Rules.Add(rule);
        });
        using var target = new TcpTarget();

        byte reply = await RequestCodeAsync(front, target.EndPoint);

        Assert.Equal(0, reply);
    }

    [Fact]
    public async Task DestinationRefusedBeyondTheUpstream_AnswersConnectionRefused()
    {
        await using TestServer upstream = await TestServer.StartAsync();
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough($"socks5://127.0.0.1:{upstream.EndPoint.Port}")));

        byte reply = await RequestCodeAsync(front, new IPEndPoint(IPAddress.Loopback, RouteTestSupport.ClosedPort()));

        Assert.Equal(5, reply);
    }

    [Fact]
    public async Task UpstreamRefusesTheLogin_AnswersGeneralFailure()
    {
        await using TestServer upstream = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("carol", "secret")));
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough($"socks5://carol:wrong@127.0.0.1:{upstream.EndPoint.Port}")));
        using var target = new TcpTarget();

        Assert.Equal(1, await RequestCodeAsync(front, target.EndPoint));
    }

    [Fact]
    public async Task HttpClientOfTheFront_UpstreamDown_Answers502()
    {
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough($"http://127.0.0.1:{RouteTestSupport.ClosedPort()}")));

        using RawClient client = await RawClient.ConnectAsync(front.EndPoint);
        await client.SendAsync(Encoding.ASCII.GetBytes("CONNECT localhost:443 HTTP/1.1\r\n\r\n"));
        string response = Encoding.ASCII.GetString(await client.ReadToEndAsync());

        Assert.StartsWith("HTTP/1.1 502 ", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Curl_HttpProxyFront_ThroughSocks5Upstream_FetchesTheOrigin()
    {
        await using TestServer upstream = await TestServer.StartAsync();
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough($"socks5://127.0.0.1:{upstream.EndPoint.Port}")));
        using var http = new HttpTestServer("through two proxies");

        (int exitCode, string output, string error) = await Clients.RealClientTests.CurlAsync("--proxy", $"http://127.0.0.1:{front.EndPoint.Port}", $"http://localhost:{http.Port}/");

        Assert.True(exitCode == 0, error);
        Assert.Equal(http.Body, output);
    }

    [Fact]
    public async Task Microsocks_AsTheUpstream_CarriesTheConnection()
    {
        (Process microsocks, int port) = await StartMicrosocksAsync();
        try
        {
            await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough($"socks5://alice:secret@127.0.0.1:{port}")));
            using var target = new TcpTarget();

            using RawClient client = await RawClient.ConnectAsync(front.EndPoint);
            await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.ConnectDomain("localhost", target.Port)]);
            Assert.Equal([5, 0], await client.ReceiveExactlyAsync(2));
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
            using Socket peer = await target.AcceptAsync();
            await AssertRelaysAsync(client.Socket, peer);
        }
        finally
        {
            microsocks.Kill();
            microsocks.Dispose();
        }
    }

    [Fact]
    public async Task Egress_BindAddress_IsTheSourceTheDestinationSees()
    {
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(new AccessRule
        {
            Action = AccessAction.Allow,
            Route = new RouteOptions { BindAddressV4 = IPAddress.Parse("127.0.0.2") },
        }));
        using var target = new TcpTarget();

        Assert.Equal(0, await RequestCodeAsync(front, target.EndPoint, keepOpen: true));
        using Socket peer = await target.AcceptAsync();

        Assert.Equal(IPAddress.Parse("127.0.0.2"), ((IPEndPoint)peer.RemoteEndPoint!).Address);
    }

    [Fact]
    public async Task Egress_BindAddress_AppliesToTheUpstreamConnection()
    {
        await using TestServer upstream = await TestServer.StartAsync(o => o.Rules.Add(OnlyFrom("127.0.0.2")));
        await using TestServer front = await TestServer.StartAsync(o =>
        {
            AccessRule rule = RouteTestSupport.RouteThrough($"socks5://127.0.0.1:{upstream.EndPoint.Port}");
            rule.Route!.BindAddressV4 = IPAddress.Parse("127.0.0.2");
            o.Rules.Add(rule);
        });
        using var target = new TcpTarget();

        Assert.Equal(0, await RequestCodeAsync(front, target.EndPoint));
    }

    [Theory]
    [InlineData("lo", 0)]
    [InlineData("nosuchif0", 1)]
    public async Task Egress_Interface_BindsTheConnectionToIt(string device, byte expected)
    {
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(new AccessRule
        {
            Action = AccessAction.Allow,
            Route = new RouteOptions { Interface = device },
        }));
        using var target = new TcpTarget();

        byte reply = await RequestCodeAsync(front, target.EndPoint);

        // Binding to an interface needs CAP_NET_RAW, which CI (root) has; without it the kernel says EPERM and the reply is X'01' too.
        Assert.Equal(Environment.UserName == "root" ? expected : (byte)1, reply);
    }

    private static AccessRule OnlyFrom(string client)
    {
        var rule = new AccessRule { Action = AccessAction.Allow };
        rule.Clients.Add(IPNetwork.Parse(client + "/32"));
        return rule;
    }

    /// <summary>A SOCKS5 CONNECT through <paramref name="server"/>; returns REP.</summary>
    private static async Task<byte> RequestCodeAsync(TestServer server, IPEndPoint destination, bool keepOpen = false)
    {
        RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        try
        {
            await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(destination)]);
            Assert.Equal([5, 0], await client.ReceiveExactlyAsync(2));
            return (await client.ReceiveReplyAsync())[1];
        }
        finally
        {
            if (!keepOpen)
            {
                client.Dispose();
            }
        }
    }

    private static async Task AssertRelaysAsync(Socket client, Socket peer)
    {
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await peer.ReceiveExactlyAsync(4));
        await peer.SendAsync("pong"u8.ToArray());
        Assert.Equal("pong"u8.ToArray(), await client.ReceiveExactlyAsync(4));
    }

    /// <summary>Debian's microsocks on a free loopback port, with a login; ready once it accepts.</summary>
    private static async Task<(Process Process, int Port)> StartMicrosocksAsync()
    {
        const string Path = "/usr/bin/microsocks";
        if (!File.Exists(Path))
        {
            Assert.Fail($"{Path} is missing: apt-get install microsocks (.ci/run installs it).");
        }

        int port = RouteTestSupport.ClosedPort();
        var start = new ProcessStartInfo(Path) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in (string[])["-i", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-u", "alice", "-P", "secret"])
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        for (int attempt = 0; attempt < 100; attempt++)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(endPoint);
                return (process, port);
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        process.Kill();
        throw new InvalidOperationException("microsocks did not start listening within 5 s.");
    }
}
