using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing;

namespace Sockeye.Server.Tests.Sessions;

/// <summary><see cref="SockeyeServer.Reload"/>: new users and rules for new sessions, open tunnels untouched.</summary>
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

    private static SockeyeServerOptions WithUser(SockeyeServerOptions options, string name, string password)
    {
        SockeyeServerOptions copy = Copy(options);
        copy.Users.Add(new SockeyeUser(name, password));
        return copy;
    }

    /// <summary>The running server's listeners, with no users and no rules: what a reload starts from here.</summary>
    private static SockeyeServerOptions Copy(SockeyeServerOptions options)
    {
        var copy = new SockeyeServerOptions();
        foreach (System.Net.IPEndPoint listener in options.Listeners)
        {
            copy.Listeners.Add(listener);
        }

        return copy;
    }
}
