using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client.Tests.Gssapi;

/// <summary>
/// Protection levels integrity and confidentiality end to end against the real Sockeye server: every byte after the
/// protection answer wrapped (RFC 1961 §5), UDP datagrams encapsulated.
/// </summary>
/// <remarks>The server's <c>gssapi.minimumProtection</c> is left at none: the level comes from the client.</remarks>
[Collection(KerberosEnvironment.Name)]
public sealed class GssapiProtectionEndToEndTests(KerberosServerFixture kerberos) : IClassFixture<KerberosServerFixture>
{
    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity)]
    [InlineData(GssapiProtectionLevel.Confidentiality)]
    public async Task Connect_Protected_TunnelCarriesBytesBothWays(GssapiProtectionLevel level)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(KerberosServerFixture.Proxy(server, level));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        Assert.Equal(level, connection.GssapiProtectionLevel);
        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);

        // More than one message's worth, so the server reassembles and splits too.
        byte[] large = TestData.RandomBytes(100_000, seed: 7);
        Task send = connection.Stream.WriteAsync(large).AsTask();
        Assert.Equal(large, await accepted.ReceiveExactlyAsync(large.Length));
        await send.DefaultTimeout();
        await accepted.SendAsync(large, SocketFlags.None).DefaultTimeout();
        byte[] back = new byte[large.Length];
        await connection.Stream.ReadExactlyAsync(back).DefaultTimeout();
        Assert.Equal(large, back);
    }

    [Fact]
    public async Task HttpClient_Confidentiality_FetchesTheBody()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        using var http = new HttpTestServer("wrapped all the way");
        using var client = new HttpClient(Socks5HttpHandler.Create(new Socks5Client(KerberosServerFixture.Proxy(server, GssapiProtectionLevel.Confidentiality))));

        string body = await client.GetStringAsync(new Uri($"http://127.0.0.1:{http.Port}/")).DefaultTimeout();

        Assert.Equal("wrapped all the way", body);
    }

    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity)]
    [InlineData(GssapiProtectionLevel.Confidentiality)]
    public async Task Bind_Protected_BothRepliesWrapped_PeerBytesBothWays(GssapiProtectionLevel level)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        var client = new Socks5Client(KerberosServerFixture.Proxy(server, level));

        await using Socks5BindOperation bind = await client.BindAsync(IPAddress.Loopback, 0).DefaultTimeout();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(bind.AnnouncedEndPoint!).DefaultTimeout();
        await using Socks5Connection connection = await bind.AcceptAsync().DefaultTimeout();

        Assert.Equal(level, connection.GssapiProtectionLevel);
        Assert.Equal(peer.LocalEndPoint, new IPEndPoint(connection.BoundAddress.ToIPAddress(), connection.BoundPort));
        await Socks5ClientTests.AssertRelaysAsync(connection, peer);
    }

    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity)]
    [InlineData(GssapiProtectionLevel.Confidentiality)]
    public async Task UdpAssociate_Protected_DatagramsEncapsulated_EchoComesBack(GssapiProtectionLevel level)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        using var echo = new UdpEcho();
        var client = new Socks5Client(KerberosServerFixture.Proxy(server, level));

        await using Socks5UdpClient udp = await client.UdpAssociateAsync().DefaultTimeout();
        await udp.SendToAsync("wrapped datagram"u8.ToArray(), echo.EndPoint).DefaultTimeout();
        byte[] buffer = new byte[100];
        Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer).DefaultTimeout();

        Assert.Equal(level, udp.GssapiProtectionLevel);
        Assert.Equal("wrapped datagram"u8.ToArray(), buffer[..result.ReceivedBytes]);
        Assert.Equal(echo.EndPoint, new IPEndPoint(result.Source.ToIPAddress(), result.SourcePort));
    }
}
