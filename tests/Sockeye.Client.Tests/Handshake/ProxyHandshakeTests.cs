using System.Net.Sockets;
using Sockeye.Client.Handshake;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Tests.Handshake;

public sealed class ProxyHandshakeTests
{
    private static readonly HopContext Hop = new(new Socks5Proxy("127.0.0.1", 1080), 0, 1);

    [Fact]
    public async Task Receive_EverythingArrivesAtOnce_TakesEachMessageAndNotAByteMore()
    {
        // The proxy's answers and the destination's first bytes are all in the socket before the client reads any.
        (Socket client, Socket proxy) = await LoopbackPair.ConnectAsync();
        using (client)
        using (proxy)
        using (var handshake = new ProxyHandshake(Hop, HandshakeStep.MethodSelection))
        {
            handshake.Attach(new NetworkStream(client, ownsSocket: false));
            await proxy.SendAsync(new byte[] { 5, 0, 5, 0, 0, 1, 192, 0, 2, 9, 0, 80, (byte)'x', (byte)'y', (byte)'z' }, SocketFlags.None).DefaultTimeout();

            await handshake.NegotiateAsync(CancellationToken.None).DefaultTimeout();
            Assert.Equal(10 + 3, client.Available);
            Socks5Reply reply = await handshake.RequestAsync(Socks5Command.Connect, Socks5Address.FromDomainName("example.test"), 80, CancellationToken.None).DefaultTimeout();

            Assert.Equal("192.0.2.9", reply.Bound.ToString());
            byte[] rest = new byte[3];
            Assert.Equal(3, await client.ReceiveAsync(rest, SocketFlags.None).DefaultTimeout());
            Assert.Equal("xyz"u8.ToArray(), rest);
        }
    }

    [Fact]
    public void Classify_SocketErrorWhileConnecting_IsProxyUnreachable()
    {
        using var handshake = new ProxyHandshake(Hop, HandshakeStep.ConnectingToProxy);

        SocksException? e = handshake.Classify(new SocketException((int)SocketError.ConnectionRefused), timedOut: false, TimeSpan.FromSeconds(1));

        Assert.Equal(SocksError.ProxyUnreachable, e?.Error);
    }

    [Fact]
    public void Classify_SocketErrorAfterConnecting_IsConnectionClosed()
    {
        using var handshake = new ProxyHandshake(Hop, HandshakeStep.Request);

        SocksException? e = handshake.Classify(new SocketException((int)SocketError.ConnectionReset), timedOut: false, TimeSpan.FromSeconds(1));

        Assert.Equal(SocksError.ConnectionClosed, e?.Error);
        Assert.Contains("reset the connection while the client waited for its reply", e?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_CancellationByTheTimer_IsTimedOutButByTheCaller_PropagatesAsItIs()
    {
        using var handshake = new ProxyHandshake(Hop, HandshakeStep.Authentication);

        Assert.Equal(SocksError.TimedOut, handshake.Classify(new OperationCanceledException(), timedOut: true, TimeSpan.FromSeconds(2))?.Error);
        Assert.Null(handshake.Classify(new OperationCanceledException(), timedOut: false, TimeSpan.FromSeconds(2)));
        Assert.Null(handshake.Classify(new ArgumentException("bug"), timedOut: false, TimeSpan.FromSeconds(2)));
    }
}
