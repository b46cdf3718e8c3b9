using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Sessions;

public sealed class ProxySessionTests
{
    private static void WithAlice(SockeyeServerOptions options) => options.Users.Add(new SockeyeUser("alice", "secret"));

    [Fact]
    public async Task Connect_NoAuth_RepliesSuccessWithOutboundLocalEndPoint()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Socks5Bytes.NoAuthGreeting);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
        byte[] reply = await client.ReceiveReplyAsync();
        using Socket accepted = await target.AcceptAsync();

        Assert.Equal(new byte[] { 5, 0, 0, 1 }, reply[..4]);
        Assert.Equal(accepted.RemoteEndPoint, Socks5Bytes.BoundEndPoint(reply));
    }

    [Fact]
    public async Task Connect_WholeHandshakeAndPayloadInOneWrite_NoByteLost()
    {
        await using TestServer server = await TestServer.StartAsync(WithAlice);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        byte[] payload = "GET / HTTP/1.0\r\n\r\n"u8.ToArray();

        await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret"), .. Socks5Bytes.Connect(target.EndPoint), .. payload]);
        using Socket accepted = await target.AcceptAsync();
        byte[] received = new byte[payload.Length];
        int offset = 0;
        while (offset < received.Length)
        {
            int read = await accepted.ReceiveAsync(received.AsMemory(offset), SocketFlags.None).DefaultTimeout();
            Assert.NotEqual(0, read);
            offset += read;
        }

        Assert.Equal(payload, received);
        Assert.Equal(new byte[] { 5, 2, 1, 0 }, await client.ReceiveExactlyAsync(4));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
    }

    [Fact]
    public async Task Connect_NoAuthPipelinedWithPayload_PayloadArrivesFirst()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(target.EndPoint), 1, 2, 3]);
        using Socket accepted = await target.AcceptAsync();
        byte[] received = new byte[3];
        Assert.Equal(3, await accepted.ReceiveAsync(received, SocketFlags.None).DefaultTimeout());
        Assert.Equal(new byte[] { 1, 2, 3 }, received);
    }

    [Fact]
    public async Task Authentication_CorrectPassword_Succeeds()
    {
        await using TestServer server = await TestServer.StartAsync(WithAlice);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([5, 2, 0, 2]);
        Assert.Equal(new byte[] { 5, 2 }, await client.ReceiveExactlyAsync(2));
        await client.SendAsync(Socks5Bytes.Credentials("alice", "secret"));
        Assert.Equal(new byte[] { 1, 0 }, await client.ReceiveExactlyAsync(2));
        await client.SendAsync(Socks5Bytes.Connect(target.EndPoint));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
    }

    [Theory]
    [InlineData("alice", "wrong")]
    [InlineData("alice", "secretx")]
    [InlineData("alice", "s")]
    [InlineData("mallory", "secret")]
    public async Task Authentication_WrongCredentials_RepliesFailureAndCloses(string user, string password)
    {
        await using TestServer server = await TestServer.StartAsync(WithAlice);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(user, password)]);

        Assert.Equal(new byte[] { 5, 2, 1, 1 }, await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Greeting_OnlyUsernamePasswordOfferedButNoUsers_NoAcceptableMethod()
    {
        await using TestServer server = await TestServer.StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(Socks5Bytes.PasswordGreeting);

        Assert.Equal(new byte[] { 5, 0xFF }, await client.ReadToEndAsync());
    }

    [Theory]
    [InlineData(new byte[] { 5, 1, 0 })]
    [InlineData(new byte[] { 5, 3, 0, 1, 0x80 })]
    public async Task Greeting_UsersConfiguredButNoPasswordMethodOffered_NoAcceptableMethod(byte[] greeting)
    {
        await using TestServer server = await TestServer.StartAsync(WithAlice);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(greeting);

        Assert.Equal(new byte[] { 5, 0xFF }, await client.ReadToEndAsync());
    }

    [Fact]
    public async Task Greeting_NoMethods_RepliesNoAcceptableMethodAndCloses()
    {
        await using TestServer server = await TestServer.StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([5, 0]);

        Assert.Equal(new byte[] { 5, 0xFF }, await client.ReadToEndAsync());
    }

    [Theory]
    [InlineData(new byte[] { 0x16, 3, 1, 0, 0xA5 })] // a TLS ClientHello
    [InlineData(new byte[] { 1, 1, 0 })]
    [InlineData(new byte[] { 0xFF })]
    public async Task Greeting_NotSocks5_OnASocks5OnlyListener_ClosesWithoutReply(byte[] garbage)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Protocols[o.Listeners[0]] = ListenerProtocols.Socks5);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(garbage);

        Assert.Empty(await client.ReadToEndAsync());
    }

    [Theory]
    [InlineData(new byte[] { 2, 5, 0x61, 0x6C, 0x69, 0x63, 0x65, 1, 0x78 })] // wrong subnegotiation version
    [InlineData(new byte[] { 1, 0, 1, 0x78 })] // ULEN = 0
    [InlineData(new byte[] { 1, 5, 0x61, 0x6C, 0x69, 0x63, 0x65, 0 })] // PLEN = 0
    public async Task Authentication_Malformed_RepliesFailureAndCloses(byte[] request)
    {
        await using TestServer server = await TestServer.StartAsync(WithAlice);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. request]);

        Assert.Equal(new byte[] { 5, 2, 1, 1 }, await client.ReadToEndAsync());
    }

    [Theory]
    [InlineData(new byte[] { 5, 9, 0, 1, 127, 0, 0, 1, 0, 80 }, 7)] // unknown command
    [InlineData(new byte[] { 5, 0, 0, 1, 127, 0, 0, 1, 0, 80 }, 7)] // command zero
    [InlineData(new byte[] { 5, 1, 0, 2, 127, 0, 0, 1, 0, 80 }, 8)] // unknown address type
    [InlineData(new byte[] { 5, 1, 0, 9 }, 8)] // unknown address type, nothing after it
    [InlineData(new byte[] { 5, 1, 0, 3, 0, 0, 80 }, 1)] // zero-length domain
    [InlineData(new byte[] { 5, 1, 0, 3, 3, 0x61, 0, 0x62, 0, 80 }, 1)] // NUL inside the domain
    [InlineData(new byte[] { 4, 1, 0, 1, 127, 0, 0, 1, 0, 80 }, 1)] // wrong version in the request
    public async Task Request_Malformed_RepliesCodeAndCloses(byte[] request, byte expectedCode)
    {
        await using TestServer server = await TestServer.StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. request]);

        byte[] all = await client.ReadToEndAsync();
        Assert.Equal(new byte[] { 5, 0, 5, expectedCode, 0, 1, 0, 0, 0, 0, 0, 0 }, all);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 5 })]
    [InlineData(new byte[] { 5, 2, 0 })]
    [InlineData(new byte[] { 5, 1, 0, 5, 1, 0, 3, 10, 0x61 })]
    public async Task Handshake_ClientStallsMidway_ClosedAfterHandshakeTimeout(byte[] partial)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromMilliseconds(300));
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        if (partial.Length > 0)
        {
            await client.SendAsync(partial);
        }

        // Whatever replies the complete messages earned, then the close; ReadToEndAsync is bounded by the default timeout.
        byte[] all = await client.ReadToEndAsync();
        Assert.True(all.Length <= 2, Convert.ToHexString(all));
        Assert.Equal(0, server.Server.ActiveSessionCount > 0 ? await WaitForNoSessionsAsync(server) : 0);
    }

    [Fact]
    public async Task Handshake_Stalled_ClosedByTheSweepBetweenOneAndOneAndAQuarterTimeouts()
    {
        // 10 s: the registry sweeps once a second, so the close comes in the second after the timeout, never before it.
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.FromSeconds(10);
            o.IdleTimeout = TimeSpan.Zero;
        }, timeProvider: time);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([5, 1]);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 1);

        for (int second = 1; second < 10; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
        }

        await Task.Delay(100);
        Assert.Equal(1, server.Server.ActiveSessionCount);

        time.Advance(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(await client.ReadToEndAsync());
        await SocketTestExtensions.WaitUntilAsync(() => server.Logs.Lines.Any(l => l.Contains("handshake timed out in Greeting", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Handshake_ClientSlowButWithinTimeout_IsServed()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        // One byte at a time: every parser must wait for more rather than fail.
        foreach (byte b in (byte[])[.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(target.EndPoint)])
        {
            await client.SendAsync([b]);
        }

        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
    }

    [Fact]
    public async Task Authentication_RepeatedFailures_AddressBannedWhileOthersStillLogIn()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            WithAlice(o);
            o.Authentication.FailureDelay = TimeSpan.FromMilliseconds(1);
            o.Authentication.MaxFailures = 3;
        });
        using var target = new TcpTarget();
        for (int i = 0; i < 3; i++)
        {
            using RawClient guesser = await RawClient.ConnectAsync(server.EndPoint);
            await guesser.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", $"guess{i}")]);
            Assert.Equal(new byte[] { 5, 2, 1, 1 }, await guesser.ReadToEndAsync());
        }

        // Banned: even the right password fails from 127.0.0.1, without being checked ...
        using (RawClient banned = await RawClient.ConnectAsync(server.EndPoint))
        {
            await banned.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret")]);
            Assert.Equal(new byte[] { 5, 2, 1, 1 }, await banned.ReadToEndAsync());
        }

        // ... while a client from another address logs in as usual.
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        await socket.ConnectAsync(server.EndPoint).DefaultTimeout();
        using RawClient other = RawClient.Wrap(socket);
        await other.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", "secret"), .. Socks5Bytes.Connect(target.EndPoint)]);
        Assert.Equal(new byte[] { 5, 2, 1, 0 }, await other.ReceiveExactlyAsync(4));
        Assert.Equal(0, (await other.ReceiveReplyAsync())[1]);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[2007]", StringComparison.Ordinal) && line.Contains("127.0.0.1", StringComparison.Ordinal));
    }

    private static async Task<int> WaitForNoSessionsAsync(TestServer server)
    {
        for (int i = 0; i < 300 && server.Server.ActiveSessionCount > 0; i++)
        {
            await Task.Delay(10);
        }

        return server.Server.ActiveSessionCount;
    }
}
