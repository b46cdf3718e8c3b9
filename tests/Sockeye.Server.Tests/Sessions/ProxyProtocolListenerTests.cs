using System.Net;
using System.Net.Sockets;
using Sockeye.Protocol.ProxyProtocol;
using Sockeye.Server.Configuration;
using Sockeye.Server.Status;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing;

namespace Sockeye.Server.Tests.Sessions;

/// <summary>
/// A listener behind a balancer that sends PROXY protocol headers: the header's client is the client for rules,
/// throttling, logs and the status report; anything else on such a listener is closed unheard.
/// </summary>
public sealed class ProxyProtocolListenerTests
{
    private static readonly IPEndPoint Balanced = new(IPAddress.Parse("192.0.2.10"), 40000);
    private static readonly IPEndPoint OtherClient = new(IPAddress.Parse("192.0.2.20"), 40001);

    [Theory]
    [InlineData(ProxyProtocolVersion.V1)]
    [InlineData(ProxyProtocolVersion.V2)]
    public async Task Header_ItsClientIsTheClient_ForRulesAndTheAccessLog(ProxyProtocolVersion version)
    {
        using var target = new TcpTarget();
        await using TestServer server = await StartAsync(options =>
        {
            var deny = new AccessRule { Action = AccessAction.Deny, Name = "other client" };
            deny.Clients.Add(new IPNetwork(OtherClient.Address, 32));
            options.Rules.Add(deny);
            options.Rules.Add(new AccessRule { Action = AccessAction.Allow });
        });

        // Header, greeting and request in one write, as a balancer forwards what a pipelining client sent.
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync([.. Header(version, Balanced, server.EndPoint), .. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(target.EndPoint)]);
            Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
            using Socket far = await target.AcceptAsync();
        }

        using (RawClient denied = await RawClient.ConnectAsync(server.EndPoint))
        {
            await denied.SendAsync([.. Header(version, OtherClient, server.EndPoint), .. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(target.EndPoint)]);
            Assert.Equal(new byte[] { 5, 0 }, await denied.ReceiveExactlyAsync(2));
            Assert.Equal(2, (await denied.ReceiveReplyAsync())[1]);
        }

        ServerStatus status = await WaitForAsync(server, s => s.RefusalCount == 1 && s.ActiveSessions == 0);
        Assert.Equal("192.0.2.20", Assert.Single(status.RecentRefusals).Client);
        Assert.Contains(status.TopClients, c => c.Address == "192.0.2.10");
        Assert.DoesNotContain(status.TopClients, c => c.Address == "127.0.0.1");
        Assert.Contains(server.Logs.Lines, line => line.Contains("[2900]", StringComparison.Ordinal) && line.Contains("192.0.2.10:40000", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Header_ArrivingByteByByte_ThenTheHandshake_Works()
    {
        using var target = new TcpTarget();
        await using TestServer server = await StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        foreach (byte b in Header(ProxyProtocolVersion.V2, Balanced, server.EndPoint))
        {
            await client.SendAsync([b]);
        }

        await client.SendAsync(Socks5Bytes.NoAuthGreeting);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
    }

    [Fact]
    public async Task LocalHeader_ABalancersHealthCheck_IsClosedWithoutARefusal()
    {
        await using TestServer server = await StartAsync();
        using (RawClient check = await RawClient.ConnectAsync(server.EndPoint))
        {
            await check.SendAsync(Header(ProxyProtocolVersion.V2, null, null, ProxyCommand.Local));
            Assert.Empty(await check.ReadToEndAsync());
        }

        ServerStatus status = await WaitForAsync(server, s => s.ActiveSessions == 0);
        Assert.Equal(0, status.RefusalCount);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[2014]", StringComparison.Ordinal));
        Assert.DoesNotContain(server.Logs.Lines, line => line.StartsWith("Information", StringComparison.Ordinal) && line.Contains("Sockeye.Session", StringComparison.Ordinal));
    }

    [Fact]
    public async Task NoHeader_ASocksClientStraightToTheListener_IsClosedAfterItsFirstByte()
    {
        await using TestServer server = await StartAsync();
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync(Socks5Bytes.NoAuthGreeting);
            Assert.Empty(await client.ReadToEndAsync());
        }

        Refusal refusal = Assert.Single((await WaitForAsync(server, s => s.RefusalCount == 1)).RecentRefusals);
        Assert.Equal(RefusalKind.Protocol, refusal.Kind);
        Assert.Contains("does not start with a PROXY protocol header", refusal.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HeaderNeverFinished_IsClosedAtTheHandshakeTimeout_AndLoggedAtDebug()
    {
        await using TestServer server = await StartAsync(options => options.HandshakeTimeout = TimeSpan.FromMilliseconds(300));
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            byte[] header = Header(ProxyProtocolVersion.V2, Balanced, server.EndPoint);
            await client.SendAsync(header[..^1]);
            Assert.Empty(await client.ReadToEndAsync());
        }

        await WaitForAsync(server, s => s.ActiveSessions == 0);
        Assert.Contains(server.Logs.Lines, line => line.StartsWith("Debug", StringComparison.Ordinal) && line.Contains("ProxyHeader", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UntrustedSource_IsClosedUnheard_EvenWithAWellFormedHeader()
    {
        await using TestServer server = await StartAsync(trusted: "127.0.0.9");
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync([.. Header(ProxyProtocolVersion.V1, Balanced, server.EndPoint), .. Socks5Bytes.NoAuthGreeting]);
            Assert.Empty(await client.ReadToEndAsync());
        }

        Refusal refusal = Assert.Single((await WaitForAsync(server, s => s.RefusalCount == 1)).RecentRefusals);
        Assert.Equal("127.0.0.1", refusal.Client);
        Assert.Contains("trustedProxies", refusal.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoginBan_FollowsTheHeadersClient_NotTheBalancer()
    {
        await using TestServer server = await StartAsync(options =>
        {
            options.Users.Add(new SockeyeUser("alice", "secret"));
            options.Authentication.FailureDelay = TimeSpan.Zero;
            options.Authentication.MaxFailures = 1;
        });

        Assert.Equal(1, await LoginAsync(server, Balanced, "wrong"));
        Assert.Equal(1, await LoginAsync(server, Balanced, "secret"));

        // Another client behind the same balancer is not locked out with it.
        Assert.Equal(0, await LoginAsync(server, OtherClient, "secret"));
    }

    private static async Task<byte> LoginAsync(TestServer server, IPEndPoint client, string password)
    {
        using RawClient raw = await RawClient.ConnectAsync(server.EndPoint);
        await raw.SendAsync([.. Header(ProxyProtocolVersion.V2, client, server.EndPoint), .. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", password)]);
        byte[] reply = await raw.ReceiveExactlyAsync(4);
        return reply[3];
    }

    private static byte[] Header(ProxyProtocolVersion version, IPEndPoint? source, IPEndPoint? destination, ProxyCommand command = ProxyCommand.Proxy)
    {
        byte[] header = new byte[256];
        int length = ProxyHeader.Write(header, version, command, source, destination);
        return header[..length];
    }

    private static Task<TestServer> StartAsync(Action<SockeyeServerOptions>? configure = null, string trusted = "127.0.0.1") =>
        TestServer.StartAsync(options =>
        {
            var proxy = new ProxyProtocolOptions();
            proxy.TrustedProxies.Add(IPNetwork.Parse(trusted + "/32"));
            options.ProxyProtocol[options.Listeners[0]] = proxy;
            configure?.Invoke(options);
        });

    private static async Task<ServerStatus> WaitForAsync(TestServer server, Func<ServerStatus, bool> condition)
    {
        ServerStatus status = server.Server.GetStatus();
        for (int attempt = 0; attempt < 200 && !condition(status); attempt++)
        {
            await Task.Delay(25);
            status = server.Server.GetStatus();
        }

        Assert.True(condition(status), $"The status never showed what the test waited for: {status}");
        return status;
    }
}
