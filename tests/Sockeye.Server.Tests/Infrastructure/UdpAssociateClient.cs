using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>A raw-byte UDP ASSOCIATE client: the control connection, a UDP socket, and the relay's announced endpoint.</summary>
internal sealed class UdpAssociateClient : IDisposable
{
    private UdpAssociateClient(RawClient control, Socket udp, IPEndPoint relay, byte[] reply)
    {
        Control = control;
        Udp = udp;
        Relay = relay;
        Reply = reply;
    }

    public RawClient Control { get; }

    public Socket Udp { get; }

    public IPEndPoint Relay { get; }

    public byte[] Reply { get; }

    /// <summary>Associates; the request names the UDP socket's port when <paramref name="namePort"/>, else 0.0.0.0:0.</summary>
    public static async Task<UdpAssociateClient> OpenAsync(IPEndPoint server, bool namePort = true, IPAddress? udpAddress = null)
    {
        (UdpAssociateClient? client, byte replyCode) = await TryOpenAsync(server, namePort, udpAddress);
        Assert.Equal(0, replyCode);
        return client!;
    }

    /// <summary>
    /// Asks to associate, as <see cref="OpenAsync"/>; the client when the reply is a success, else <see langword="null"/>
    /// (and its sockets closed) with the reply code.
    /// </summary>
    public static async Task<(UdpAssociateClient? Client, byte ReplyCode)> TryOpenAsync(IPEndPoint server, bool namePort = true, IPAddress? udpAddress = null)
    {
        udpAddress ??= server.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Loopback : IPAddress.IPv6Loopback;
        var udp = new Socket(udpAddress.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(udpAddress, 0));
        RawClient control = await RawClient.ConnectAsync(server);
        ushort port = namePort ? (ushort)((IPEndPoint)udp.LocalEndPoint!).Port : (ushort)0;
        IPAddress any = server.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any;
        await control.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(any, port), command: 3)]);
        Assert.Equal(new byte[] { 5, 0 }, await control.ReceiveExactlyAsync(2));
        byte[] reply = await control.ReceiveReplyAsync();
        if (reply[1] != 0)
        {
            control.Dispose();
            udp.Dispose();
            return (null, reply[1]);
        }

        return (new UdpAssociateClient(control, udp, Socks5Bytes.BoundEndPoint(reply), reply), 0);
    }

    public static byte[] Header(IPEndPoint destination, byte fragment = 0)
    {
        byte[] address = destination.Address.GetAddressBytes();
        byte[] header = [0, 0, fragment, address.Length == 4 ? (byte)1 : (byte)4, .. address, 0, 0];
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(header.Length - 2), (ushort)destination.Port);
        return header;
    }

    public static byte[] Header(string host, int port)
    {
        byte[] name = Encoding.ASCII.GetBytes(host);
        return [0, 0, 0, 3, (byte)name.Length, .. name, (byte)(port >> 8), (byte)port];
    }

    public Task SendAsync(byte[] datagram, IPEndPoint? relay = null) =>
        Udp.SendToAsync(datagram, SocketFlags.None, relay ?? Relay).DefaultTimeout();

    /// <summary>Receives one datagram from the relay, or null if none arrives within <paramref name="timeout"/>.</summary>
    public async Task<byte[]?> ReceiveAsync(TimeSpan timeout)
    {
        byte[] buffer = new byte[65536];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            EndPoint any = Udp.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
            SocketReceiveFromResult result = await Udp.ReceiveFromAsync(buffer, SocketFlags.None, any, cts.Token);
            Assert.Equal(Relay.Port, ((IPEndPoint)result.RemoteEndPoint).Port);
            return buffer[..result.ReceivedBytes];
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        Control.Dispose();
        Udp.Dispose();
    }
}
