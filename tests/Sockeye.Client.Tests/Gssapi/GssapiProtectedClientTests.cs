using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client.Tests.Gssapi;

/// <summary>
/// The client's protected paths (RFC 1961 §5) at integrity and confidentiality, against <see cref="FakeGssapiProxy"/>:
/// a proxy side framed by hand around a real Kerberos acceptor. What the client sends is unwrapped there and checked
/// byte for byte; what it receives was wrapped there, in messages whose boundaries are not the SOCKS messages'.
/// </summary>
[Collection(KerberosEnvironment.Name)]
public sealed class GssapiProtectedClientTests(KerberosFixture kerberos) : IClassFixture<KerberosFixture>
{
    private static readonly byte[] SuccessReply = [5, 0, 0, 1, 127, 0, 0, 1, 0x12, 0x34];

    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity)]
    [InlineData(GssapiProtectionLevel.Confidentiality)]
    public async Task Connect_RequestReplyAndTunnel_AllWrapped(GssapiProtectionLevel level)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        var client = new Socks5Client(proxy.Proxy(level));

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 80);
        FakeGssapiProxy.Session session = await proxy.AcceptAndGrantAsync(level);
        Assert.Equal((byte)level, session.Asked);
        byte[] request = await session.ReceivePlainAsync(4 + 1 + 12 + 2);
        Assert.Equal([5, 1, 0, 3, 12, .. "example.test"u8, 0, 80], request);

        // The reply split over two messages, the second carrying the destination's first bytes as well.
        await session.SendPlainAsync(SuccessReply[..3]);
        await session.SendPlainAsync([.. SuccessReply[3..], .. "banner"u8]);
        await using Socks5Connection connection = await connecting.DefaultTimeout();

        Assert.Equal(level, connection.GssapiProtectionLevel);
        Assert.Equal(0x1234, connection.BoundPort);
        byte[] banner = new byte[6];
        await connection.Stream.ReadExactlyAsync(banner).DefaultTimeout();
        Assert.Equal("banner"u8.ToArray(), banner);

        byte[] up = TestData.RandomBytes(100_000, seed: 11);
        Task write = connection.Stream.WriteAsync(up).AsTask();
        Assert.Equal(up, await session.ReceivePlainAsync(up.Length));
        await write.DefaultTimeout();
        Assert.Equal(level == GssapiProtectionLevel.Confidentiality, session.AllReceivedEncrypted);

        byte[] down = TestData.RandomBytes(50_000, seed: 12);
        await session.SendPlainAsync(down, perMessage: 7777);
        byte[] received = new byte[down.Length];
        await connection.Stream.ReadExactlyAsync(received).DefaultTimeout();
        Assert.Equal(down, received);

        // The stream alone owns the socket, as HttpClient (given only the stream) needs.
        await connection.Stream.DisposeAsync();
        Assert.Empty(await session.Socket.ReadToEndAsync());
    }

    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity)]
    [InlineData(GssapiProtectionLevel.Confidentiality)]
    public async Task Bind_BothRepliesWrapped_ConnectionIsTheProtectedStream(GssapiProtectionLevel level)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        var client = new Socks5Client(proxy.Proxy(level));

        Task<Socks5BindOperation> binding = client.BindAsync(IPAddress.Loopback, 0);
        FakeGssapiProxy.Session session = await proxy.AcceptAndGrantAsync(level);
        Assert.Equal([5, 2, 0, 1, 127, 0, 0, 1, 0, 0], await session.ReceivePlainAsync(10));
        await session.SendPlainAsync(SuccessReply, perMessage: 4);
        await using Socks5BindOperation bind = await binding.DefaultTimeout();
        Assert.Equal(0x1234, bind.AnnouncedPort);

        Task<Socks5Connection> accepting = bind.AcceptAsync();
        await session.SendPlainAsync([5, 0, 0, 1, 10, 0, 0, 7, 0, 21, .. "from the peer"u8], perMessage: 6);
        await using Socks5Connection connection = await accepting.DefaultTimeout();

        Assert.Equal(level, connection.GssapiProtectionLevel);
        Assert.Equal(IPAddress.Parse("10.0.0.7"), connection.BoundAddress.ToIPAddress());
        byte[] first = new byte[13];
        await connection.Stream.ReadExactlyAsync(first).DefaultTimeout();
        Assert.Equal("from the peer"u8.ToArray(), first);
        await connection.Stream.WriteAsync("to the peer"u8.ToArray()).DefaultTimeout();
        Assert.Equal("to the peer"u8.ToArray(), await session.ReceivePlainAsync(11));
    }

    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity)]
    [InlineData(GssapiProtectionLevel.Confidentiality)]
    public async Task UdpAssociate_DatagramsEncapsulated_BadOnesDropped(GssapiProtectionLevel level)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        using var relay = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        relay.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int relayPort = ((IPEndPoint)relay.LocalEndPoint!).Port;
        var client = new Socks5Client(proxy.Proxy(level));

        Task<Socks5UdpClient> associating = client.UdpAssociateAsync();
        FakeGssapiProxy.Session session = await proxy.AcceptAndGrantAsync(level);
        byte[] request = await session.ReceivePlainAsync(10);
        Assert.Equal([5, 3, 0, 1, 127, 0, 0, 1], request[..8]);
        await session.SendPlainAsync([5, 0, 0, 1, 127, 0, 0, 1, (byte)(relayPort >> 8), (byte)relayPort]);
        await using Socks5UdpClient udp = await associating.DefaultTimeout();
        Assert.Equal(level, udp.GssapiProtectionLevel);
        Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(8)), udp.LocalEndPoint.Port);

        await udp.SendToAsync("hello"u8.ToArray(), new IPEndPoint(IPAddress.Parse("192.0.2.1"), 53)).DefaultTimeout();
        byte[] datagram = new byte[65536];
        SocketReceiveFromResult from = await relay.ReceiveFromAsync(datagram, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout();
        Assert.Equal([1, 3], datagram[..2]);
        Assert.Equal(from.ReceivedBytes - 4, BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(2)));
        byte[]? plain = session.Unwrap(datagram.AsSpan(4, from.ReceivedBytes - 4), out bool encrypted);
        Assert.Equal([0, 0, 0, 1, 192, 0, 2, 1, 0, 53, .. "hello"u8], plain);
        Assert.Equal(level == GssapiProtectionLevel.Confidentiality, encrypted);

        byte[] answer = [0, 0, 0, 1, 192, 0, 2, 1, 0, 53, .. "answer"u8];
        byte[] tampered = FakeGssapiProxy.Message(3, session.Wrap(answer));
        tampered[^2] ^= 0x40;
        await relay.SendToAsync(tampered, SocketFlags.None, from.RemoteEndPoint).DefaultTimeout();       // does not unwrap
        await relay.SendToAsync(answer, SocketFlags.None, from.RemoteEndPoint).DefaultTimeout();         // not encapsulated
        await relay.SendToAsync(FakeGssapiProxy.Message(3, session.Wrap(answer)), SocketFlags.None, from.RemoteEndPoint).DefaultTimeout();

        byte[] buffer = new byte[100];
        Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer).DefaultTimeout();
        Assert.Equal("answer"u8.ToArray(), buffer[..result.ReceivedBytes]);
        Assert.Equal(53, result.SourcePort);
    }

    [Theory]
    [InlineData(GssapiProtectionLevel.None, GssapiProtectionLevel.Integrity, false)]
    [InlineData(GssapiProtectionLevel.None, GssapiProtectionLevel.Confidentiality, true)]
    [InlineData(GssapiProtectionLevel.Integrity, GssapiProtectionLevel.Confidentiality, true)]
    [InlineData(GssapiProtectionLevel.Integrity, GssapiProtectionLevel.Selective, true)]
    public async Task ServerGrantsMoreThanAsked_Accepted_AndUsed(GssapiProtectionLevel asked, GssapiProtectionLevel granted, bool encrypted)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        var client = new Socks5Client(proxy.Proxy(asked));

        Task<Socks5Connection> connecting = client.ConnectAsync(IPAddress.Loopback, 7);
        FakeGssapiProxy.Session session = await proxy.AcceptAndGrantAsync(granted);
        Assert.Equal([5, 1, 0, 1, 127, 0, 0, 1, 0, 7], await session.ReceivePlainAsync(10));
        await session.SendPlainAsync([.. SuccessReply, .. "ok"u8]);
        await using Socks5Connection connection = await connecting.DefaultTimeout();

        Assert.Equal(granted, connection.GssapiProtectionLevel);
        Assert.Equal(encrypted, session.AllReceivedEncrypted);
        byte[] ok = new byte[2];
        await connection.Stream.ReadExactlyAsync(ok).DefaultTimeout();
        Assert.Equal("ok"u8.ToArray(), ok);
    }

    [Fact]
    public async Task ProxyChain_ServerGrantsProtectionUnasked_RefusedAndAborted_ItCannotCarryIt()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(proxy.EndPoint).DefaultTimeout();
        await using var stream = new NetworkStream(socket, ownsSocket: false);

        Task connecting = ProxyChain.ConnectAsync(stream, [proxy.Proxy(GssapiProtectionLevel.None)], Destinations.FromIPAddress(IPAddress.Loopback), 7);
        FakeGssapiProxy.Session session = await proxy.AcceptAndGrantAsync(GssapiProtectionLevel.Integrity);

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting.DefaultTimeout());
        Assert.Equal(SocksError.ProtectionLevelRefused, e.Error);
        Assert.Contains("which ProxyChain cannot carry", e.Message, StringComparison.Ordinal);
        socket.Shutdown(SocketShutdown.Send);
        Assert.Equal([1, 0xFF], await session.Socket.ReadToEndAsync());
    }

    [Fact]
    public async Task ServerSendsAContextTokenUnasked_WithoutMutualAuthentication_SkippedBeforeTheProtectionAnswer()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        var options = new GssapiClientOptions { TargetHost = "localhost", ProtectionLevel = GssapiProtectionLevel.Integrity, RequireMutualAuthentication = false };
        var client = new Socks5Client(new Socks5Proxy(proxy.EndPoint) { Gssapi = options });

        Task<Socks5Connection> connecting = client.ConnectAsync(IPAddress.Loopback, 7);
        FakeGssapiProxy.Session session = await proxy.AcceptAsync();
        await session.ReadProtectionRequestAsync();
        await session.WriteAsync(FakeGssapiProxy.Message(1, [0x6F, 0x00]));
        await session.GrantAsync((byte)GssapiProtectionLevel.Integrity);
        await session.ReceivePlainAsync(10);
        await session.SendPlainAsync(SuccessReply);

        await using Socks5Connection connection = await connecting.DefaultTimeout();
        Assert.Equal(GssapiProtectionLevel.Integrity, connection.GssapiProtectionLevel);
    }

    [Fact]
    public async Task ServerGrantsAnUndefinedLevel_ProtocolViolation_Aborted()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        var client = new Socks5Client(proxy.Proxy(GssapiProtectionLevel.Integrity));

        Task<Socks5Connection> connecting = client.ConnectAsync(IPAddress.Loopback, 7);
        FakeGssapiProxy.Session session = await proxy.AcceptAsync();
        await session.ReadProtectionRequestAsync();
        await session.GrantAsync(7);

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting.DefaultTimeout());
        Assert.Equal(SocksError.ProtocolViolation, e.Error);
        Assert.Contains("grants level X'07'", e.Message, StringComparison.Ordinal);
        Assert.Equal([1, 0xFF], await session.Socket.ReadToEndAsync());
    }

    [Fact]
    public async Task ServerGrantsNone_BelowTheMinimum_AbortSentThenClosed()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        var client = new Socks5Client(proxy.Proxy(GssapiProtectionLevel.Confidentiality, GssapiProtectionLevel.Integrity));

        Task<Socks5Connection> connecting = client.ConnectAsync(IPAddress.Loopback, 7);
        FakeGssapiProxy.Session session = await proxy.AcceptAndGrantAsync(GssapiProtectionLevel.None);

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting.DefaultTimeout());
        Assert.Equal(SocksError.ProtectionLevelRefused, e.Error);
        Assert.Contains("below the minimum this client accepts, Integrity", e.Message, StringComparison.Ordinal);
        Assert.Equal([1, 0xFF], await session.Socket.ReadToEndAsync());
    }

    [Fact]
    public async Task ServerAbortsAtTheProtectionLevel_AuthenticationFailed()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        var client = new Socks5Client(proxy.Proxy(GssapiProtectionLevel.Integrity));

        Task<Socks5Connection> connecting = client.ConnectAsync(IPAddress.Loopback, 7);
        FakeGssapiProxy.Session session = await proxy.AcceptAsync();
        await session.ReadProtectionRequestAsync();
        await session.WriteAsync([1, 0xFF]);

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting.DefaultTimeout());
        Assert.Equal(SocksError.AuthenticationFailed, e.Error);
        Assert.Contains("aborted (X'01 FF') when the client sent its protection level", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrappedReplyThatDoesNotUnwrap_ConnectionClosedWithTheReason()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        var client = new Socks5Client(proxy.Proxy(GssapiProtectionLevel.Integrity));

        Task<Socks5Connection> connecting = client.ConnectAsync(IPAddress.Loopback, 7);
        FakeGssapiProxy.Session session = await proxy.AcceptAndGrantAsync(GssapiProtectionLevel.Integrity);
        await session.ReceivePlainAsync(10);
        byte[] reply = FakeGssapiProxy.Message(3, session.Wrap(SuccessReply));
        reply[^1] ^= 0x01;
        await session.WriteAsync(reply);

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting.DefaultTimeout());
        Assert.Equal(SocksError.ConnectionClosed, e.Error);
        Assert.Contains("did not unwrap", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chain_FirstHopProtected_NextHopsHandshakeRunsInsideItsMessages()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        await using TestServer last = await TestServer.StartAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(proxy.Proxy(GssapiProtectionLevel.Confidentiality), last.Proxy());

        Task<Socks5Connection> connecting = client.ConnectAsync(IPAddress.Loopback, target.Port);
        FakeGssapiProxy.Session session = await proxy.AcceptAndGrantAsync(GssapiProtectionLevel.Confidentiality);
        byte[] request = await session.ReceivePlainAsync(10);
        Assert.Equal([5, 1, 0, 1, 127, 0, 0, 1], request[..8]);
        Assert.Equal(last.EndPoint.Port, BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(8)));

        // The fake relays to the last hop: wrapped on the client's side, plain on the other.
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await upstream.ConnectAsync(last.EndPoint).DefaultTimeout();
        await session.SendPlainAsync(SuccessReply);
        Task<int> relayUp = RelayUpAsync(session, upstream);
        Task relayDown = RelayDownAsync(upstream, session);

        await using Socks5Connection connection = await connecting.DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        // The last hop granted nothing: the level is the last hop's, while the first hop still wraps everything.
        Assert.Equal(GssapiProtectionLevel.None, connection.GssapiProtectionLevel);
        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);

        upstream.Shutdown(SocketShutdown.Both);
        session.Socket.Shutdown(SocketShutdown.Both);
        await Task.WhenAll(relayUp, relayDown).DefaultTimeout();
        int relayed = await relayUp;
        Assert.True(relayed >= 3, $"{relayed} messages relayed: the greeting, the request and the data go through the first hop wrapped");
    }

    /// <summary>Unwraps the client's messages to the last hop, each checked encrypted; returns how many.</summary>
    [Fact]
    public async Task HttpClient_ThroughAConfidentialFirstHop_FetchesTheBody()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var proxy = new FakeGssapiProxy();
        await using TestServer last = await TestServer.StartAsync();
        using var http = new HttpTestServer("through a wrapped hop");
        using var client = new HttpClient(Socks5HttpHandler.Create(new Socks5Client(proxy.Proxy(GssapiProtectionLevel.Confidentiality), last.Proxy())));

        Task<string> fetching = client.GetStringAsync(new Uri($"http://127.0.0.1:{http.Port}/"));
        FakeGssapiProxy.Session session = await proxy.AcceptAndGrantAsync(GssapiProtectionLevel.Confidentiality);
        await session.ReceivePlainAsync(10);
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await upstream.ConnectAsync(last.EndPoint).DefaultTimeout();
        await session.SendPlainAsync(SuccessReply);
        Task<int> relayUp = RelayUpAsync(session, upstream);
        Task relayDown = RelayDownAsync(upstream, session);

        Assert.Equal("through a wrapped hop", await fetching.DefaultTimeout());

        client.Dispose();
        upstream.Shutdown(SocketShutdown.Both);
        session.Socket.Shutdown(SocketShutdown.Both);
        await Task.WhenAll(relayUp, relayDown).DefaultTimeout();
    }

    private static async Task<int> RelayUpAsync(FakeGssapiProxy.Session session, Socket upstream)
    {
        int i = 0;
        try
        {
            for (; i < 10_000; i++)
            {
                (byte type, byte[] token) = await session.ReadMessageAsync();
                Assert.Equal(3, type);
                byte[]? plain = session.Unwrap(token, out bool encrypted);
                Assert.NotNull(plain);
                Assert.True(encrypted);
                await upstream.SendAsync(plain, SocketFlags.None);
            }
        }
        catch (Exception e) when (e is EndOfStreamException or SocketException or ObjectDisposedException)
        {
            // The test is over.
        }

        return i;
    }

    private static async Task RelayDownAsync(Socket upstream, FakeGssapiProxy.Session session)
    {
        byte[] buffer = new byte[4096];
        try
        {
            for (int i = 0; i < 10_000; i++)
            {
                int read = await upstream.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    return;
                }

                await session.SendPlainAsync(buffer[..read]);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or TimeoutException)
        {
            // The test is over.
        }
    }
}
