using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;

namespace Sockeye.Client.Tests;

/// <summary>ProxyChain.ConnectAsync over a connection the caller opened itself, as a server routing upstream does.</summary>
public sealed class ProxyChainTests
{
    [Fact]
    public async Task ConnectAsync_OverANetworkStreamTheCallerOpened_TunnelsToTheDestination()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("bob", "hunter2")));
        await using TestServer c = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(a.EndPoint).DefaultTimeout();
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        Socks5Proxy[] chain =
        [
            new(ProxyKind.Http, a.EndPoint),
            Socks5Proxy.FromUri(new Uri($"socks5h://bob:hunter2@{b.EndPoint}")),
            new(ProxyKind.Socks4a, c.EndPoint),
        ];

        await ProxyChain.ConnectAsync(stream, chain, Socks5Address.FromDomainName("localhost"), target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await stream.WriteAsync("ping"u8.ToArray()).DefaultTimeout();
        Assert.Equal("ping"u8.ToArray(), await accepted.ReceiveExactlyAsync(4));
        await accepted.SendAsync("pong"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        byte[] down = new byte[4];
        await stream.ReadExactlyAsync(down).DefaultTimeout();
        Assert.Equal("pong"u8.ToArray(), down);
    }

    [Theory]
    [InlineData(ProxyKind.Socks5)]
    [InlineData(ProxyKind.Socks4a)]
    [InlineData(ProxyKind.Http)]
    public async Task ConnectAsync_DestinationSpeaksFirst_ItsGreetingIsReadAfterTheHandshake(ProxyKind lastKind)
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync();
        using var target = new TcpTarget();
        Task greeted = GreetAsync(target, "220 sockeye test ESMTP\r\n"u8.ToArray());
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(a.EndPoint).DefaultTimeout();
        await using var stream = new NetworkStream(socket, ownsSocket: false);

        await ProxyChain.ConnectAsync(stream, [a.Proxy(), new Socks5Proxy(lastKind, b.EndPoint)], Socks5Address.FromIPAddress(IPAddress.Loopback), target.Port).DefaultTimeout();
        await greeted;

        byte[] greeting = new byte[24];
        await stream.ReadExactlyAsync(greeting).DefaultTimeout();
        Assert.Equal("220 sockeye test ESMTP\r\n"u8.ToArray(), greeting);
    }

    [Fact]
    public async Task UdpAssociateAsync_ThroughAnHttpHop_ReturnsTheLastHopsRelay_WhichRelays()
    {
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(a.EndPoint).DefaultTimeout();
        await using var stream = new NetworkStream(socket, ownsSocket: false);

        IPEndPoint relay = await ProxyChain.UdpAssociateAsync(stream, [new Socks5Proxy(ProxyKind.Http, a.EndPoint), b.Proxy()], IPAddress.Loopback).DefaultTimeout();

        Assert.Equal(IPAddress.Loopback, relay.Address);
        Assert.NotEqual(0, relay.Port);
        using var echo = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        echo.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var echoEndPoint = (IPEndPoint)echo.LocalEndPoint!;
        byte[] header = [0, 0, 0, 1, 127, 0, 0, 1, (byte)(echoEndPoint.Port >> 8), (byte)echoEndPoint.Port];
        byte[] datagram = [.. header, .. "hi"u8];
        await udp.SendToAsync(datagram, SocketFlags.None, relay).DefaultTimeout();
        byte[] buffer = new byte[16];
        SocketReceiveFromResult received = await echo.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout();
        Assert.Equal("hi"u8.ToArray(), buffer[..received.ReceivedBytes]);
    }

    [Fact]
    public async Task UdpAssociateAsync_LastHopNotSocks5_ThrowsNotSupportedBeforeAnyIO()
    {
        await using var stream = new MemoryStream();

        await Assert.ThrowsAsync<NotSupportedException>(() =>
            ProxyChain.UdpAssociateAsync(stream, [new Socks5Proxy(ProxyKind.Http, new IPEndPoint(IPAddress.Loopback, 1))], IPAddress.Loopback));
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public async Task ConnectAsync_HttpHopWithTunnelBytesRightBehindItsHead_LeavesThemInTheStream()
    {
        // The fake writes the 200 and the destination's first bytes in one segment: the handshake must stop at the head.
        using var fake = new FakeSocksServer();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(fake.EndPoint).DefaultTimeout();
        using FakeSocksConnection hop = await fake.AcceptAsync();
        await using var stream = new NetworkStream(socket, ownsSocket: false);

        Task connecting = ProxyChain.ConnectAsync(stream, [new Socks5Proxy(ProxyKind.Http, fake.EndPoint)], Socks5Address.FromDomainName("example.test"), 443);
        await ProxyKindsTests.ReceiveHttpHeadAsync(hop.Socket);
        await hop.SendAsync("HTTP/1.0 200 OK\r\n\r\nSSH-2.0-x\r\n"u8.ToArray());
        await connecting.DefaultTimeout();

        byte[] rest = new byte[11];
        await stream.ReadExactlyAsync(rest).DefaultTimeout();
        Assert.Equal("SSH-2.0-x\r\n"u8.ToArray(), rest);
    }

    [Fact]
    public async Task ConnectAsync_Failure_NamesTheHopAndLeavesTheStreamOpen()
    {
        await using TestServer a = await TestServer.StartAsync();
        int closedPort = Socks5ClientTests.ReserveClosedPort();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(a.EndPoint).DefaultTimeout();
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        Socks5Proxy[] chain = [new(ProxyKind.Http, a.EndPoint), new(ProxyKind.Http, "127.0.0.1", closedPort), a.Proxy()];

        SocksException e = await Assert.ThrowsAsync<SocksException>(
            () => ProxyChain.ConnectAsync(stream, chain, Socks5Address.FromDomainName("example.test"), 80)).DefaultTimeout();

        Assert.Same(chain[0], e.Proxy);
        Assert.Equal(502, e.UpstreamStatus);
        Assert.StartsWith($"HTTP proxy {a.EndPoint} (hop 1 of 3) answered HTTP 502 ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith($" to CONNECT 127.0.0.1:{closedPort}.", e.Message, StringComparison.Ordinal);
        Assert.True(socket.Connected);
    }

    [Fact]
    public async Task ConnectAsync_BadArguments_ThrowBeforeAnyIO()
    {
        await using var stream = new MemoryStream();
        Socks5Address destination = Socks5Address.FromDomainName("example.test");

        await Assert.ThrowsAsync<ArgumentNullException>(() => ProxyChain.ConnectAsync(null!, [new Socks5Proxy("127.0.0.1", 1080)], destination, 80));
        await Assert.ThrowsAsync<ArgumentNullException>(() => ProxyChain.ConnectAsync(stream, null!, destination, 80));
        await Assert.ThrowsAsync<ArgumentException>(() => ProxyChain.ConnectAsync(stream, [], destination, 80));
        await Assert.ThrowsAsync<ArgumentException>(() => ProxyChain.ConnectAsync(stream, [null!], destination, 80));
        await Assert.ThrowsAsync<ArgumentException>(() => ProxyChain.ConnectAsync(stream, [new Socks5Proxy("127.0.0.1", 1080)], default, 80));
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public async Task ConnectAsync_StreamEndsMidReply_ThrowsConnectionClosed()
    {
        // A stream that is not a socket: the handshake needs only reads and writes.
        var stream = new ScriptedStream([0, 90, 0]);

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => ProxyChain.ConnectAsync(
            stream, [new Socks5Proxy(ProxyKind.Socks4a, "127.0.0.1", 1080)], Socks5Address.FromDomainName("example.test"), 80)).DefaultTimeout();

        Assert.Equal(SocksError.ConnectionClosed, e.Error);
        Assert.Equal("SOCKS4a proxy 127.0.0.1:1080 closed the connection while the client waited for its reply.", e.Message);
    }

    private static async Task GreetAsync(TcpTarget target, byte[] greeting)
    {
        Socket accepted = await target.AcceptAsync();
        await accepted.SendAsync(greeting, SocketFlags.None).DefaultTimeout();
    }

    /// <summary>Answers reads from a script, then ends; swallows writes.</summary>
    private sealed class ScriptedStream(byte[] script) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = Math.Min(count, script.Length - _position);
            Array.Copy(script, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
        }
    }
}
