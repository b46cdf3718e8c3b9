using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Socks5;

namespace Sockeye.Client.Tests.ThirdParty;

/// <summary>
/// Dante (Debian's dante-server), a SOCKS5 server nobody here wrote, run on loopback with a sockd.conf written by the
/// test. No authentication: Dante's username method checks system accounts, which a test should not create.
/// </summary>
public sealed class DanteTests
{
    [DanteFact]
    public async Task Dante_ConnectToIPv4_RelaysBothWays()
    {
        await using ExternalServer dante = await StartDanteAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(new Socks5Proxy(dante.EndPoint));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
        Assert.Equal(accepted.RemoteEndPoint, new IPEndPoint(connection.BoundAddress.ToIPAddress(), connection.BoundPort));
    }

    [DanteFact]
    public async Task Dante_ConnectToDomainName_ResolvesItAndRelays()
    {
        await using ExternalServer dante = await StartDanteAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(new Socks5Proxy(dante.EndPoint));

        await using Socks5Connection connection = await client.ConnectAsync("localhost", target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [DanteFact]
    public async Task Dante_ConnectToClosedPort_ThrowsConnectionRefused()
    {
        await using ExternalServer dante = await StartDanteAsync();
        int closedPort = Socks5ClientTests.ReserveClosedPort();
        var client = new Socks5Client(new Socks5Proxy(dante.EndPoint));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, closedPort)).DefaultTimeout();

        Assert.Equal(SocksError.CommandFailed, e.Error);
        Assert.Equal(Socks5ReplyCode.ConnectionRefused, e.ReplyCode);
    }

    // Dante 1.4.2 answers a SOCKS4a request (a name after 0.0.0.1) with 91 under this configuration, even to a listening
    // port, so only the plain SOCKS4 form (an IPv4 address) is checked against it; SOCKS4a names are checked against
    // Sockeye (ProxyKindsTests).
    [DanteFact]
    public async Task Dante_Socks4ConnectToIPv4_RelaysBothWays()
    {
        await using ExternalServer dante = await StartDanteAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Socks4a, dante.EndPoint));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [DanteFact]
    public async Task Dante_Socks4aConnectToClosedPort_ThrowsGeneralFailureWithCd91()
    {
        await using ExternalServer dante = await StartDanteAsync();
        int closedPort = Socks5ClientTests.ReserveClosedPort();
        var client = new Socks5Client(new Socks5Proxy(ProxyKind.Socks4a, dante.EndPoint));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, closedPort)).DefaultTimeout();

        Assert.Equal(SocksError.CommandFailed, e.Error);
        Assert.Equal(Socks5ReplyCode.GeneralFailure, e.ReplyCode);
        Assert.Equal(91, e.UpstreamStatus);
    }

    [DanteFact]
    public async Task Dante_Bind_PeerConnectsAndRelays()
    {
        await using ExternalServer dante = await StartDanteAsync();
        var client = new Socks5Client(new Socks5Proxy(dante.EndPoint));

        await using Socks5BindOperation bind = await client.BindAsync(IPAddress.Loopback, 0).DefaultTimeout();
        IPEndPoint announced = Assert.IsType<IPEndPoint>(bind.AnnouncedEndPoint);
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(announced).DefaultTimeout();
        await using Socks5Connection connection = await bind.AcceptAsync().DefaultTimeout();

        Assert.Equal(peer.LocalEndPoint, new IPEndPoint(connection.BoundAddress.ToIPAddress(), connection.BoundPort));
        await Socks5ClientTests.AssertRelaysAsync(connection, peer);
    }

    [DanteFact]
    public async Task Dante_UdpAssociate_RoundTripsWithItsSource()
    {
        await using ExternalServer dante = await StartDanteAsync();
        using var echo = new UdpEcho();
        var client = new Socks5Client(new Socks5Proxy(dante.EndPoint));

        await using Socks5UdpClient udp = await client.UdpAssociateAsync().DefaultTimeout();
        await udp.SendToAsync("dante"u8.ToArray(), echo.EndPoint).DefaultTimeout();
        byte[] buffer = new byte[64];
        Socks5UdpReceiveResult result = await udp.ReceiveFromAsync(buffer).DefaultTimeout();

        Assert.Equal("dante"u8.ToArray(), buffer[..result.ReceivedBytes]);
        Assert.Equal(echo.EndPoint, new IPEndPoint(result.Source.ToIPAddress(), result.SourcePort));
    }

    /// <summary>danted in the foreground with one worker (-N 1), its own config and pid file in a temporary directory.</summary>
    private static async Task<ExternalServer> StartDanteAsync()
    {
        string directory = Directory.CreateTempSubdirectory("sockeye-dante-").FullName;
        int port = ExternalServer.ChooseFreePort();
        string config = Path.Combine(directory, "sockd.conf");
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $$"""
            logoutput: stderr
            internal: 127.0.0.1 port = {{port}}
            external: 127.0.0.1
            clientmethod: none
            socksmethod: none
            user.privileged: root
            user.unprivileged: nobody
            client pass {
                from: 127.0.0.0/8 to: 127.0.0.0/8
            }
            socks pass {
                from: 127.0.0.0/8 to: 127.0.0.0/8
                command: connect bind bindreply udpassociate udpreply
            }
            """));
        return await ExternalServer.StartAsync(DanteFactAttribute.Path, ["-f", config, "-N", "1", "-p", Path.Combine(directory, "danted.pid")], port, directory);
    }
}
