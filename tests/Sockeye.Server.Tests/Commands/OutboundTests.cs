using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Configuration;
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

    [LinuxFact]
    public void BindSourceForConnect_LinuxEngine_LeavesThePortForTheConnectToPick()
    {
        // A port taken at bind time is one per connection whatever the destination: some 28 000 tunnels per source address.
        int fd = Sockeye.Server.Transport.Linux.RawSocket.CreateTcp(AddressFamily.InterNetwork);
        try
        {
            Assert.Equal(0, Sockeye.Server.Transport.Linux.RawSocket.BindSourceForConnect(fd, SecondLoopback));
            IPEndPoint bound = Sockeye.Server.Transport.Linux.RawSocket.LocalEndPoint(fd)!;
            Assert.Equal(SecondLoopback, bound.Address);
            Assert.Equal(0, bound.Port);
        }
        finally
        {
            Sockeye.Server.Transport.Linux.RawSocket.Close(fd);
        }
    }

    [LinuxFact]
    public void BindSourceForConnect_PortableEngine_LeavesThePortForTheConnectToPick()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Sockeye.Server.Transport.Portable.PortableEngine.BindSourceForConnect(socket, SecondLoopback);

        Assert.Equal(new IPEndPoint(SecondLoopback, 0), socket.LocalEndPoint);
    }

    [LinuxTheory]
    [InlineData(RelayEngine.Linux)]
    [InlineData(RelayEngine.Portable)]
    public async Task Connect_OutboundBindAddress_TwoTunnelsToTwoDestinations_BothConnectFromThatSource(RelayEngine engine)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Outbound.BindAddressV4 = SecondLoopback;
            o.RelayEngine = engine;
        });
        using var first = new TcpTarget();
        using var second = new TcpTarget();
        using RawClient toFirst = await RawClient.OpenTunnelAsync(server.EndPoint, first.EndPoint);
        using RawClient toSecond = await RawClient.OpenTunnelAsync(server.EndPoint, second.EndPoint);
        using Socket acceptedFirst = await first.AcceptAsync();
        using Socket acceptedSecond = await second.AcceptAsync();

        Assert.Equal(SecondLoopback, ((IPEndPoint)acceptedFirst.RemoteEndPoint!).Address);
        Assert.Equal(SecondLoopback, ((IPEndPoint)acceptedSecond.RemoteEndPoint!).Address);
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
