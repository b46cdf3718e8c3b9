using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Commands;

public sealed class OutboundTests
{
    private static readonly IPAddress SecondLoopback = IPAddress.Parse("127.0.0.2");

    [Fact]
    public async Task Connect_OutboundBindAddressConfigured_DestinationSeesThatSource()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Outbound.BindAddressV4 = SecondLoopback);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        Assert.Equal(SecondLoopback, ((IPEndPoint)accepted.RemoteEndPoint!).Address);
    }

    [Fact]
    public async Task UdpAssociate_OutboundBindAddressConfigured_DestinationSeesThatSource()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Outbound.BindAddressV4 = SecondLoopback);
        using var destination = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        destination.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        await client.SendAsync([.. UdpAssociateClient.Header((IPEndPoint)destination.LocalEndPoint!), 42]);
        byte[] buffer = new byte[16];
        SocketReceiveFromResult received = await destination.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout();

        Assert.Equal(SecondLoopback, ((IPEndPoint)received.RemoteEndPoint).Address);
        Assert.Equal(42, buffer[0]);
    }
}
