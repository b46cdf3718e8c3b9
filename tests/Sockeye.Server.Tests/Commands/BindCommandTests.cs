using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Configuration;
using Sockeye.Server.Commands;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Commands;

public sealed class BindCommandTests
{
    [Fact]
    public async Task Bind_PeerConnects_BothRepliesExactAndDataFlowsWithHalfClose()
    {
        await using TestServer server = await TestServer.StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.Loopback, 0), command: 2)]);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));

        byte[] first = await client.ReceiveReplyAsync();
        IPEndPoint announced = Socks5Bytes.BoundEndPoint(first);
        Assert.Equal(new byte[] { 5, 0, 0, 1, 127, 0, 0, 1 }, first[..8]);
        Assert.NotEqual(0, announced.Port);

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(announced).DefaultTimeout();
        var peerEndPoint = (IPEndPoint)peer.LocalEndPoint!;
        byte[] second = await client.ReceiveReplyAsync();
        byte[] expectedSecond = [5, 0, 0, 1, 127, 0, 0, 1, 0, 0];
        BinaryPrimitives.WriteUInt16BigEndian(expectedSecond.AsSpan(8), (ushort)peerEndPoint.Port);
        Assert.Equal(expectedSecond, second);

        // Peer → client, then the peer half-closes; the client still sends back, then half-closes too.
        await peer.SendAsync("220 ready\r\n"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        peer.Shutdown(SocketShutdown.Send);
        Assert.Equal("220 ready\r\n"u8.ToArray(), await client.ReadToEndAsync());
        await client.SendAsync("STOR file\r\n"u8.ToArray());
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("STOR file\r\n"u8.ToArray(), await peer.ReadToEndAsync());
    }

    [Fact]
    public async Task Bind_ExpectedPeerByName_AcceptsItsAddress()
    {
        await using TestServer server = await TestServer.StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        byte[] name = "localhost"u8.ToArray();
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, 5, 2, 0, 3, (byte)name.Length, .. name, 0, 21]);
        await client.ReceiveExactlyAsync(2);
        IPEndPoint announced = Socks5Bytes.BoundEndPoint(await client.ReceiveReplyAsync());

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(announced).DefaultTimeout();

        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("00000")]
    public async Task Bind_ExpectedPeerNamedAsTheUnspecifiedAddress_AcceptsAnyPeer(string expectedPeer)
    {
        // Issue 17: the system resolver throws for these names; as the addresses they are, they mean "anyone" (RFC 1928).
        await using TestServer server = await TestServer.StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        byte[] name = Encoding.ASCII.GetBytes(expectedPeer);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, 5, 2, 0, 3, (byte)name.Length, .. name, 0, 21]);
        await client.ReceiveExactlyAsync(2);
        IPEndPoint announced = Socks5Bytes.BoundEndPoint(await client.ReceiveReplyAsync());

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(announced).DefaultTimeout();

        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
        Assert.DoesNotContain(server.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bind_ResolverFailsUnexpectedly_SecondReplyHostUnreachable()
    {
        await using TestServer server = await TestServer.StartAsync(resolver: new ThrowingResolver());
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        byte[] name = "peer.test"u8.ToArray();
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, 5, 2, 0, 3, (byte)name.Length, .. name, 0, 21]);
        await client.ReceiveExactlyAsync(2);
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);

        Assert.Equal(new byte[] { 5, 4, 0, 1, 0, 0, 0, 0, 0, 0 }, await client.ReadToEndAsync());
        Assert.DoesNotContain(server.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bind_ConnectionFromUnexpectedAddress_RefusedWithNotAllowed()
    {
        await using TestServer server = await TestServer.StartAsync();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        // The client expects 127.0.0.2; the connection comes from 127.0.0.1.
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0), command: 2)]);
        await client.ReceiveExactlyAsync(2);
        IPEndPoint announced = Socks5Bytes.BoundEndPoint(await client.ReceiveReplyAsync());
        using var stranger = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        stranger.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        bool strangerConnected = true;
        try
        {
            await stranger.ConnectAsync(announced).DefaultTimeout();
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
        {
            // The server's reset can overtake the end of the handshake on loopback. And the announced port is
            // an ephemeral one that a stray connect from another test process (probing a port it believes
            // closed) can reach first: that stranger is turned away too and the listener closes, so ours is
            // refused outright. Either way the client must get 02, asserted below.
            strangerConnected = false;
        }

        Assert.Equal(new byte[] { 5, 2, 0, 1, 0, 0, 0, 0, 0, 0 }, await client.ReadToEndAsync());
        if (strangerConnected)
        {
            Assert.Empty(await stranger.ReadToEndAsync());
        }
    }

    [Fact]
    public async Task Bind_ExpectedAddressConnects_FromSecondLoopbackAddress_Accepted()
    {
        await using TestServer server = await TestServer.StartAsync();
        for (int attempt = 1; ; attempt++)
        {
            using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
            await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0), command: 2)]);
            await client.ReceiveExactlyAsync(2);
            IPEndPoint announced = Socks5Bytes.BoundEndPoint(await client.ReceiveReplyAsync());

            using var expected = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            expected.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
            try
            {
                await expected.ConnectAsync(announced).DefaultTimeout();
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused && attempt < 3)
            {
                // A stray connect from another test process reached the ephemeral port first and was turned away,
                // closing the listener (see Bind_ConnectionFromUnexpectedAddress_RefusedWithNotAllowed): try again.
                continue;
            }

            byte[] second = await client.ReceiveReplyAsync();
            Assert.Equal(new byte[] { 5, 0, 0, 1, 127, 0, 0, 2 }, second[..8]);
            return;
        }
    }

    [Fact]
    public async Task Bind_NobodyConnects_RepliesTtlExpiredAfterAcceptTimeout()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Bind.AcceptTimeout = TimeSpan.FromMilliseconds(300));
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.Any, 0), command: 2)]);
        await client.ReceiveExactlyAsync(2);
        IPEndPoint announced = Socks5Bytes.BoundEndPoint(await client.ReceiveReplyAsync());

        Assert.Equal(new byte[] { 5, 6, 0, 1, 0, 0, 0, 0, 0, 0 }, await client.ReadToEndAsync());
        await AssertListenerClosedAsync(announced);
    }

    [Fact]
    public async Task Bind_ClientLeavesBeforePeer_ListenerIsClosed()
    {
        await using TestServer server = await TestServer.StartAsync();
        IPEndPoint announced;
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.Any, 0), command: 2)]);
            await client.ReceiveExactlyAsync(2);
            announced = Socks5Bytes.BoundEndPoint(await client.ReceiveReplyAsync());
        }

        await AssertListenerClosedAsync(announced);
        for (int i = 0; i < 200 && server.Server.ActiveSessionCount > 0; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, server.Server.ActiveSessionCount);
    }

    [Fact]
    public async Task Bind_AdvertiseAddressConfigured_FirstReplyNamesIt()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Bind.AdvertiseAddress = IPAddress.Parse("192.0.2.7"));
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.Any, 0), command: 2)]);
        await client.ReceiveExactlyAsync(2);
        IPEndPoint announced = Socks5Bytes.BoundEndPoint(await client.ReceiveReplyAsync());

        Assert.Equal(IPAddress.Parse("192.0.2.7"), announced.Address);

        // The listener itself is on the address the client reached.
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(new IPEndPoint(IPAddress.Loopback, announced.Port)).DefaultTimeout();
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
    }

    [Fact]
    public async Task Bind_OverIPv6Control_ListensOnIPv6()
    {
        await using TestServer server = await TestServer.StartAsync(listenAddress: IPAddress.IPv6Loopback);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.IPv6Any, 0), command: 2)]);
        await client.ReceiveExactlyAsync(2);
        byte[] first = await client.ReceiveReplyAsync();
        Assert.Equal(4, first[3]);
        IPEndPoint announced = Socks5Bytes.BoundEndPoint(first);
        Assert.Equal(IPAddress.IPv6Loopback, announced.Address);

        using var peer = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(announced).DefaultTimeout();
        byte[] second = await client.ReceiveReplyAsync();
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, ((IPEndPoint)peer.LocalEndPoint!).Port), Socks5Bytes.BoundEndPoint(second));
    }

    [Theory]
    [InlineData(RelayEngine.Linux)] // on Linux: the client arrives on an event loop and moves to the runtime's sockets for the wait
    [InlineData(RelayEngine.Portable)]
    public async Task Bind_ClientSendsThenClosesDuringWait_SessionEndsWithoutWaitingForAcceptTimeout(RelayEngine mode)
    {
        // The simulated clock never moves, so the accept timeout cannot end the wait: only noticing the close can.
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode, timeProvider: time);
        IPEndPoint announced;
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            announced = await RequestBindAsync(client, []);
            await client.SendAsync("USER anonymous\r\n"u8.ToArray());
        }

        await AssertSessionEndedAsync(server, announced, "close=ClientEof");
    }

    [Theory]
    [InlineData(RelayEngine.Linux)]
    [InlineData(RelayEngine.Portable)]
    public async Task Bind_ClientSendsThenResetsDuringWait_SessionEndsAsClientReset(RelayEngine mode)
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode, timeProvider: time);
        IPEndPoint announced;
        using (RawClient client = await RawClient.ConnectAsync(server.EndPoint))
        {
            announced = await RequestBindAsync(client, []);
            await client.SendAsync("USER anonymous\r\n"u8.ToArray());

            // Linger 0: the close sends RST instead of FIN.
            client.Socket.LingerState = new LingerOption(true, 0);
        }

        await AssertSessionEndedAsync(server, announced, "close=ClientReset");
    }

    [Theory]
    [InlineData(RelayEngine.Linux)]
    [InlineData(RelayEngine.Portable)]
    public async Task Bind_ClientSendsDuringWait_PeerReceivesPipelinedThenWaitBytesInOrderAndTunnelWorksBothWays(RelayEngine mode)
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode, timeProvider: time);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);

        // "one " rides behind the request; "two " and "three" come in writes of their own while the server waits for the peer.
        IPEndPoint announced = await RequestBindAsync(client, "one "u8.ToArray());
        await client.SendAsync("two "u8.ToArray());
        await client.SendAsync("three"u8.ToArray());

        using Socket peer = await ConnectPeerAsync(client, announced);
        Assert.Equal("one two three"u8.ToArray(), await peer.ReceiveExactlyAsync("one two three".Length));

        await peer.SendAsync("back"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        Assert.Equal("back"u8.ToArray(), await client.ReceiveExactlyAsync(4));
        await client.SendAsync("again"u8.ToArray());
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("again"u8.ToArray(), await peer.ReadToEndAsync());
        peer.Shutdown(SocketShutdown.Send);
        Assert.Empty(await client.ReadToEndAsync());
    }

    [Theory]
    [InlineData(RelayEngine.Linux)]
    [InlineData(RelayEngine.Portable)]
    public async Task Bind_ClientSendsMoreThanTheInputAreaDuringWait_PeerReceivesEveryByteInOrder(RelayEngine mode)
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode, timeProvider: time);
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        IPEndPoint announced = await RequestBindAsync(client, []);

        // 8 KiB, several times the room the session has for it: the rest waits in the kernel and must follow, not overtake.
        byte[] sent = new byte[8 * 1024];
        for (int i = 0; i < sent.Length; i++)
        {
            sent[i] = (byte)(i * 7 + i / 251);
        }

        for (int offset = 0; offset < sent.Length; offset += 2048)
        {
            await client.SendAsync(sent[offset..(offset + 2048)]);
        }

        using Socket peer = await ConnectPeerAsync(client, announced);
        Assert.Equal(sent, await peer.ReceiveExactlyAsync(sent.Length));
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Empty(await peer.ReadToEndAsync());
    }

    /// <summary>Sends a no-auth greeting and a BIND accepting anyone, with <paramref name="pipelined"/> behind it in the same write; returns the announced endpoint.</summary>
    private static async Task<IPEndPoint> RequestBindAsync(RawClient client, byte[] pipelined)
    {
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.Any, 0), command: 2), .. pipelined]);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        byte[] first = await client.ReceiveReplyAsync();
        Assert.Equal(0, first[1]);
        return Socks5Bytes.BoundEndPoint(first);
    }

    /// <summary>Connects the peer to the announced port and reads the client's second reply, which must be success.</summary>
    private static async Task<Socket> ConnectPeerAsync(RawClient client, IPEndPoint announced)
    {
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await peer.ConnectAsync(announced).DefaultTimeout();
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The session ends, its listener is closed and its access line names <paramref name="closeReason"/>. The session count
    /// comes first: probing the port earlier could itself be accepted as the peer and end the wait.
    /// </summary>
    private static async Task AssertSessionEndedAsync(TestServer server, IPEndPoint announced, string closeReason)
    {
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        await AssertListenerClosedAsync(announced);
        Assert.Contains(server.Logs.Lines, line => line.Contains(closeReason, StringComparison.Ordinal));
    }

    /// <summary>The server closes the listener asynchronously: allow it a bounded moment, then a connect must be refused.</summary>
    private static async Task AssertListenerClosedAsync(IPEndPoint endPoint)
    {
        SocketError last = SocketError.Success;
        for (int attempt = 0; attempt < 100; attempt++)
        {
            using var probe = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(new IPEndPoint(IPAddress.Loopback, endPoint.Port)).DefaultTimeout();
            }
            catch (SocketException e)
            {
                // A reset means the connect raced the close; only "refused" shows nothing listens any more.
                last = e.SocketErrorCode;
                if (last == SocketError.ConnectionRefused)
                {
                    break;
                }
            }

            await Task.Delay(20);
        }

        Assert.Equal(SocketError.ConnectionRefused, last);
    }

    private sealed class ThrowingResolver : IHostResolver
    {
        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
            Task.FromException<IPAddress[]>(new InvalidOperationException("a resolver bug"));
    }
}
