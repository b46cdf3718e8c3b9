using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Gssapi;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;
using Sockeye.Testing.Kerberos;

namespace Sockeye.Client.Tests.Gssapi;

/// <summary>
/// Sockeye.Client with GSSAPI against the real Sockeye server in process and a real MIT KDC, at protection level none
/// (what the server grants today): CONNECT, BIND and UDP ASSOCIATE authenticated as alice, and the ways it fails.
/// </summary>
[Collection(KerberosEnvironment.Name)]
public sealed class GssapiEndToEndTests(KerberosServerFixture kerberos) : IClassFixture<KerberosServerFixture>
{
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task Connect_AsThePrincipal_TunnelCarriesBytes(bool mutual, bool nec)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync(OnlyAlice);
        using var target = new TcpTarget();
        var client = new Socks5Client(KerberosServerFixture.Proxy(server, mutual: mutual, nec: nec));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        Assert.Equal(GssapiProtectionLevel.None, connection.GssapiProtectionLevel);
        Assert.IsType<NetworkStream>(connection.Stream);
        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
        Assert.Contains(server.Logs.Lines, line => line.Contains("[2022]", StringComparison.Ordinal) && line.Contains(KerberosRealm.UserPrincipalName, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bind_AsThePrincipal_PeerConnects_BytesBothWays()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync(OnlyAlice);
        var client = new Socks5Client(KerberosServerFixture.Proxy(server));

        await using Socks5BindOperation bind = await client.BindAsync(IPAddress.Loopback, 0).DefaultTimeout();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(bind.AnnouncedEndPoint!).DefaultTimeout();
        await using Socks5Connection connection = await bind.AcceptAsync().DefaultTimeout();

        Assert.Equal(peer.LocalEndPoint, new IPEndPoint(connection.BoundAddress.ToIPAddress(), connection.BoundPort));
        Assert.Equal(GssapiProtectionLevel.None, connection.GssapiProtectionLevel);
        await Socks5ClientTests.AssertRelaysAsync(connection, peer);
    }

    [Fact]
    public async Task UdpAssociate_AsThePrincipal_DatagramComesBackFromTheEcho()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync(OnlyAlice);
        using var echo = new UdpEcho();
        var client = new Socks5Client(KerberosServerFixture.Proxy(server));

        await using Socks5UdpClient udp = await client.UdpAssociateAsync().DefaultTimeout();
        await udp.SendToAsync("datagram"u8.ToArray(), echo.EndPoint).DefaultTimeout();
        byte[] buffer = new byte[100];
        Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer).DefaultTimeout();

        Assert.Equal(GssapiProtectionLevel.None, udp.GssapiProtectionLevel);
        Assert.Equal("datagram"u8.ToArray(), buffer[..result.ReceivedBytes]);
        Assert.Equal(echo.EndPoint, new IPEndPoint(result.Source.ToIPAddress(), result.SourcePort));
    }

    [Fact]
    public async Task HttpClient_ThroughTheGssapiProxy_FetchesTheBody()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync(OnlyAlice);
        using var http = new HttpTestServer("authenticated by Kerberos");
        using var client = new HttpClient(Socks5HttpHandler.Create(new Socks5Client(KerberosServerFixture.Proxy(server))));

        string body = await client.GetStringAsync(new Uri($"http://127.0.0.1:{http.Port}/")).DefaultTimeout();

        Assert.Equal("authenticated by Kerberos", body);
    }

    [Fact]
    public async Task Connect_PrincipalNotInTheServersKeytab_ServerAborts_AuthenticationFailed()
    {
        await kerberos.Realm.AddServicePrincipalAsync("rcmd/other.localhost");
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        var proxy = new Socks5Proxy(server.EndPoint) { Gssapi = new GssapiClientOptions { TargetHost = "other.localhost" } };

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, 9).DefaultTimeout());

        Assert.Equal(SocksError.AuthenticationFailed, e.Error);
        Assert.Contains("GSSAPI authentication failed", e.Message, StringComparison.Ordinal);
        Assert.Contains("aborted (X'01 FF') on the client's ticket for rcmd/other.localhost", e.Message, StringComparison.Ordinal);
        Assert.Same(proxy, e.Proxy);
    }

    [Fact]
    public async Task Connect_PrincipalUnknownToTheKdc_FailsHere_AuthenticationFailed()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        var proxy = new Socks5Proxy(server.EndPoint) { Gssapi = new GssapiClientOptions { TargetHost = "nothere.localhost" } };

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, 9).DefaultTimeout());

        Assert.Equal(SocksError.AuthenticationFailed, e.Error);
        Assert.Contains("failed on this side", e.Message, StringComparison.Ordinal);
        Assert.Contains("rcmd/nothere.localhost", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_ServiceNameOtherThanTheKeytabs_ServerAborts()
    {
        await kerberos.Realm.AddServicePrincipalAsync("socks/localhost");
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        var proxy = new Socks5Proxy(server.EndPoint) { Gssapi = new GssapiClientOptions { ServiceName = "socks", TargetHost = "localhost" } };

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, 9).DefaultTimeout());

        Assert.Equal(SocksError.AuthenticationFailed, e.Error);
        Assert.Contains("socks/localhost", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_ProxyWithoutGssapi_NoAcceptableMethod_NotADowngrade()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await TestServer.StartAsync();
        var proxy = new Socks5Proxy(server.EndPoint) { Gssapi = new GssapiClientOptions { TargetHost = "localhost" } };

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, 9).DefaultTimeout());

        // The server needs no authentication at all, and would have served "no authentication": it was not offered.
        Assert.Equal(SocksError.NoAcceptableMethod, e.Error);
        Assert.Contains("accepts no method that was offered (GSSAPI)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_ProxyWithoutGssapiButWithUsers_PasswordAlsoOffered_UsesIt()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await TestServer.StartAsync(o => o.Users.Add(new SockeyeUser("bob", "secret")));
        using var target = new TcpTarget();
        var proxy = new Socks5Proxy(server.EndPoint, new NetworkCredential("bob", "secret")) { Gssapi = new GssapiClientOptions { TargetHost = "localhost" } };

        await using Socks5Connection connection = await new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [Fact]
    public async Task Connect_WithoutATicket_AuthenticationFailed()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        string cache = kerberos.Realm.DefaultCredentialCachePath;
        string saved = cache + ".saved";
        File.Move(cache, saved);
        try
        {
            var proxy = KerberosServerFixture.Proxy(server);

            SocksException e = await Assert.ThrowsAsync<SocksException>(() => new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, 9).DefaultTimeout());

            Assert.Equal(SocksError.AuthenticationFailed, e.Error);
            Assert.Contains("failed on this side", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Move(saved, cache);
        }
    }

    [Fact]
    public async Task Chain_PlainHopThenGssapiHop_ConnectsAsThePrincipal()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer first = await TestServer.StartAsync();
        await using TestServer last = await kerberos.StartServerAsync(OnlyAlice);
        using var target = new TcpTarget();
        var client = new Socks5Client(first.Proxy(), KerberosServerFixture.Proxy(last));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [Fact]
    public async Task ProxyChain_GssapiAtLevelNone_OverTheCallersStream()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        using var target = new TcpTarget();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.EndPoint).DefaultTimeout();
        await using var stream = new NetworkStream(socket, ownsSocket: false);

        await ProxyChain.ConnectAsync(stream, [KerberosServerFixture.Proxy(server)], Destinations.FromIPAddress(IPAddress.Loopback), target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await stream.WriteAsync("ping"u8.ToArray()).DefaultTimeout();
        Assert.Equal("ping"u8.ToArray(), await accepted.ReceiveExactlyAsync(4));
    }

    private static void OnlyAlice(SockeyeServerOptions options)
    {
        // Only alice may connect: a command that succeeds proves the session's user is her principal.
        var rule = new AccessRule { Action = AccessAction.Allow };
        rule.Users.Add(KerberosRealm.UserPrincipalName);
        options.Rules.Add(rule);
    }
}
