using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Sessions;

/// <summary>SOCKS4 and SOCKS4a on the same port as SOCKS5: the first byte chooses, and the replies are SOCKS4's.</summary>
public sealed class Socks4Tests
{
    [Fact]
    public async Task Connect_IPv4_GrantedWithCode90_AndRelaysBothWays()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Socks4Request(1, target.EndPoint, "someone"));
        byte[] reply = await client.ReceiveExactlyAsync(8);
        using Socket peer = await target.AcceptAsync();

        Assert.Equal(0, reply[0]);
        Assert.Equal(90, reply[1]);
        await AssertRelaysAsync(client.Socket, peer);
    }

    [Fact]
    public async Task Connect_Socks4aName_ResolvedByTheServer()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Socks4aRequest(1, "localhost", target.Port, ""));
        byte[] reply = await client.ReceiveExactlyAsync(8);
        using Socket peer = await target.AcceptAsync();

        Assert.Equal(90, reply[1]);
        await AssertRelaysAsync(client.Socket, peer);
    }

    [Fact]
    public async Task Connect_PipelinedPayload_ReachesTheTarget()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([.. Socks4Request(1, target.EndPoint, ""), .. "early bytes"u8.ToArray()]);
        byte[] reply = await client.ReceiveExactlyAsync(8);
        using Socket peer = await target.AcceptAsync();

        Assert.Equal(90, reply[1]);
        Assert.Equal("early bytes"u8.ToArray(), await peer.ReceiveExactlyAsync(11));
    }

    [Fact]
    public async Task Connect_Refused_Answers91_AndCloses()
    {
        await using TestServer server = await TestServer.StartAsync();
        var closed = new IPEndPoint(IPAddress.Loopback, RouteTestSupport.ClosedPort());
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Socks4Request(1, closed, ""));

        Assert.Equal([0, 91, 0, 0, 0, 0, 0, 0], await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Connect_DeniedByRule_Answers91()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Rules.Add(new AccessRule { Action = AccessAction.Deny }));
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Socks4Request(1, target.EndPoint, ""));

        Assert.Equal([0, 91, 0, 0, 0, 0, 0, 0], await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Bind_SendsTwoReplies_ThenRelays()
    {
        await using TestServer server = await TestServer.StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        // DSTIP is the host expected to connect: here, loopback.
        await client.SendAsync(Socks4Request(2, new IPEndPoint(IPAddress.Loopback, 0), ""));
        byte[] first = await client.ReceiveExactlyAsync(8);
        Assert.Equal(90, first[1]);
        int port = (first[2] << 8) | first[3];
        var announced = new IPAddress(first.AsSpan(4, 4));
        Assert.Equal(IPAddress.Loopback, announced);

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(new IPEndPoint(announced, port));
        byte[] second = await client.ReceiveExactlyAsync(8);

        Assert.Equal(90, second[1]);
        Assert.Equal(((IPEndPoint)peer.LocalEndPoint!).Port, (second[2] << 8) | second[3]);
        await AssertRelaysAsync(client.Socket, peer);
    }

    [Fact]
    public async Task UsersConfigured_NotAllowedForSocks4_Answers91()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("alice", "secret")));
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Socks4Request(1, target.EndPoint, "alice"));

        Assert.Equal([0, 91, 0, 0, 0, 0, 0, 0], await client.ReadToEndAsync());
        Assert.Contains(server.Logs.Lines, line => line.Contains("not in socks4.allowWithUsers", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("alice", "alice", 90)]
    [InlineData("*", "alice", 90)]
    [InlineData("alice", "bob", 91)]      // bob is an account, but not one SOCKS4 may use.
    [InlineData("*", "mallory", 91)]      // No such account.
    [InlineData("*", "", 91)]             // No USERID at all.
    public async Task UsersConfigured_AllowWithUsers_DecidesByUserId(string allowed, string userId, int expected)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Users.Add(new SockeyeUser("bob", "secret"));
            o.Socks4.AllowWithUsers.Add(allowed);
        });
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Socks4Request(1, target.EndPoint, userId));
        byte[] reply = await client.ReceiveExactlyAsync(8);

        Assert.Equal(expected, reply[1]);
    }

    [Fact]
    public async Task AddressBannedForFailedLogins_RefusedOverSocks4Too()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Socks4.AllowWithUsers.Add("alice");
            o.Authentication.MaxFailures = 1;
            o.Authentication.FailureDelay = TimeSpan.Zero;
        });
        using var target = new TcpTarget();
        using (RawClient guesser = await RawClient.ConnectAsync(server.EndPoint))
        {
            await guesser.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "wrong")]);
            Assert.Equal([5, 2, 1, 1], await guesser.ReceiveExactlyAsync(4));
        }

        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync(Socks4Request(1, target.EndPoint, "alice"));

        Assert.Equal([0, 91, 0, 0, 0, 0, 0, 0], await client.ReadToEndAsync());
    }

    [Fact]
    public async Task UserFromUserId_IsTheRulesUser()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Socks4.AllowWithUsers.Add("*");
            var onlyAlice = new AccessRule { Action = AccessAction.Allow };
            onlyAlice.Users.Add("alice");
            o.Rules.Add(onlyAlice);
        });
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Socks4Request(1, target.EndPoint, "alice"));

        Assert.Equal(90, (await client.ReceiveExactlyAsync(8))[1]);
    }

    [Theory]
    [InlineData(new byte[] { 4, 9, 0, 80, 127, 0, 0, 1, 0 })]           // CD 9: no such command.
    [InlineData(new byte[] { 4, 1, 0, 80, 0, 0, 0, 1, 0, 0 })]          // SOCKS4a with an empty name.
    [InlineData(new byte[] { 4, 1, 0, 80, 127, 0, 0, 1, 0xC3, 0x28, 0 })] // USERID that is not UTF-8.
    public async Task Malformed_Answers91_AndCloses(byte[] request)
    {
        await using TestServer server = await TestServer.StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(request);

        Assert.Equal([0, 91, 0, 0, 0, 0, 0, 0], await client.ReadToEndAsync());
    }

    [Fact]
    public async Task UserIdPastItsBound_Answers91_WithoutWaitingForTheNul()
    {
        await using TestServer server = await TestServer.StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([4, 1, 0, 80, 127, 0, 0, 1, .. Enumerable.Repeat((byte)'a', 300)]);

        Assert.Equal([0, 91, 0, 0, 0, 0, 0, 0], await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Socks4SwitchedOff_Answers91_AndSocks5StillWorks()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Protocols[o.Listeners[0]] = ListenerProtocols.Socks5);
        using var target = new TcpTarget();
        using (RawClient socks4 = await RawClient.ConnectAsync(server.EndPoint))
        {
            await socks4.SendAsync(Socks4Request(1, target.EndPoint, ""));
            Assert.Equal([0, 91, 0, 0, 0, 0, 0, 0], await socks4.ReadToEndAsync());
        }

        using RawClient socks5 = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        Assert.Contains(server.Logs.Lines, line => line.Contains("SOCKS4 is not spoken on this listener", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Socks5SwitchedOff_AnswersNoAcceptableMethod()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Protocols[o.Listeners[0]] = ListenerProtocols.Socks4);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Socks5Bytes.NoAuthGreeting);

        Assert.Equal([5, 0xFF], await client.ReadToEndAsync());
    }

    internal static byte[] Socks4Request(byte command, IPEndPoint destination, string userId) =>
        [4, command, (byte)(destination.Port >> 8), (byte)destination.Port, .. destination.Address.GetAddressBytes(), .. Encoding.UTF8.GetBytes(userId), 0];

    internal static byte[] Socks4aRequest(byte command, string host, int port, string userId) =>
        [4, command, (byte)(port >> 8), (byte)port, 0, 0, 0, 1, .. Encoding.UTF8.GetBytes(userId), 0, .. Encoding.UTF8.GetBytes(host), 0];

    private static async Task AssertRelaysAsync(Socket client, Socket peer)
    {
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await peer.ReceiveExactlyAsync(4));
        await peer.SendAsync("pong"u8.ToArray());
        Assert.Equal("pong"u8.ToArray(), await client.ReceiveExactlyAsync(4));
    }
}
