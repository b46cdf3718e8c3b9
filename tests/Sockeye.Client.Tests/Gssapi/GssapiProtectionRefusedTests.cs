using System.Net;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client.Tests.Gssapi;

/// <summary>
/// A client that insists on protection against a proxy that grants less (a scripted RFC 1961 proxy with a real
/// acceptor, which grants none whatever is asked: Sockeye's server never grants less than asked): the client sends the
/// abort and fails with <see cref="SocksError.ProtectionLevelRefused"/>, as RFC 1961 §4 lets it.
/// </summary>
[Collection(KerberosEnvironment.Name)]
public sealed class GssapiProtectionRefusedTests(KerberosFixture kerberos) : IClassFixture<KerberosFixture>
{
    [Theory]
    [InlineData(GssapiProtectionLevel.Integrity, "Integrity")]
    [InlineData(GssapiProtectionLevel.Confidentiality, "Confidentiality")]
    public async Task Connect_ServerGrantsNone_BelowTheMinimum_ClientAbortsAndThrows(GssapiProtectionLevel wanted, string minimum)
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var fake = new FakeGssapiProxy();
        Socks5Proxy proxy = fake.Proxy(wanted);

        Task<Socks5Connection> connecting = new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, 9);
        using FakeGssapiProxy.Session session = await fake.AcceptAndGrantAsync(GssapiProtectionLevel.None);
        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting.DefaultTimeout());
        Assert.Equal((byte)wanted, session.Asked);
        Assert.Equal([1, 0xFF], await session.Socket.ReadToEndAsync());

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
        using var fake = new FakeGssapiProxy();
        var client = new Socks5Client(fake.Proxy(GssapiProtectionLevel.Integrity));

        Task<Socks5UdpClient> associating = client.UdpAssociateAsync();
        using FakeGssapiProxy.Session session = await fake.AcceptAndGrantAsync(GssapiProtectionLevel.None);
        SocksException e = await Assert.ThrowsAsync<SocksException>(() => associating.DefaultTimeout());

        Assert.Equal(SocksError.ProtectionLevelRefused, e.Error);
    }

    [Fact]
    public async Task ProxyChain_ProtectionAsked_RefusedBeforeAnyIO()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var fake = new FakeGssapiProxy();
        using var stream = new MemoryStream();

        ArgumentException e = await Assert.ThrowsAsync<ArgumentException>(() =>
            ProxyChain.ConnectAsync(stream, [fake.Proxy(GssapiProtectionLevel.Integrity)], Destinations.FromIPAddress(IPAddress.Loopback), 9));

        Assert.Contains("which ProxyChain cannot carry", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public async Task Connect_IntegrityWantedButNoneAccepted_ProxyGrantsNone_Connects()
    {
        using IDisposable environment = kerberos.Realm.UseInThisProcess();
        using var fake = new FakeGssapiProxy();
        Socks5Proxy proxy = fake.Proxy(GssapiProtectionLevel.Integrity, minimum: GssapiProtectionLevel.None);

        Task<Socks5Connection> connecting = new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, 9);
        using FakeGssapiProxy.Session session = await fake.AcceptAndGrantAsync(GssapiProtectionLevel.None);
        Assert.Equal((byte)GssapiProtectionLevel.Integrity, session.Asked);

        // Level none: the request comes plain, and the reply goes back plain.
        Assert.Equal([5, 1, 0, 1, 127, 0, 0, 1, 0, 9], await session.ReadExactlyAsync(10));
        await session.WriteAsync([5, 0, 0, 1, 127, 0, 0, 1, 0, 9]);
        await using Socks5Connection connection = await connecting.DefaultTimeout();
        Assert.Equal(GssapiProtectionLevel.None, connection.GssapiProtectionLevel);
        await connection.Stream.WriteAsync("plain"u8.ToArray());
        Assert.Equal("plain"u8.ToArray(), await session.ReadExactlyAsync(5));
    }
}
