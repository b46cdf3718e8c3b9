using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Tests;

public sealed class Socks5UdpClientTests
{
    [Fact]
    public async Task Udp_ToIPv4Destination_RoundTripsWithItsSource()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var echo = new UdpEcho();
        var client = new Socks5Client(server.Proxy());

        await using Socks5UdpClient udp = await client.UdpAssociateAsync().DefaultTimeout();
        await udp.SendToAsync("one"u8.ToArray(), echo.EndPoint).DefaultTimeout();
        byte[] buffer = new byte[100];
        Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer).DefaultTimeout();

        Assert.Equal("one"u8.ToArray(), buffer[..result.ReceivedBytes]);
        Assert.Equal(Socks5AddressType.IPv4, result.Source.Type);
        Assert.Equal(echo.EndPoint, new IPEndPoint(result.Source.ToIPAddress(), result.SourcePort));
        Assert.Equal(IPAddress.Loopback, udp.RelayEndPoint.Address);
        Assert.Equal(IPAddress.Loopback, udp.LocalEndPoint.Address);
    }

    [Fact]
    public async Task Udp_ToIPv6Destination_RoundTripsWithItsSource()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var echo = new UdpEcho(IPAddress.IPv6Loopback);
        var client = new Socks5Client(server.Proxy());

        await using Socks5UdpClient udp = await client.UdpAssociateAsync().DefaultTimeout();
        await udp.SendToAsync("six"u8.ToArray(), "::1", echo.EndPoint.Port).DefaultTimeout();
        byte[] buffer = new byte[100];
        Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer).DefaultTimeout();

        Assert.Equal("six"u8.ToArray(), buffer[..result.ReceivedBytes]);
        Assert.Equal(Socks5AddressType.IPv6, result.Source.Type);
        Assert.Equal(echo.EndPoint, new IPEndPoint(result.Source.ToIPAddress(), result.SourcePort));
    }

    [Fact]
    public async Task Udp_ToDomainName_ProxyResolvesIt()
    {
        // "localhost" may resolve to 127.0.0.1 or ::1 first: an echo on the same port of both answers either way.
        await using TestServer server = await TestServer.StartAsync();
        using var echo4 = new UdpEcho();
        using var echo6 = new UdpEcho(IPAddress.IPv6Loopback, echo4.EndPoint.Port);
        var client = new Socks5Client(server.Proxy());

        await using Socks5UdpClient udp = await client.UdpAssociateAsync().DefaultTimeout();
        await udp.SendToAsync("name"u8.ToArray(), "localhost", echo4.EndPoint.Port).DefaultTimeout();
        byte[] buffer = new byte[100];
        Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer).DefaultTimeout();

        Assert.Equal("name"u8.ToArray(), buffer[..result.ReceivedBytes]);
        Assert.Equal(echo4.EndPoint.Port, result.SourcePort);
        Assert.True(result.Source.ToIPAddress().Equals(IPAddress.Loopback) || result.Source.ToIPAddress().Equals(IPAddress.IPv6Loopback));
    }

    [Fact]
    public async Task Udp_HundredDatagrams_EachComesBack()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var echo = new UdpEcho();
        var client = new Socks5Client(server.Proxy());
        await using Socks5UdpClient udp = await client.UdpAssociateAsync().DefaultTimeout();
        byte[] buffer = new byte[100];

        for (int i = 0; i < 100; i++)
        {
            await udp.SendToAsync(new[] { (byte)i }, echo.EndPoint).DefaultTimeout();
            Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer).DefaultTimeout();
            Assert.Equal(1, result.ReceivedBytes);
            Assert.Equal((byte)i, buffer[0]);
        }
    }

    [Fact]
    public async Task Udp_ThroughAChain_LastProxyRelays()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync();
        using var echo = new UdpEcho();
        var client = new Socks5Client(a.Proxy(), b.Proxy());

        await using Socks5UdpClient udp = await client.UdpAssociateAsync().DefaultTimeout();
        await udp.SendToAsync("chained"u8.ToArray(), echo.EndPoint).DefaultTimeout();
        byte[] buffer = new byte[100];
        Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer).DefaultTimeout();

        Assert.Equal("chained"u8.ToArray(), buffer[..result.ReceivedBytes]);
        Assert.Equal(b.EndPoint.Address, udp.RelayEndPoint.Address);
    }

    [Fact]
    public async Task Udp_HeadersOnTheWire_AreRfc1928ByteForByte()
    {
        await using var association = await FakeAssociation.OpenAsync();
        Socks5UdpClient udp = association.Client;

        // The request names the client's UDP socket.
        Assert.Equal(new byte[] { 5, 3, 0, 1, 127, 0, 0, 1, (byte)(udp.LocalEndPoint.Port >> 8), (byte)udp.LocalEndPoint.Port }, association.Request);

        await udp.SendToAsync("q"u8.ToArray(), "example.test", 53).DefaultTimeout();
        byte[] sent = await association.ReceiveAtRelayAsync();
        byte[] expected = [0, 0, 0, 3, 12, .. "example.test"u8.ToArray(), 0, 53, (byte)'q'];
        Assert.Equal(expected, sent);

        await association.SendFromRelayAsync([0, 0, 0, 1, 192, 0, 2, 1, 0, 53, (byte)'a']);
        byte[] buffer = new byte[16];
        Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer).DefaultTimeout();
        Assert.Equal(1, result.ReceivedBytes);
        Assert.Equal((byte)'a', buffer[0]);
        Assert.Equal("192.0.2.1", result.Source.ToString());
        Assert.Equal(53, result.SourcePort);
    }

    [Fact]
    public async Task Receive_FragmentsAndMalformedHeaders_AreSkipped()
    {
        await using var association = await FakeAssociation.OpenAsync();

        await association.SendFromRelayAsync([0, 0, 1, 1, 192, 0, 2, 1, 0, 53, (byte)'f']);        // FRAG 1
        await association.SendFromRelayAsync([0, 0, 0, 9, 192, 0, 2, 1, 0, 53, (byte)'x']);        // ATYP 9
        await association.SendFromRelayAsync([0, 0, 0, 1, 192, 0]);                               // truncated
        await association.SendFromRelayAsync([0, 0, 0, 3, 4, .. "name"u8.ToArray(), 0, 7, (byte)'k']);
        byte[] buffer = new byte[16];
        Socks5UdpReceiveResult result = await association.Client.ReceiveFromAsync(buffer).DefaultTimeout();

        Assert.Equal((byte)'k', buffer[0]);
        Assert.True(result.Source.IsDomainName);
        Assert.Equal("name", result.Source.DomainName);
        Assert.Equal(7, result.SourcePort);
    }

    [Fact]
    public async Task Receive_BufferSmallerThanPayload_CutsThePayload()
    {
        await using var association = await FakeAssociation.OpenAsync();

        await association.SendFromRelayAsync([0, 0, 0, 1, 192, 0, 2, 1, 0, 53, .. "0123456789"u8.ToArray()]);
        byte[] buffer = new byte[4];
        Socks5UdpReceiveResult result = await association.Client.ReceiveFromAsync(buffer).DefaultTimeout();

        Assert.Equal(4, result.ReceivedBytes);
        Assert.Equal("0123"u8.ToArray(), buffer);
    }

    [Fact]
    public async Task Associate_RelayAnnouncedAsAnyAddress_UsesTheProxysAddress()
    {
        await using var association = await FakeAssociation.OpenAsync(announceAny: true);

        Assert.Equal(association.RelaySocket.LocalEndPoint, association.Client.RelayEndPoint);
    }

    [Fact]
    public async Task Dispose_ClosesTheControlConnection()
    {
        await using var association = await FakeAssociation.OpenAsync();

        await association.Client.DisposeAsync().AsTask().DefaultTimeout();

        Assert.True(await association.Control.ClientClosedAsync());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => association.Client.SendToAsync("x"u8.ToArray(), "example.test", 1).AsTask()).DefaultTimeout();
    }

    [Fact]
    public async Task Dispose_WhileReceiving_ReceiveThrowsObjectDisposed()
    {
        await using var association = await FakeAssociation.OpenAsync();
        Task<Socks5UdpReceiveResult> receiving = association.Client.ReceiveFromAsync(new byte[16]).AsTask();

        await association.Client.DisposeAsync().AsTask().DefaultTimeout();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => receiving).DefaultTimeout();
    }

    [Fact]
    public async Task ProxyClosesTheControlConnection_ReceiveThrowsConnectionClosed()
    {
        await using var association = await FakeAssociation.OpenAsync();
        Task<Socks5UdpReceiveResult> receiving = association.Client.ReceiveFromAsync(new byte[16]).AsTask();

        association.Control.Socket.Shutdown(SocketShutdown.Both);

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => receiving).DefaultTimeout();
        Assert.Equal(SocksError.ConnectionClosed, e.Error);
        Assert.Contains("closed the control connection of the UDP association", e.Message, StringComparison.Ordinal);
        SocksException send = await Assert.ThrowsAsync<SocksException>(() => association.Client.SendToAsync("x"u8.ToArray(), "example.test", 1).AsTask()).DefaultTimeout();
        Assert.Equal(SocksError.ConnectionClosed, send.Error);
    }

    [Fact]
    public async Task Associate_ProxyRefuses_ThrowsCommandFailed()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());

        Task<Socks5UdpClient> associating = client.UdpAssociateAsync();
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        await proxy.ReceiveRequestAsync();
        await proxy.SendAsync(FakeSocksConnection.Reply(7));
        SocksException e = await Assert.ThrowsAsync<SocksException>(() => associating).DefaultTimeout();

        Assert.Equal(Socks5ReplyCode.CommandNotSupported, e.ReplyCode);
        Assert.Contains("failed UDP ASSOCIATE from 127.0.0.1:", e.Message, StringComparison.Ordinal);
        Assert.True(await proxy.ClientClosedAsync());
    }

    /// <summary>A UDP association with the fake server, whose "relay" is a UDP socket the test holds.</summary>
    private sealed class FakeAssociation : IAsyncDisposable
    {
        private readonly FakeSocksServer _server;

        private FakeAssociation(FakeSocksServer server, FakeSocksConnection control, Socket relay, byte[] request, Socks5UdpClient client)
        {
            _server = server;
            Control = control;
            RelaySocket = relay;
            Request = request;
            Client = client;
        }

        public FakeSocksConnection Control { get; }

        public Socket RelaySocket { get; }

        public byte[] Request { get; }

        public Socks5UdpClient Client { get; }

        public static async Task<FakeAssociation> OpenAsync(bool announceAny = false)
        {
            var server = new FakeSocksServer();
            var relay = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            relay.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var relayEndPoint = (IPEndPoint)relay.LocalEndPoint!;
            var client = new Socks5Client(server.Proxy());

            Task<Socks5UdpClient> associating = client.UdpAssociateAsync();
            FakeSocksConnection control = await server.AcceptNoAuthAsync();
            byte[] request = await control.ReceiveRequestAsync();
            await control.SendAsync(FakeSocksConnection.Reply(0, announceAny ? new IPEndPoint(IPAddress.Any, relayEndPoint.Port) : relayEndPoint));
            return new FakeAssociation(server, control, relay, request, await associating.DefaultTimeout());
        }

        public async Task<byte[]> ReceiveAtRelayAsync()
        {
            byte[] buffer = new byte[1024];
            int received = await RelaySocket.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout();
            return buffer[..received];
        }

        public Task SendFromRelayAsync(byte[] datagram) =>
            RelaySocket.SendToAsync(datagram, SocketFlags.None, Client.LocalEndPoint).DefaultTimeout();

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync().AsTask().DefaultTimeout();
            RelaySocket.Dispose();
            _server.Dispose();
        }
    }
}
