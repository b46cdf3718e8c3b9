using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Sockeye.Client.Tests.Infrastructure;

namespace Sockeye.Client.Tests.ThirdParty;

/// <summary>microsocks (Debian's microsocks), a second SOCKS5 server nobody here wrote, with a username and password.</summary>
public sealed class MicrosocksTests
{
    [MicrosocksFact]
    public async Task Microsocks_ConnectWithUser_RelaysBothWays()
    {
        await using ExternalServer microsocks = await StartMicrosocksAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(new Socks5Proxy(microsocks.EndPoint, new NetworkCredential("alice", "secret")));

        await using Socks5Connection connection = await client.ConnectAsync(IPAddress.Loopback, target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [MicrosocksFact]
    public async Task Microsocks_ConnectToDomainName_RelaysBothWays()
    {
        await using ExternalServer microsocks = await StartMicrosocksAsync();
        using var target = new TcpTarget();
        var client = new Socks5Client(new Socks5Proxy(microsocks.EndPoint, new NetworkCredential("alice", "secret")));

        await using Socks5Connection connection = await client.ConnectAsync("localhost", target.Port).DefaultTimeout();
        using Socket accepted = await target.AcceptAsync();

        await Socks5ClientTests.AssertRelaysAsync(connection, accepted);
    }

    [MicrosocksFact]
    public async Task Microsocks_WrongPassword_ThrowsAuthenticationFailed()
    {
        await using ExternalServer microsocks = await StartMicrosocksAsync();
        var client = new Socks5Client(new Socks5Proxy(microsocks.EndPoint, new NetworkCredential("alice", "wrong")));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, 9)).DefaultTimeout();

        Assert.Equal(SocksError.AuthenticationFailed, e.Error);
    }

    [MicrosocksFact]
    public async Task Microsocks_NoCredentials_ThrowsNoAcceptableMethod()
    {
        await using ExternalServer microsocks = await StartMicrosocksAsync();
        var client = new Socks5Client(new Socks5Proxy(microsocks.EndPoint));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.ConnectAsync(IPAddress.Loopback, 9)).DefaultTimeout();

        Assert.Equal(SocksError.NoAcceptableMethod, e.Error);
    }

    /// <summary><c>microsocks -i 127.0.0.1 -p N -u alice -P secret</c>.</summary>
    internal static Task<ExternalServer> StartMicrosocksAsync()
    {
        int port = ExternalServer.ChooseFreePort();
        return ExternalServer.StartAsync(
            MicrosocksFactAttribute.Path, ["-i", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-u", "alice", "-P", "secret"], port);
    }
}
