using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>A client that speaks SOCKS5 as raw bytes, so tests see exactly what the server sends.</summary>
internal sealed class RawClient : IDisposable
{
    private RawClient(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    /// <summary>Wraps a socket the test connected itself (e.g. from a chosen source address).</summary>
    public static RawClient Wrap(Socket socket) => new(socket);

    public static async Task<RawClient> ConnectAsync(IPEndPoint server)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server).DefaultTimeout();
        return new RawClient(socket);
    }

    /// <summary>Connects and completes a no-auth CONNECT to <paramref name="destination"/>; asserts success.</summary>
    public static async Task<RawClient> OpenTunnelAsync(IPEndPoint server, IPEndPoint destination)
    {
        RawClient client = await ConnectAsync(server);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(destination)]);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        byte[] reply = await client.ReceiveReplyAsync();
        Assert.Equal(0, reply[1]);
        return client;
    }

    /// <summary>
    /// Sends a no-auth greeting and <paramref name="request"/> on a new connection and returns the reply code; after a
    /// failure reply, asserts that the server closes the connection with nothing more.
    /// </summary>
    public static async Task<byte> RequestAsync(IPEndPoint server, byte[] request)
    {
        using RawClient client = await ConnectAsync(server);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. request]);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        byte[] reply = await client.ReceiveReplyAsync();
        if (reply[1] != 0)
        {
            Assert.Empty(await client.ReadToEndAsync());
        }

        return reply[1];
    }

    public Task SendAsync(byte[] bytes) => Socket.SendAsync(bytes, SocketFlags.None).DefaultTimeout();

    public Task<byte[]> ReceiveExactlyAsync(int count) => Socket.ReceiveExactlyAsync(count);

    /// <summary>Reads one SOCKS5 reply, whatever its address type.</summary>
    public async Task<byte[]> ReceiveReplyAsync()
    {
        byte[] head = await ReceiveExactlyAsync(5);
        int rest = head[3] switch
        {
            1 => 3 + 2,
            4 => 15 + 2,
            3 => head[4] + 2,
            _ => throw new InvalidDataException($"Reply with ATYP {head[3]}"),
        };
        return [.. head, .. await ReceiveExactlyAsync(rest)];
    }

    /// <summary>Reads until the server closes, and returns everything it sent. A reset after the data counts as a close.</summary>
    public Task<byte[]> ReadToEndAsync(int limit = 1 << 20) => Socket.ReadToEndAsync(limit);

    public void Dispose() => Socket.Dispose();
}

/// <summary>SOCKS5 messages as bytes, written out by hand (not with the codec under test).</summary>
internal static class Socks5Bytes
{
    public static readonly byte[] NoAuthGreeting = [5, 1, 0];

    public static readonly byte[] PasswordGreeting = [5, 1, 2];

    public static byte[] Credentials(string user, string password)
    {
        byte[] u = Encoding.UTF8.GetBytes(user);
        byte[] p = Encoding.UTF8.GetBytes(password);
        return [1, (byte)u.Length, .. u, (byte)p.Length, .. p];
    }

    public static byte[] Connect(IPEndPoint destination, byte command = 1)
    {
        byte[] address = destination.Address.GetAddressBytes();
        byte atyp = address.Length == 4 ? (byte)1 : (byte)4;
        byte[] port = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(port, (ushort)destination.Port);
        return [5, command, 0, atyp, .. address, .. port];
    }

    public static byte[] ConnectDomain(string host, int port)
    {
        byte[] name = Encoding.ASCII.GetBytes(host);
        return [5, 1, 0, 3, (byte)name.Length, .. name, (byte)(port >> 8), (byte)port];
    }

    public static IPEndPoint BoundEndPoint(byte[] reply)
    {
        Assert.True(reply[3] is 1 or 4, $"ATYP {reply[3]}");
        int length = reply[3] == 1 ? 4 : 16;
        var address = new IPAddress(reply.AsSpan(4, length));
        return new IPEndPoint(address, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(4 + length)));
    }
}
