using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Tests;

/// <summary>
/// Every way a handshake fails surfaces as one <see cref="SocksException"/> with the right <see cref="SocksError"/> and
/// reply code, and closes the socket. Codes come from real loopback situations where the Sockeye server can produce
/// them, and from the fake server for the rest.
/// </summary>
public sealed class SocksExceptionTests
{
    [Fact]
    public async Task Connect_ClosedPort_ThrowsConnectionRefusedFromSockeye()
    {
        await using TestServer server = await TestServer.StartAsync();
        int closedPort = Socks5ClientTests.ReserveClosedPort();
        var client = new Socks5Client(server.Proxy());

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, closedPort)).DefaultTimeout();

        Assert.Equal(SocksError.CommandFailed, e.Error);
        Assert.Equal(Socks5ReplyCode.ConnectionRefused, e.ReplyCode);
        Assert.Equal(
            $"SOCKS5 proxy {server.EndPoint} failed CONNECT to 127.0.0.1:{closedPort}: connection refused (X'05').",
            e.Message);
    }

    [Fact]
    public async Task Connect_MulticastDestination_ThrowsNetworkUnreachableFromSockeye()
    {
        // Linux refuses a TCP connect to a multicast address with ENETUNREACH before sending anything.
        await using TestServer server = await TestServer.StartAsync();
        var client = new Socks5Client(server.Proxy());

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync("224.0.0.1", 80)).DefaultTimeout();

        Assert.Equal(Socks5ReplyCode.NetworkUnreachable, e.ReplyCode);
    }

    [Fact]
    public async Task Connect_DestinationNeverAnswers_ThrowsTtlExpiredFromSockeye()
    {
        // A listener whose accept queue is full drops further SYNs, so a connect to it hangs until Sockeye's timeout.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        try
        {
            for (int i = 0; i < 8; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(socket);
                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
                }
                catch (OperationCanceledException)
                {
                    break; // The queue is full: the state this test needs.
                }
            }

            await using TestServer server = await TestServer.StartAsync(o => o.ConnectTimeout = TimeSpan.FromMilliseconds(300));
            var client = new Socks5Client(server.Proxy());

            SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, port)).DefaultTimeout();

            Assert.Equal(Socks5ReplyCode.TtlExpired, e.ReplyCode);
        }
        finally
        {
            foreach (Socket socket in fillers)
            {
                socket.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(0x01, Socks5ReplyCode.GeneralFailure, "general SOCKS server failure")]
    [InlineData(0x02, Socks5ReplyCode.ConnectionNotAllowed, "connection not allowed by ruleset")]
    [InlineData(0x03, Socks5ReplyCode.NetworkUnreachable, "network unreachable")]
    [InlineData(0x04, Socks5ReplyCode.HostUnreachable, "host unreachable")]
    [InlineData(0x05, Socks5ReplyCode.ConnectionRefused, "connection refused")]
    [InlineData(0x06, Socks5ReplyCode.TtlExpired, "TTL expired")]
    [InlineData(0x07, Socks5ReplyCode.CommandNotSupported, "command not supported")]
    [InlineData(0x08, Socks5ReplyCode.AddressTypeNotSupported, "address type not supported")]
    [InlineData(0x09, (Socks5ReplyCode)0x09, "unassigned reply code")]
    [InlineData(0xFF, (Socks5ReplyCode)0xFF, "unassigned reply code")]
    public async Task Connect_FailureReply_SurfacesItsCodeAndClosesTheSocket(byte code, Socks5ReplyCode expected, string description)
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 443);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        await proxy.ReceiveRequestAsync();
        await proxy.SendAsync(FakeSocksConnection.Reply(code));
        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting).DefaultTimeout();

        Assert.Equal(SocksError.CommandFailed, e.Error);
        Assert.Equal(expected, e.ReplyCode);
        Assert.Same(client.Proxies[0], e.Proxy);
        Assert.Equal($"SOCKS5 proxy {fake.EndPoint} failed CONNECT to example.test:443: {description} (X'{code:X2}').", e.Message);
        Assert.True(await proxy.ClientClosedAsync());
    }

    [Theory]
    [InlineData(new byte[] { 4, 0 }, SocksError.ProtocolViolation, "malformed method selection (UnsupportedVersion)")]
    [InlineData(new byte[] { 5, 0xFF }, SocksError.NoAcceptableMethod, "accepts no method that was offered")]
    [InlineData(new byte[] { 5, 2 }, SocksError.ProtocolViolation, "chose authentication method X'02', which was not offered")]
    [InlineData(new byte[] { 5, 0x80 }, SocksError.ProtocolViolation, "chose authentication method X'80'")]
    [InlineData(new byte[] { 5 }, SocksError.ConnectionClosed, "closed the connection while the client waited for its method selection")]
    [InlineData(new byte[0], SocksError.ConnectionClosed, "closed the connection while the client waited for its method selection")]
    public async Task Connect_BadMethodSelection_ThrowsAndClosesTheSocket(byte[] selection, SocksError expected, string message)
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 443);
        using FakeSocksConnection proxy = await fake.AcceptAsync();
        await proxy.ReceiveGreetingAsync();
        if (selection.Length > 0)
        {
            await proxy.SendAsync(selection);
        }

        if (selection.Length < 2)
        {
            proxy.Socket.Shutdown(SocketShutdown.Send);
        }

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting).DefaultTimeout();

        Assert.Equal(expected, e.Error);
        Assert.Null(e.ReplyCode);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.True(await proxy.ClientClosedAsync());
    }

    [Theory]
    [InlineData(new byte[] { 4, 0, 0, 1, 0, 0, 0, 0, 0, 0 }, SocksError.ProtocolViolation, "malformed reply (UnsupportedVersion)")]
    [InlineData(new byte[] { 5, 0, 0, 9, 0, 0, 0, 0, 0, 0 }, SocksError.ProtocolViolation, "malformed reply (UnknownAddressType)")]
    [InlineData(new byte[] { 5, 0, 0, 3, 0, 0, 0 }, SocksError.ProtocolViolation, "malformed reply (EmptyDomainName)")]
    [InlineData(new byte[] { 5, 0, 0, 1, 127, 0 }, SocksError.ConnectionClosed, "closed the connection while the client waited for its reply")]
    public async Task Connect_BadReply_ThrowsAndClosesTheSocket(byte[] reply, SocksError expected, string message)
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 443);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        await proxy.ReceiveRequestAsync();
        await proxy.SendAsync(reply);
        proxy.Socket.Shutdown(SocketShutdown.Send);
        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting).DefaultTimeout();

        Assert.Equal(expected, e.Error);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.True(await proxy.ClientClosedAsync());
    }

    [Theory]
    [InlineData(new byte[] { 1, 1 }, SocksError.AuthenticationFailed, "rejected the username and password of user 'alice' (RFC 1929 status X'01')")]
    [InlineData(new byte[] { 1, 0x7F }, SocksError.AuthenticationFailed, "status X'7F'")]
    [InlineData(new byte[] { 5, 0 }, SocksError.ProtocolViolation, "malformed username/password status (UnsupportedVersion)")]
    public async Task Connect_BadAuthenticationStatus_ThrowsAndClosesTheSocket(byte[] status, SocksError expected, string message)
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy(new NetworkCredential("alice", "secret")));

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 443);
        using FakeSocksConnection proxy = await fake.AcceptAsync();
        await proxy.ReceiveGreetingAsync();
        await proxy.SendAsync(5, 2);
        await proxy.ReceiveCredentialsAsync();
        await proxy.SendAsync(status);
        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting).DefaultTimeout();

        Assert.Equal(expected, e.Error);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", e.Message, StringComparison.Ordinal);
        Assert.True(await proxy.ClientClosedAsync());
    }

    [Fact]
    public async Task Connect_ProxyResetsMidHandshake_ThrowsConnectionClosedWithTheSocketError()
    {
        using var fake = new FakeSocksServer();
        var client = new Socks5Client(fake.Proxy());

        Task<Socks5Connection> connecting = client.ConnectAsync("example.test", 443);
        using FakeSocksConnection proxy = await fake.AcceptNoAuthAsync();
        await proxy.ReceiveRequestAsync();
        proxy.Socket.LingerState = new LingerOption(true, 0);
        proxy.Socket.Close(); // linger 0: RST
        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting).DefaultTimeout();

        Assert.Equal(SocksError.ConnectionClosed, e.Error);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
    }

    [Fact]
    public void SocksException_IsAnIOException()
    {
        // Callers' existing network-error handling catches SOCKS failures too (the runtime's SocksException does the same).
        IOException e = new SocksException(SocksError.CommandFailed, "m", Socks5ReplyCode.HostUnreachable, null, null);

        Assert.Equal(Socks5ReplyCode.HostUnreachable, ((SocksException)e).ReplyCode);
        Assert.Equal(SocksError.ProtocolViolation, new SocksException("m").Error);
    }
}
