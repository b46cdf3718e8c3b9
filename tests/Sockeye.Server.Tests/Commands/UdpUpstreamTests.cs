using System.Net;
using System.Net.Sockets;
using Sockeye.Client;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Commands;

/// <summary>
/// UDP ASSOCIATE through a SOCKS5 upstream (issue 21): the front server opens the association at the upstream (another
/// Sockeye) and passes each permitted datagram to its relay whole, and the relay's answers back whole.
/// </summary>
public sealed class UdpUpstreamTests
{
    // A name only the upstream can resolve: the front server must hand it on unresolved.
    private const string UpstreamOnlyName = "inside.upstream.test";

    [Fact]
    public async Task ThroughUpstream_SeveralDatagrams_ComeBackByteExact()
    {
        await using TestServer upstream = await TestServer.StartAsync();
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough(upstream)));
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(front.EndPoint);

        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        for (int i = 0; i < 5; i++)
        {
            byte[] payload = [.. "ping "u8, (byte)('0' + i), 0, 255, 13, 10];
            await client.SendAsync([.. header, .. payload]);
            byte[]? back = await client.ReceiveAsync(TestTimeouts.Default);
            AssertDatagram([.. header, .. payload], back);
        }

        // Both associations carried them: the front's toward the upstream, the upstream's toward the echo.
        await SocketTestExtensions.WaitUntilAsync(() => front.Server.UdpStatistics.ForwardedToClients == 5);
        await SocketTestExtensions.WaitUntilAsync(() => upstream.Server.UdpStatistics.ForwardedFromClients == 5);
        await SocketTestExtensions.WaitUntilAsync(() => upstream.Server.UdpStatistics.ForwardedToClients == 5);
    }

    [Fact]
    public async Task ThroughUpstream_NameOnlyTheUpstreamResolves_IsSentOnUnresolved()
    {
        await using TestServer upstream = await TestServer.StartAsync(resolver: new NameResolver(UpstreamOnlyName));
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough(upstream)), resolver: new NameResolver());
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(front.EndPoint);

        await client.SendAsync([.. UdpAssociateClient.Header(UpstreamOnlyName, echo.EndPoint.Port), .. "by name"u8]);

        // The answer names its source by address, as the upstream saw it.
        byte[]? back = await client.ReceiveAsync(TestTimeouts.Default);
        AssertDatagram([.. UdpAssociateClient.Header(echo.EndPoint), .. "by name"u8], back);
        Assert.Equal(0, front.Server.UdpStatistics.DroppedUnroutable);
    }

    [Fact]
    public async Task ThroughUpstream_DestinationSeesTheUpstreamAsTheSource()
    {
        // The upstream's datagrams leave from a second loopback address; the front's from the first.
        var upstreamEgress = IPAddress.Parse("127.0.0.2");
        await using TestServer upstream = await TestServer.StartAsync(o => o.Outbound.BindAddressV4 = upstreamEgress);
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough(upstream)));
        using var target = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        target.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var targetEndPoint = (IPEndPoint)target.LocalEndPoint!;
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(front.EndPoint);

        await client.SendAsync([.. UdpAssociateClient.Header(targetEndPoint), .. "who"u8]);
        byte[] buffer = new byte[100];
        SocketReceiveFromResult received = await target.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout();

        Assert.Equal("who"u8.ToArray(), buffer[..received.ReceivedBytes]);
        Assert.Equal(upstreamEgress, ((IPEndPoint)received.RemoteEndPoint).Address);
        await target.SendToAsync("you"u8.ToArray(), SocketFlags.None, received.RemoteEndPoint).DefaultTimeout();
        byte[]? back = await client.ReceiveAsync(TestTimeouts.Default);
        AssertDatagram([.. UdpAssociateClient.Header(targetEndPoint), .. "you"u8], back);
    }

    [Fact]
    public async Task ThroughUpstream_DeniedDestination_DroppedAtTheFront_OthersPass()
    {
        await using TestServer upstream = await TestServer.StartAsync();
        using var denied = new UdpEcho();
        using var echo = new UdpEcho();
        await using TestServer front = await TestServer.StartAsync(o =>
        {
            var deny = new AccessRule { Action = AccessAction.Deny };
            deny.Destinations.Add(DestinationPattern.ForNetwork(IPNetwork.Parse("127.0.0.1/32")));
            deny.Ports.Add(new PortRange((ushort)denied.EndPoint.Port, (ushort)denied.EndPoint.Port));
            o.Rules.Add(deny);
            o.Rules.Add(RouteTestSupport.RouteThrough(upstream));
        });
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(front.EndPoint);

        await client.SendAsync([.. UdpAssociateClient.Header(denied.EndPoint), .. "no"u8]);
        await SocketTestExtensions.WaitUntilAsync(() => front.Server.UdpStatistics.DroppedDenied == 1);
        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        await client.SendAsync([.. header, .. "yes"u8]);

        byte[]? back = await client.ReceiveAsync(TestTimeouts.Default);
        AssertDatagram([.. header, .. "yes"u8], back);
        Assert.Equal(0, denied.Received);
        Assert.Equal(1, upstream.Server.UdpStatistics.ForwardedFromClients);
    }

    [Fact]
    public async Task UpstreamDown_AnswersGeneralFailure_AndLogsTheRoute()
    {
        int down = RouteTestSupport.ClosedPort();
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough($"socks5://127.0.0.1:{down}")));

        (UdpAssociateClient? client, byte reply) = await UdpAssociateClient.TryOpenAsync(front.EndPoint);

        Assert.Null(client);
        Assert.Equal(1, reply);
        Assert.Contains(front.Logs.Lines, line => line.Contains("Sockeye.Server[1022]", StringComparison.Ordinal) && line.Contains($"127.0.0.1:{down}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UpstreamDown_FallbackDirect_ServesTheAssociationFromHere()
    {
        int down = RouteTestSupport.ClosedPort();
        await using TestServer front = await TestServer.StartAsync(o =>
        {
            AccessRule rule = RouteTestSupport.RouteThrough($"socks5://127.0.0.1:{down}");
            rule.Route!.Fallback = new RouteOptions();
            o.Rules.Add(rule);
        });
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(front.EndPoint);

        byte[] datagram = [.. UdpAssociateClient.Header(echo.EndPoint), .. "direct after all"u8];
        await client.SendAsync(datagram);

        AssertDatagram(datagram, await client.ReceiveAsync(TestTimeouts.Default));
    }

    [Fact]
    public async Task RouteWithBindAddress_DatagramsLeaveFromItAsTheControlConnectionDoes()
    {
        // The upstream takes datagrams only from the address its control connection came from: both must be 127.0.0.2.
        await using TestServer upstream = await TestServer.StartAsync();
        await using TestServer front = await TestServer.StartAsync(o =>
        {
            AccessRule rule = RouteTestSupport.RouteThrough(upstream);
            rule.Route!.BindAddressV4 = IPAddress.Parse("127.0.0.2");
            o.Rules.Add(rule);
        });
        using var echo = new UdpEcho();
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(front.EndPoint);

        byte[] datagram = [.. UdpAssociateClient.Header(echo.EndPoint), .. "from 127.0.0.2"u8];
        await client.SendAsync(datagram);

        AssertDatagram(datagram, await client.ReceiveAsync(TestTimeouts.Default));
        Assert.Equal(0, upstream.Server.UdpStatistics.DroppedForeignSource);
    }

    [Fact]
    public async Task RouteEndingWithHttp_CannotCarryUdp_AnswersCommandNotSupported()
    {
        await using TestServer upstream = await TestServer.StartAsync();
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough($"http://127.0.0.1:{upstream.EndPoint.Port}")));

        (UdpAssociateClient? client, byte reply) = await UdpAssociateClient.TryOpenAsync(front.EndPoint);

        Assert.Null(client);
        Assert.Equal(7, reply);
    }

    [Fact]
    public async Task ClientClosesTheControlConnection_EndsBothAssociations()
    {
        await using TestServer upstream = await TestServer.StartAsync();
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough(upstream)));
        using var echo = new UdpEcho();
        UdpAssociateClient client = await UdpAssociateClient.OpenAsync(front.EndPoint);
        byte[] header = UdpAssociateClient.Header(echo.EndPoint);
        await client.SendAsync([.. header, .. "x"u8]);
        Assert.NotNull(await client.ReceiveAsync(TestTimeouts.Default));
        Assert.Equal(1, upstream.Server.ActiveSessionCount);

        client.Dispose();

        await SocketTestExtensions.WaitUntilAsync(() => front.Server.ActiveSessionCount == 0);
        await SocketTestExtensions.WaitUntilAsync(() => upstream.Server.ActiveSessionCount == 0);
    }

    [Fact]
    public async Task UpstreamEnds_EndsTheFrontAssociation()
    {
        TestServer upstream = await TestServer.StartAsync();
        await using TestServer front = await TestServer.StartAsync(o => o.Rules.Add(RouteTestSupport.RouteThrough(upstream)));
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(front.EndPoint);
        Assert.Equal(1, front.Server.ActiveSessionCount);

        await upstream.DisposeAsync();

        await SocketTestExtensions.WaitUntilAsync(() => front.Server.ActiveSessionCount == 0);
        Assert.True(await IsClosedAsync(client.Control.Socket));
    }

    /// <summary>Whether the peer closed <paramref name="socket"/>, gracefully or with a reset.</summary>
    private static async Task<bool> IsClosedAsync(Socket socket)
    {
        try
        {
            return await socket.ReceiveAsync(new byte[1]).DefaultTimeout() == 0;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    private static void AssertDatagram(byte[] expected, byte[]? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected, actual);
    }
}
