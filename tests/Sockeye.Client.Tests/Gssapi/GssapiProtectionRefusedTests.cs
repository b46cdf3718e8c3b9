using System.Net;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client.Tests.Gssapi;

/// <summary>
/// A client that insists on protection against a server that grants none (today's Sockeye server always answers level
/// none): the client sends the abort and fails with <see cref="SocksError.ProtectionLevelRefused"/>, as RFC 1961 §4
/// lets it. Valid behaviour whatever the server becomes: a server that grants the level asked makes the tests in
/// GssapiProtectionEndToEndTests pass instead, and these must then be pointed at a server configured to grant less.
/// </summary>
[Collection(KerberosEnvironment.Name)]
public sealed class GssapiProtectionRefusedTests(KerberosServerFixture kerberos) : IClassFixture<KerberosServerFixture>
{
    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity, "Integrity")]
    [InlineData(GssapiProtectionLevel.Confidentiality, "Confidentiality")]
    public async Task Connect_ServerGrantsNone_BelowTheMinimum_ClientAbortsAndThrows(GssapiProtectionLevel wanted, string minimum)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        Socks5Proxy proxy = KerberosServerFixture.Proxy(server, wanted);

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, 9).DefaultTimeout());

        Assert.Equal(SocksError.ProtectionLevelRefused, e.Error);
        Assert.Equal(
            $"SOCKS5 proxy {proxy} granted GSSAPI protection level none (X'00'), below the minimum this client accepts, {minimum}; the client aborted (X'01 FF').",
            e.Message);
        Assert.Same(proxy, e.Proxy);
    }

    [Fact]
    public async Task UdpAssociate_ServerGrantsNone_BelowTheMinimum_Throws()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        var client = new Socks5Client(KerberosServerFixture.Proxy(server, GssapiProtectionLevel.Integrity));

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => client.UdpAssociateAsync().DefaultTimeout());

        Assert.Equal(SocksError.ProtectionLevelRefused, e.Error);
    }

    [Fact]
    public async Task ProxyChain_ProtectionAsked_RefusedBeforeAnyIO()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        await using TestServer server = await kerberos.StartServerAsync();
        using var stream = new MemoryStream();

        ArgumentException e = await Assert.ThrowsAsync<ArgumentException>(() =>
            ProxyChain.ConnectAsync(stream, [KerberosServerFixture.Proxy(server, GssapiProtectionLevel.Integrity)], Destinations.FromIPAddress(IPAddress.Loopback), 9));

        Assert.Contains("which ProxyChain cannot carry", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, stream.Length);
    }
}
