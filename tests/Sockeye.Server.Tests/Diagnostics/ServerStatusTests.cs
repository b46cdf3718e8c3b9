using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Status;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing;

namespace Sockeye.Server.Tests.Diagnostics;

/// <summary><see cref="SockeyeServer.GetStatus"/>: what the status page and <c>/status.json</c> show, and its bounds.</summary>
public sealed class ServerStatusTests
{
    [Fact]
    public async Task GetStatus_RuleDenial_IsARefusalNamingTheRuleAndTheDestination()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(options =>
        {
            var deny = new AccessRule { Action = AccessAction.Deny, Name = "no-target" };
            deny.Ports.Add(new PortRange(target.Port, target.Port));
            options.Rules.Add(deny);
            options.Rules.Add(new AccessRule { Action = AccessAction.Allow });
        });

        Assert.Equal(2, await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect(target.EndPoint)));

        ServerStatus status = await WaitForAsync(server, s => s.RefusalCount == 1);
        Refusal refusal = Assert.Single(status.RecentRefusals);
        Assert.Equal(RefusalKind.Rule, refusal.Kind);
        Assert.Equal("127.0.0.1", refusal.Client);
        Assert.Null(refusal.User);
        Assert.Equal($"CONNECT {target.EndPoint}: rule 'no-target'", refusal.Detail);
    }

    [Fact]
    public async Task GetStatus_NoAcceptableMethodAndOtherProtocols_AreRefusalsSayingWhy()
    {
        await using TestServer server = await TestServer.StartAsync(options => options.Users.Add(new SockeyeUser("alice", "secret")));
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync(Socks5Bytes.NoAuthGreeting);
            Assert.Equal(new byte[] { 5, 0xFF }, await client.ReceiveExactlyAsync(2));
        }

        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            // Origin-form: a request for a web server, not for a proxy.
            await client.SendAsync("GET / HTTP/1.1\r\n\r\n"u8.ToArray());
            Assert.StartsWith("HTTP/1.1 400 ", System.Text.Encoding.ASCII.GetString(await client.ReadToEndAsync()), StringComparison.Ordinal);
        }

        ServerStatus status = await WaitForAsync(server, s => s.RefusalCount == 2);
        Assert.Equal([RefusalKind.Protocol, RefusalKind.Method], status.RecentRefusals.Select(r => r.Kind));
        Assert.Contains("HTTP", status.RecentRefusals[0].Detail, StringComparison.Ordinal);
        Assert.Contains("USERNAME/PASSWORD (X'02') is required", status.RecentRefusals[1].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStatus_FailedLoginsThenTheBan_AreRefusalsOfEachKind()
    {
        await using TestServer server = await TestServer.StartAsync(options =>
        {
            options.Users.Add(new SockeyeUser("alice", "secret"));
            options.Authentication.FailureDelay = TimeSpan.Zero;
            options.Authentication.MaxFailures = 2;
        });

        for (int i = 0; i < 3; i++)
        {
            using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
            await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "wrong")]);
            Assert.Equal(new byte[] { 5, 2, 1, 1 }, await client.ReceiveExactlyAsync(4));
        }

        ServerStatus status = await WaitForAsync(server, s => s.RefusalCount == 3);
        Assert.Equal([RefusalKind.Ban, RefusalKind.Authentication, RefusalKind.Authentication], status.RecentRefusals.Select(r => r.Kind));
        Assert.All(status.RecentRefusals, refusal => Assert.Equal("alice", refusal.User));
        Assert.Contains("banned", status.RecentRefusals[0].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStatus_SessionCap_IsALimitRefusal()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(options => options.Limits.MaxSessions = 1);
        using RawClient tunnel = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket far = await target.AcceptAsync();

        Assert.Equal(1, await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect(target.EndPoint)));

        Refusal refusal = Assert.Single((await WaitForAsync(server, s => s.RefusalCount == 1)).RecentRefusals);
        Assert.Equal(RefusalKind.Limit, refusal.Kind);
        Assert.Contains("limits.maxSessions", refusal.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStatus_RefusalsAreARingOfTheLast64_NewestFirst_WithTheCountSinceStart()
    {
        await using TestServer server = await TestServer.StartAsync(options => options.Users.Add(new SockeyeUser("alice", "secret")));
        const int Refused = SessionAccounting.MaxRefusals + 16;
        for (int i = 0; i < Refused; i++)
        {
            using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
            await client.SendAsync(Socks5Bytes.NoAuthGreeting);
            Assert.Equal(new byte[] { 5, 0xFF }, await client.ReceiveExactlyAsync(2));
        }

        ServerStatus status = await WaitForAsync(server, s => s.RefusalCount == Refused);
        Assert.Equal(SessionAccounting.MaxRefusals, status.RecentRefusals.Count);
        for (int i = 1; i < status.RecentRefusals.Count; i++)
        {
            Assert.True(status.RecentRefusals[i - 1].Time >= status.RecentRefusals[i].Time);
        }
    }

    [Fact]
    public async Task GetStatus_ClientTable_HoldsAtMost1024AddressesAMinute_TheRestAddUpAsOthers()
    {
        // Every client from its own loopback address, each closing at once: more addresses than a minute's table holds.
        const int Clients = SessionAccounting.MaxClientsPerMinute + 60;
        // A clock that stands still: every session ends in the same minute.
        await using TestServer server = await TestServer.StartAsync(timeProvider: new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddHours(1)));
        for (int i = 0; i < Clients; i++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(new IPAddress([127, 10, (byte)(i >> 8), (byte)(i & 0xFF)]), 0));
            await socket.ConnectAsync(server.EndPoint).DefaultTimeout();
            await socket.SendAsync(new byte[] { 5, 1, 0 });
            byte[] reply = new byte[2];
            Assert.Equal(2, await socket.ReceiveAsync(reply).DefaultTimeout());
        }

        // The first 1024 addresses have their rows; the 60 after them are added up, none lost.
        ServerStatus status = await WaitForAsync(server, s => s.ActiveSessions == 0, topClients: 2 * Clients);
        Assert.Equal(SessionAccounting.MaxClientsPerMinute, status.TopClients.Count);
        Assert.All(status.TopClients, client => Assert.Equal(1, client.Sessions));
        Assert.Equal(Clients - SessionAccounting.MaxClientsPerMinute, status.OtherClients.Sessions);

        ServerStatus top = server.Server.GetStatus(topClients: 5);
        Assert.Equal(5, top.TopClients.Count);
    }

    [Fact]
    public async Task GetStatus_OpenTunnel_CountsByCommandAndPhase_AndItsBytesLive()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        using RawClient tunnel = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket far = await target.AcceptAsync();
        byte[] payload = TestData.RandomBytes(50_000, seed: 7);
        await tunnel.SendAsync(payload);
        Assert.Equal(payload, await far.ReceiveExactlyAsync(payload.Length));

        ServerStatus status = await WaitForAsync(server, s => s.BytesUp >= payload.Length);
        Assert.True(status.Ready);
        Assert.True(server.Server.IsReady);
        Assert.Equal(new SessionGroup("connect", "relaying", 1), Assert.Single(status.Sessions));
        Assert.Equal(1, status.ActiveSessions);
        Assert.Empty(status.Users);
        ClientActivity client = Assert.Single(status.TopClients);
        Assert.Equal(1, client.Active);

        // A throughput sample covers what was relayed since the one before.
        server.Server.SampleThroughput();
        ThroughputSample sample = Assert.Single(server.Server.GetStatus().Throughput);
        Assert.Equal(payload.Length / (long)SessionAccounting.ThroughputInterval.TotalSeconds, sample.UpBytesPerSecond);
        Assert.Equal(1, sample.ActiveSessions);
        server.Server.SampleThroughput();
        Assert.Equal(0, server.Server.GetStatus().Throughput[^1].UpBytesPerSecond);
    }

    [Fact]
    public async Task GetStatus_AfterStop_IsNotReadyAndDraining()
    {
        TestServer server = await TestServer.StartAsync();
        await server.Server.StopAsync();
        ServerStatus status = server.Server.GetStatus();
        Assert.False(status.Ready);
        Assert.True(status.Draining);
        Assert.All(status.Listeners, listener => Assert.False(listener.Accepting));
        Assert.False(server.Server.IsReady);
        await server.DisposeAsync();
    }

    /// <summary>Reads the status until <paramref name="condition"/> holds: at most 200 times, 25 ms apart.</summary>
    private static async Task<ServerStatus> WaitForAsync(TestServer server, Func<ServerStatus, bool> condition, int topClients = 20)
    {
        ServerStatus status = server.Server.GetStatus(topClients);
        for (int attempt = 0; attempt < 200 && !condition(status); attempt++)
        {
            await Task.Delay(25);
            status = server.Server.GetStatus(topClients);
        }

        Assert.True(condition(status), $"The status never showed what the test waited for: {status}");
        return status;
    }
}
