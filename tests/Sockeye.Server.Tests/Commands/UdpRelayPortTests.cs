using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Commands;

/// <summary>
/// <c>udp.portRange</c> and <c>udp.advertiseAddress</c> per family (issue 20): the relay a UDP ASSOCIATE reply announces
/// is on a port of the range, on both engines.
/// </summary>
/// <remarks>
/// Each test takes a small range at a random base between 20000 and 30000, below the kernel's ephemeral ports, so that
/// the tests (of both engines, and of both test assemblies, which may run at once) rarely share a port. Another process
/// may still hold one: the ranges are a few ports larger than needed, and the tests assert on what the server reports
/// rather than on which ports it must have taken.
/// </remarks>
public abstract class UdpRelayPortTests
{
    private const int GeneralFailure = 1;

    /// <summary>The engine under test.</summary>
    protected abstract RelayEngine Mode { get; }

    private Task<TestServer> StartServerAsync(Action<SockeyeServerOptions> configure) =>
        TestServer.StartAsync(options =>
        {
            options.RelayEngine = Mode;
            configure(options);
        });

    private static PortRange RandomRange(int size)
    {
        int first = Random.Shared.Next(20000, 30000 - size);
        return new PortRange((ushort)first, (ushort)(first + size - 1));
    }

    [Fact]
    public async Task Associate_PortRangeConfigured_AnnouncedPortIsInTheRangeAndDatagramsRelay()
    {
        PortRange range = RandomRange(8);
        await using TestServer server = await StartServerAsync(o => o.Udp.PortRange = range);
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        Assert.True(range.Contains(client.Relay.Port), $"relay port {client.Relay.Port} outside {range}");
        Assert.Equal(IPAddress.Loopback, client.Relay.Address);
        byte[] datagram = [.. UdpAssociateClient.Header(echo.EndPoint), .. "in range"u8];
        await client.SendAsync(datagram);
        Assert.Equal(datagram, await client.ReceiveAsync(TestTimeouts.Default));
    }

    [Fact]
    public async Task Associate_PortOfTheRangeHeldByAnotherSocket_PassedOver()
    {
        PortRange range = RandomRange(4);
        using var foreign = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            // A fresh server starts its search at the range's first port.
            foreign.Bind(new IPEndPoint(IPAddress.Loopback, range.First));
        }
        catch (SocketException)
        {
            // Someone else holds it already, which passes it over just the same.
        }

        await using TestServer server = await StartServerAsync(o => o.Udp.PortRange = range);
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        Assert.True(range.Contains(client.Relay.Port), $"relay port {client.Relay.Port} outside {range}");
        Assert.NotEqual(range.First, client.Relay.Port);
        byte[] datagram = [.. UdpAssociateClient.Header(echo.EndPoint), .. "next port"u8];
        await client.SendAsync(datagram);
        Assert.Equal(datagram, await client.ReceiveAsync(TestTimeouts.Default));
    }

    [Fact]
    public async Task Associate_EveryPortTaken_AnsweredGeneralFailureLoggedAndCounted_AndAnEndedAssociationFreesItsPort()
    {
        PortRange range = RandomRange(6);
        await using TestServer server = await StartServerAsync(o => o.Udp.PortRange = range);
        var open = new List<UdpAssociateClient>();
        try
        {
            // Associate until the server says the range is full: at most one more request than the range has ports.
            byte refusal = 0;
            for (int attempt = 0; attempt <= range.Count && refusal == 0; attempt++)
            {
                (UdpAssociateClient? client, byte replyCode) = await UdpAssociateClient.TryOpenAsync(server.EndPoint);
                if (client is null)
                {
                    refusal = replyCode;
                }
                else
                {
                    open.Add(client);
                }
            }

            Assert.Equal(GeneralFailure, refusal);
            Assert.NotEmpty(open);
            Assert.All(open, client => Assert.True(range.Contains(client.Relay.Port), $"relay port {client.Relay.Port} outside {range}"));
            Assert.Equal(open.Count, open.Select(client => client.Relay.Port).Distinct().Count());
            Assert.Equal(1, server.Server.UdpStatistics.PortRangeExhausted);
            Assert.Single(server.Logs.Lines, line => line.Contains("[1019]", StringComparison.Ordinal) && line.Contains(range.ToString(), StringComparison.Ordinal));

            // One association ends; once its session has, its port serves the next request.
            open[0].Dispose();
            open.RemoveAt(0);
            await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == open.Count);
            using UdpAssociateClient next = await UdpAssociateClient.OpenAsync(server.EndPoint);

            Assert.True(range.Contains(next.Relay.Port), $"relay port {next.Relay.Port} outside {range}");
            Assert.DoesNotContain(next.Relay.Port, open.Select(client => client.Relay.Port));
            using var echo = new UdpEcho();
            byte[] datagram = [.. UdpAssociateClient.Header(echo.EndPoint), .. "freed"u8];
            await next.SendAsync(datagram);
            Assert.Equal(datagram, await next.ReceiveAsync(TestTimeouts.Default));
        }
        finally
        {
            foreach (UdpAssociateClient client in open)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task Associate_AdvertiseAddressPerFamily_EachRelayAnnouncesItsFamilys()
    {
        IPAddress v4 = IPAddress.Parse("192.0.2.9");
        IPAddress v6 = IPAddress.Parse("2001:db8::9");
        await using TestServer server = await StartServerAsync(o =>
        {
            o.Udp.AdvertiseAddressV4 = v4;
            o.Udp.AdvertiseAddressV6 = v6;
            o.Listeners.Add(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        });

        using UdpAssociateClient overIPv4 = await UdpAssociateClient.OpenAsync(server.Server.LocalEndPoints[0]);
        using UdpAssociateClient overIPv6 = await UdpAssociateClient.OpenAsync(server.Server.LocalEndPoints[1]);

        Assert.Equal(v4, overIPv4.Relay.Address);
        Assert.Equal(v6, overIPv6.Relay.Address);
    }

    [Fact]
    public async Task Associate_OneAdvertiseAddress_AnnouncedForRelaysOfEitherFamily()
    {
        // As before per-family addresses: one address serves every relay (a balancer that takes IPv4 and reaches the
        // server over IPv6, say).
        IPAddress advertised = IPAddress.Parse("192.0.2.10");
        await using TestServer server = await StartServerAsync(o =>
        {
            o.Udp.AdvertiseAddress = advertised;
            o.Listeners.Add(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        });

        using UdpAssociateClient overIPv4 = await UdpAssociateClient.OpenAsync(server.Server.LocalEndPoints[0]);
        using UdpAssociateClient overIPv6 = await UdpAssociateClient.OpenAsync(server.Server.LocalEndPoints[1]);

        Assert.Equal(advertised, overIPv4.Relay.Address);
        Assert.Equal(advertised, overIPv6.Relay.Address);
    }
}

/// <summary>The relay ports with the association's sockets on an event loop (Linux).</summary>
public sealed class UdpRelayPortOnEventLoopTests : UdpRelayPortTests
{
    protected override RelayEngine Mode => OperatingSystem.IsLinux() ? RelayEngine.Linux : RelayEngine.Auto;
}

/// <summary>The relay ports with awaiting receives (the portable engine).</summary>
public sealed class UdpRelayPortPortableTests : UdpRelayPortTests
{
    protected override RelayEngine Mode => RelayEngine.Portable;
}
