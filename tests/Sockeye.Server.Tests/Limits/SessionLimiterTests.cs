using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Limits;

public sealed class SessionLimiterTests
{
    [Fact]
    public async Task HandshakeFlood_TwoThousandIdleConnections_WellBehavedClientStillServed()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxHandshakes = 100);
        using var target = new TcpTarget();
        var idle = new List<Socket>();
        try
        {
            for (int i = 0; i < 2000; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                idle.Add(socket);
                await socket.ConnectAsync(server.EndPoint).DefaultTimeout();
            }

            // The flood fills the cap many times over; a client that speaks at once is still served.
            using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
            using Socket accepted = await target.AcceptAsync();
            await client.SendAsync("served"u8.ToArray());
            byte[] buffer = new byte[6];
            Assert.Equal(6, await accepted.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout());

            (_, long evicted) = server.Server.LimitStatistics;
            Assert.True(evicted >= 1800, $"only {evicted} idle handshakes were evicted");

            // Evicted sessions finish closing on the thread pool; then only the cap's worth (and our tunnel) remain.
            await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount <= 101);
        }
        finally
        {
            foreach (Socket socket in idle)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task MaxSessions_ThirdTunnelRefusedWithGeneralFailure_ThenServedAfterOneCloses()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxSessions = 2);
        using var target = new TcpTarget();
        RawClient first = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        Socket firstTarget = await target.AcceptAsync();
        using RawClient second = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);

        Assert.Equal(1, await RequestAsync(server.EndPoint, target.EndPoint));
        Assert.Equal(1, server.Server.LimitStatistics.RejectedSessions);

        // Both ends close, so the first tunnel ends (a half-closed one would still count).
        first.Dispose();
        firstTarget.Dispose();
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 1);
        using RawClient third = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
    }

    [Fact]
    public async Task MaxSessionsPerClientAddress_SecondFromSameAddressRefused_OtherAddressServed()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxSessionsPerClientAddress = 1);
        using var target = new TcpTarget();
        using RawClient first = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);

        Assert.Equal(1, await RequestAsync(server.EndPoint, target.EndPoint));
        Assert.Equal(0, await RequestAsync(server.EndPoint, target.EndPoint, from: IPAddress.Parse("127.0.0.2")));
    }

    [Fact]
    public async Task MaxSessionsPerUser_SecondForSameUserRefused_OtherUserServed()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxSessionsPerUser = 1;
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Users.Add(new SockeyeUser("bob", "hunter2"));
        });
        using var target = new TcpTarget();
        using RawClient alice = await RawClient.ConnectAsync(server.EndPoint);
        await alice.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret"), .. Socks5Bytes.Connect(target.EndPoint)]);
        await alice.ReceiveExactlyAsync(4);
        Assert.Equal(0, (await alice.ReceiveReplyAsync())[1]);

        Assert.Equal(1, await RequestAsync(server.EndPoint, target.EndPoint, user: ("alice", "secret")));
        Assert.Equal(0, await RequestAsync(server.EndPoint, target.EndPoint, user: ("bob", "hunter2")));
    }

    /// <summary>Makes one CONNECT and returns REP (the tunnel is dropped right after).</summary>
    private static async Task<byte> RequestAsync(IPEndPoint server, IPEndPoint destination, IPAddress? from = null, (string Name, string Password)? user = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (from is not null)
        {
            socket.Bind(new IPEndPoint(from, 0));
        }

        await socket.ConnectAsync(server).DefaultTimeout();
        using RawClient client = RawClient.Wrap(socket);
        byte[] hello = user is { } u
            ? [.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(u.Name, u.Password)]
            : Socks5Bytes.NoAuthGreeting;
        await client.SendAsync([.. hello, .. Socks5Bytes.Connect(destination)]);
        await client.ReceiveExactlyAsync(user is null ? 2 : 4);
        return (await client.ReceiveReplyAsync())[1];
    }

    [Fact]
    public void Reconfigure_CapsSetWhileSessionsAreOpen_CountThemNewOnesRefusedUntilEnoughEnd()
    {
        var limiter = new SessionLimiter(new LimitsOptions());
        IPAddress client = IPAddress.Parse("192.0.2.1");
        for (int i = 0; i < 3; i++)
        {
            Assert.True(limiter.TryAcquire(client, "alice", DescriptorBudget.TunnelDescriptors, out _));
        }

        // Opened without a cap, the three still count against the caps a reload sets; none of them is closed.
        limiter.Reconfigure(new LimitsOptions { MaxSessionsPerClientAddress = 2, MaxSessionsPerUser = 3 });
        Assert.False(limiter.TryAcquire(client, null, DescriptorBudget.TunnelDescriptors, out _));
        Assert.False(limiter.TryAcquire(IPAddress.Parse("192.0.2.2"), "alice", DescriptorBudget.TunnelDescriptors, out _));
        Assert.True(limiter.TryAcquire(IPAddress.Parse("192.0.2.2"), "bob", DescriptorBudget.TunnelDescriptors, out _));

        limiter.Release(client, "alice", DescriptorBudget.TunnelDescriptors);
        Assert.False(limiter.TryAcquire(client, null, DescriptorBudget.TunnelDescriptors, out _));
        limiter.Release(client, "alice", DescriptorBudget.TunnelDescriptors);
        Assert.True(limiter.TryAcquire(client, null, DescriptorBudget.TunnelDescriptors, out _));
        Assert.Equal(3, limiter.RejectedSessions);
    }
}
