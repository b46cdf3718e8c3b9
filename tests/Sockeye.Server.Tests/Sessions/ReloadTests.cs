using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Configuration;
using Sockeye.Server.Listening;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing;

namespace Sockeye.Server.Tests.Sessions;

/// <summary>
/// <see cref="SockeyeServer.Reload"/>: new users, rules, limits, timeouts and listeners for new sessions, open tunnels
/// untouched; a reload that cannot be carried out changes nothing.
/// </summary>
public sealed class ReloadTests
{
    [Fact]
    public async Task Reload_UserAdded_NewSessionsMustAuthenticate_OpenTunnelKeepsRelaying()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        using RawClient before = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket far = await target.AcceptAsync();

        server.Server.Reload(WithUser(server.Options, "alice", "secret"));

        // Anonymous clients are now refused at negotiation.
        using (RawClient anonymous = await RawClient.ConnectAsync(server.EndPoint))
        {
            await anonymous.SendAsync(Socks5Bytes.NoAuthGreeting);
            Assert.Equal(new byte[] { 5, 0xFF }, await anonymous.ReceiveExactlyAsync(2));
        }

        // The new account works.
        using (RawClient alice = await RawClient.ConnectAsync(server.EndPoint))
        {
            await alice.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret"), .. Socks5Bytes.Connect(target.EndPoint)]);
            Assert.Equal(new byte[] { 5, 2, 1, 0 }, await alice.ReceiveExactlyAsync(4));
            Assert.Equal(0, (await alice.ReceiveReplyAsync())[1]);
            using Socket aliceFar = await target.AcceptAsync();
        }

        // The tunnel opened before the reload still relays both ways.
        await before.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await far.ReceiveExactlyAsync(4));
        await far.SendAsync("pong"u8.ToArray(), SocketFlags.None);
        Assert.Equal("pong"u8.ToArray(), await before.ReceiveExactlyAsync(4));
        Assert.Contains(server.Logs.Lines, line => line.Contains("[1010]", StringComparison.Ordinal) && line.Contains("1 user(s)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reload_RuleDeniesDestination_NewConnectGets02_OpenTunnelUnaffected()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        using RawClient before = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket far = await target.AcceptAsync();

        SockeyeServerOptions reloaded = Copy(server.Options);
        var deny = new AccessRule { Action = AccessAction.Deny };
        deny.Ports.Add(new PortRange(target.Port, target.Port));
        reloaded.Rules.Add(deny);
        reloaded.Rules.Add(new AccessRule { Action = AccessAction.Allow });
        server.Server.Reload(reloaded);

        Assert.Equal(2, await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect(target.EndPoint)));
        await before.SendAsync("still"u8.ToArray());
        Assert.Equal("still"u8.ToArray(), await far.ReceiveExactlyAsync(5));
    }

    [Fact]
    public async Task Reload_InvalidOptions_ThrowsNamingTheProblem_UsersAndRulesInForceUnchanged()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        SockeyeServerOptions invalid = WithUser(server.Options, "alice", "secret");
        invalid.Users.Add(new SockeyeUser("alice", "other"));

        OptionsValidationException e = Assert.Throws<OptionsValidationException>(() => server.Server.Reload(invalid));

        Assert.Contains(e.Failures, failure => failure.Contains("'alice' is configured twice", StringComparison.Ordinal));
        Assert.Equal(0, await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect(target.EndPoint)));
        Assert.DoesNotContain(server.Logs.Lines, line => line.Contains("[1010]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reload_UserRemoved_TheirNextLoginFails()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Users.Add(new SockeyeUser("bob", "hunter2"));
        });
        SockeyeServerOptions reloaded = Copy(server.Options);
        reloaded.Users.Add(new SockeyeUser("bob", "hunter2"));

        server.Server.Reload(reloaded);

        using RawClient alice = await RawClient.ConnectAsync(server.EndPoint);
        await alice.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret")]);
        Assert.Equal(new byte[] { 5, 2, 1, 1 }, await alice.ReceiveExactlyAsync(4));
    }

    [Fact]
    public async Task Reload_MaxSessionsLowered_NewRequestRefused_TunnelsOpenedBeforeKeepRelayingAndStillCount()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxSessions = 3);
        using RawClient first = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket firstFar = await target.AcceptAsync();
        RawClient second = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        Socket secondFar = await target.AcceptAsync();

        SockeyeServerOptions lowered = Copy(server.Options);
        lowered.Limits.MaxSessions = 1;
        ServerReloadResult result = server.Server.Reload(lowered);

        Assert.Equal(["limits.maxSessions"], result.Applied);
        Assert.Equal(1, await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect(target.EndPoint)));
        await AssertRelaysBothWaysAsync(first, firstFar);
        await AssertRelaysBothWaysAsync(second, secondFar);

        // The two tunnels opened before count against the new cap: with one of them left, still none is admitted.
        second.Dispose();
        secondFar.Dispose();
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 1);
        Assert.Equal(1, await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect(target.EndPoint)));
        await AssertRelaysBothWaysAsync(first, firstFar);
        Assert.Equal(2, server.Server.LimitStatistics.RejectedSessions);
    }

    [Fact]
    public async Task Reload_PerAddressCapSetWhereThereWasNone_CountsTheTunnelAlreadyOpen()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        using RawClient before = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket far = await target.AcceptAsync();

        SockeyeServerOptions capped = Copy(server.Options);
        capped.Limits.MaxSessionsPerClientAddress = 1;
        server.Server.Reload(capped);

        Assert.Equal(1, await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect(target.EndPoint)));
        await AssertRelaysBothWaysAsync(before, far);
    }

    [Fact]
    public async Task Reload_ListenerReplaced_NewOneServes_OldOneRefuses_ItsTunnelKeepsRelayingUntilClosed()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        IPEndPoint old = server.EndPoint;
        RawClient before = await RawClient.OpenTunnelAsync(old, target.EndPoint);
        Socket far = await target.AcceptAsync();

        SockeyeServerOptions moved = Copy(server.Options);
        moved.Listeners.Clear();
        moved.Listeners.Add(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        ServerReloadResult result = server.Server.Reload(moved);

        IPEndPoint opened = Assert.Single(result.ListenersOpened);
        Assert.Equal(old, Assert.Single(result.ListenersStopped));
        Assert.Equal([opened], server.Server.LocalEndPoints);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), opened.Address);
        Assert.Contains("listeners", result.Applied);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[1001]", StringComparison.Ordinal) && line.Contains(opened.ToString(), StringComparison.Ordinal));

        // The new listener serves a CONNECT.
        using (RawClient client = await RawClient.OpenTunnelAsync(opened, target.EndPoint))
        using (Socket newFar = await target.AcceptAsync())
        {
            await AssertRelaysBothWaysAsync(client, newFar);
        }

        // The old one refuses: its socket is closed (on the Linux engine, by its event loop just after the reload).
        await AssertRefusesConnectionsAsync(old);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[1017]", StringComparison.Ordinal) && line.Contains(old.ToString(), StringComparison.Ordinal));

        // The tunnel it accepted before goes on, and ends when its client and target leave.
        await AssertRelaysBothWaysAsync(before, far);
        before.Dispose();
        far.Dispose();
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
    }

    [Fact]
    public async Task Reload_SameOptions_ReopensNothing_ChangesNothing()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        IReadOnlyList<IPEndPoint> endPoints = server.Server.LocalEndPoints;
        Assert.Equal(1, CountLines(server, "[1001]"));

        ServerReloadResult result = server.Server.Reload(Copy(server.Options));

        Assert.Equal(endPoints, server.Server.LocalEndPoints);
        Assert.Empty(result.ListenersOpened);
        Assert.Empty(result.ListenersStopped);
        Assert.Empty(result.Applied);
        Assert.Empty(result.NeedsRestart);
        Assert.Equal(1, CountLines(server, "[1001]"));
        Assert.Contains(server.Logs.Lines, line => line.Contains("[1010]", StringComparison.Ordinal) && line.Contains("settings: none", StringComparison.Ordinal));
        Assert.Equal(0, await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect(target.EndPoint)));
    }

    [Fact]
    public async Task Reload_ListenerPortInUse_ThrowsAndChangesNothing_NotEvenUsersOrLimits()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        using var occupied = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        occupied.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        occupied.Listen();
        IReadOnlyList<IPEndPoint> endPoints = server.Server.LocalEndPoints;
        int listening = CountLines(server, "[1001]");

        // A listener that opens, then one that cannot: the first is closed again, and nothing else is applied.
        SockeyeServerOptions failing = WithUser(server.Options, "alice", "secret");
        failing.Listeners.Add(new IPEndPoint(IPAddress.Parse("127.0.0.3"), 0));
        failing.Listeners.Add((IPEndPoint)occupied.LocalEndPoint!);
        failing.Limits.MaxSessions = 1;
        failing.HandshakeTimeout = TimeSpan.FromSeconds(1);

        SockeyeListenException e = Assert.Throws<SockeyeListenException>(() => server.Server.Reload(failing));

        Assert.Equal(occupied.LocalEndPoint, e.EndPoint);
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketError);
        Assert.Equal(endPoints, server.Server.LocalEndPoints);
        Assert.Equal(listening, CountLines(server, "[1001]"));
        Assert.Equal(0, CountLines(server, "[1010]"));

        // Anonymous clients are still served, two at once: neither the user nor the cap of the failed reload applies.
        using RawClient first = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket firstFar = await target.AcceptAsync();
        using RawClient second = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket secondFar = await target.AcceptAsync();
        await AssertRelaysBothWaysAsync(second, secondFar);
    }

    [Fact]
    public async Task Reload_HandshakeTimeoutShortened_AppliesToNewHandshakes_NotToOneStartedBefore()
    {
        var time = new FakeTimeProvider();
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.FromHours(1);
            o.IdleTimeout = TimeSpan.Zero;
        }, timeProvider: time);
        using RawClient old = await RawClient.ConnectAsync(server.EndPoint);
        await old.SendAsync([5, 1]);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 1);

        SockeyeServerOptions shortened = Copy(server.Options);
        shortened.HandshakeTimeout = TimeSpan.FromSeconds(10);
        shortened.IdleTimeout = TimeSpan.Zero;
        server.Server.Reload(shortened);
        using RawClient fresh = await RawClient.ConnectAsync(server.EndPoint);
        await fresh.SendAsync([5, 1]);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 2);

        // Past the new timeout (the sweep runs each simulated second), well within the old one.
        for (int second = 0; second < 12; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Empty(await fresh.ReadToEndAsync());

        // The handshake that started before the reload is still open, and completes.
        await old.SendAsync([0, .. Socks5Bytes.Connect(target.EndPoint)]);
        Assert.Equal(new byte[] { 5, 0 }, await old.ReceiveExactlyAsync(2));
        Assert.Equal(0, (await old.ReceiveReplyAsync())[1]);
        using Socket far = await target.AcceptAsync();
    }

    [Fact]
    public async Task Reload_RestartOnlySettingChanged_KeepsItsValue_WarnsNamingIt()
    {
        using var target = new TcpTarget();
        await using TestServer server = await TestServer.StartAsync();
        SockeyeServerOptions changed = Copy(server.Options);
        changed.RelayBufferBytes = 16 * 1024;
        changed.ConnectTimeout = TimeSpan.FromSeconds(5);

        ServerReloadResult result = server.Server.Reload(changed);

        Assert.Equal(["relayBufferBytes"], result.NeedsRestart);
        Assert.Equal(["connectTimeout"], result.Applied);
        string warning = Assert.Single(server.Logs.Lines, line => line.Contains("[1018]", StringComparison.Ordinal));
        Assert.Contains("relayBufferBytes changed to 16384", warning, StringComparison.Ordinal);
        Assert.Contains("keeps 65536", warning, StringComparison.Ordinal);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[1010]", StringComparison.Ordinal) && line.Contains("settings: connectTimeout", StringComparison.Ordinal));

        // Asked again, it is still not in force, and says so again.
        Assert.Equal(["relayBufferBytes"], server.Server.Reload(changed).NeedsRestart);
        Assert.Equal(2, CountLines(server, "[1018]"));
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket far = await target.AcceptAsync();
        await AssertRelaysBothWaysAsync(client, far);
    }

    [Fact]
    public async Task Reload_BeforeStart_TheServerStartsWithTheReloadedListeners()
    {
        var options = new SockeyeServerOptions { ShutdownTimeout = TimeSpan.FromSeconds(1) };
        options.Listeners.Add(new IPEndPoint(IPAddress.Loopback, 0));
        await using var server = new SockeyeServer(options);
        var reloaded = new SockeyeServerOptions { ShutdownTimeout = TimeSpan.FromSeconds(1) };
        reloaded.Listeners.Add(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));

        ServerReloadResult result = server.Reload(reloaded);
        await server.StartAsync();

        Assert.Equal(["listeners"], result.Applied);
        Assert.Empty(result.ListenersOpened);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), Assert.Single(server.LocalEndPoints).Address);
    }

    [Fact]
    public async Task Reload_AfterStop_ChangesNothing()
    {
        TestServer server = await TestServer.StartAsync();
        await server.DisposeAsync();
        SockeyeServerOptions moved = WithUser(server.Options, "alice", "secret");
        moved.Listeners.Add(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));

        ServerReloadResult result = server.Server.Reload(moved);

        Assert.Empty(result.Applied);
        Assert.Empty(result.ListenersOpened);
        Assert.Equal(0, CountLines(server, "[1010]"));
    }

    /// <summary>Connects to <paramref name="endPoint"/> until refused, for a listener whose socket closes just after the call that stopped it.</summary>
    private static async Task AssertRefusesConnectionsAsync(IPEndPoint endPoint)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(endPoint).DefaultTimeout();
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                return;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"{endPoint} still accepts connections.");
    }

    private static SockeyeServerOptions WithUser(SockeyeServerOptions options, string name, string password)
    {
        SockeyeServerOptions copy = Copy(options);
        copy.Users.Add(new SockeyeUser(name, password));
        return copy;
    }

    /// <summary>
    /// The running server's listeners, and the settings <see cref="TestServer"/> chose (shutdown timeout, engine), with
    /// no users and no rules: what a reload starts from here.
    /// </summary>
    private static SockeyeServerOptions Copy(SockeyeServerOptions options)
    {
        var copy = new SockeyeServerOptions { ShutdownTimeout = options.ShutdownTimeout, RelayEngine = options.RelayEngine };
        foreach (IPEndPoint listener in options.Listeners)
        {
            copy.Listeners.Add(listener);
        }

        return copy;
    }

    /// <summary>Asserts that a tunnel relays both ways: <paramref name="client"/> to <paramref name="far"/> and back.</summary>
    private static async Task AssertRelaysBothWaysAsync(RawClient client, Socket far)
    {
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await far.ReceiveExactlyAsync(4));
        await far.SendAsync("pong"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        Assert.Equal("pong"u8.ToArray(), await client.ReceiveExactlyAsync(4));
    }

    private static int CountLines(TestServer server, string eventId) =>
        server.Logs.Lines.Count(line => line.Contains(eventId, StringComparison.Ordinal));
}
