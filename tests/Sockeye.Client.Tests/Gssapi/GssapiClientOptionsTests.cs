using System.Net;
using Sockeye.Client.Tests.Infrastructure;
using Sockeye.Protocol.Gssapi;

namespace Sockeye.Client.Tests.Gssapi;

/// <summary>
/// <see cref="GssapiClientOptions"/> and <see cref="Socks5Proxy.Gssapi"/>: defaults, the principal asked for, what is
/// refused before any I/O, and the methods the greeting offers (no Kerberos needed: the fake proxy answers before any
/// token would be made).
/// </summary>
public sealed class GssapiClientOptionsTests
{
    [Fact]
    public void Defaults_RcmdAtTheProxysHost_NoProtection_MutualAuthentication()
    {
        var options = new GssapiClientOptions();
        var proxy = new Socks5Proxy("proxy.example.org", 1080) { Gssapi = options };

        Assert.Equal("rcmd", options.ServiceName);
        Assert.Null(options.TargetHost);
        Assert.Equal(GssapiProtectionLevel.None, options.ProtectionLevel);
        Assert.Null(options.MinimumProtectionLevel);
        Assert.Equal(GssapiProtectionLevel.None, options.EffectiveMinimumProtectionLevel);
        Assert.True(options.RequireMutualAuthentication);
        Assert.False(options.UseNecProtectionNegotiation);
        Assert.Equal("rcmd/proxy.example.org", options.TargetNameFor(proxy));
        Assert.Same(options, proxy.Gssapi);
        Assert.Null(new Socks5Proxy("proxy.example.org", 1080).Gssapi);
    }

    [Fact]
    public void TargetNameFor_ServiceAndTargetHostGiven_UsesThem()
    {
        var options = new GssapiClientOptions { ServiceName = "socks", TargetHost = "proxy.example.org" };

        Assert.Equal("socks/proxy.example.org", options.TargetNameFor(new Socks5Proxy(new IPEndPoint(IPAddress.Loopback, 1080))));
    }

    [Fact]
    public void EffectiveMinimum_DefaultsToTheLevelAsked()
    {
        Assert.Equal(GssapiProtectionLevel.Confidentiality,
            new GssapiClientOptions { ProtectionLevel = GssapiProtectionLevel.Confidentiality }.EffectiveMinimumProtectionLevel);
        Assert.Equal(GssapiProtectionLevel.Integrity,
            new GssapiClientOptions { ProtectionLevel = GssapiProtectionLevel.Confidentiality, MinimumProtectionLevel = GssapiProtectionLevel.Integrity }.EffectiveMinimumProtectionLevel);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("rcmd/host")]
    [InlineData("rcmd@REALM")]
    [InlineData("a b")]
    public void ServiceNameOrTargetHost_NotANamePart_ArgumentException(string value)
    {
        Assert.ThrowsAny<ArgumentException>(() => new GssapiClientOptions { ServiceName = value });
        Assert.ThrowsAny<ArgumentException>(() => new GssapiClientOptions { TargetHost = value });
    }

    [Theory]
    [InlineData(GssapiProtectionLevel.Selective)]
    [InlineData((GssapiProtectionLevel)4)]
    public void Level_SelectiveOrUndefined_ArgumentOutOfRange(GssapiProtectionLevel level)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new GssapiClientOptions { ProtectionLevel = level });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GssapiClientOptions { MinimumProtectionLevel = level });
    }

    [Fact]
    public void Proxy_MinimumAboveTheLevelAsked_ArgumentException()
    {
        var options = new GssapiClientOptions { ProtectionLevel = GssapiProtectionLevel.Integrity, MinimumProtectionLevel = GssapiProtectionLevel.Confidentiality };

        ArgumentException e = Assert.Throws<ArgumentException>(() => new Socks5Proxy("proxy.example.org", 1080) { Gssapi = options });
        Assert.Contains("above the ProtectionLevel asked", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ProxyKind.Socks4a)]
    [InlineData(ProxyKind.Http)]
    public void Proxy_NotSocks5_ArgumentException(ProxyKind kind)
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => new Socks5Proxy(kind, "proxy.example.org", 1080) { Gssapi = new GssapiClientOptions() });
        Assert.Contains("SOCKS5 method", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, GssapiProtectionLevel.None, new byte[] { 5, 1, 1 })]
    [InlineData(true, GssapiProtectionLevel.None, new byte[] { 5, 2, 1, 2 })]
    [InlineData(true, GssapiProtectionLevel.Integrity, new byte[] { 5, 1, 1 })]
    public async Task Greeting_OffersGssapi_PasswordOnlyWithoutAMinimumProtection_NeverNoAuthentication(
        bool withCredential, GssapiProtectionLevel minimum, byte[] expected)
    {
        using var server = new FakeSocksServer();
        var proxy = new Socks5Proxy(server.EndPoint, withCredential ? new NetworkCredential("bob", "secret") : null)
        {
            Gssapi = new GssapiClientOptions { ProtectionLevel = minimum },
        };

        Task<Socks5Connection> connecting = new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, 9);
        using FakeSocksConnection connection = await server.AcceptAsync();
        Assert.Equal(expected, await connection.ReceiveGreetingAsync());
        await connection.SendAsync(5, 0xFF);

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting.DefaultTimeout());
        Assert.Equal(SocksError.NoAcceptableMethod, e.Error);
    }

    [Fact]
    public async Task ProxyChoosesNoAuthentication_WhenGssapiWasAsked_ProtocolViolation()
    {
        using var server = new FakeSocksServer();
        var proxy = new Socks5Proxy(server.EndPoint) { Gssapi = new GssapiClientOptions() };

        Task<Socks5Connection> connecting = new Socks5Client(proxy).ConnectAsync(IPAddress.Loopback, 9);
        using FakeSocksConnection connection = await server.AcceptAsync();
        await connection.ReceiveGreetingAsync();
        await connection.SendAsync(5, 0);

        SocksException e = await Assert.ThrowsAsync<SocksException>(() => connecting.DefaultTimeout());
        Assert.Equal(SocksError.ProtocolViolation, e.Error);
        Assert.Contains("chose authentication method X'00', which was not offered", e.Message, StringComparison.Ordinal);
    }
}
