using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Robustness;

/// <summary>What the hostile-client tests share: a strict reading of how the server closed, a client reset, and the check that a batch left the server serving.</summary>
internal static class Hostile
{
    /// <summary>
    /// Reads until the peer ends the stream and returns what it sent and how it ended: <see cref="SocketError.Success"/>
    /// for a FIN, else the error (a reset). Unlike <see cref="RawClient.ReadToEndAsync"/>, which takes a reset for a
    /// close, this tells FIN from RST. More than <paramref name="limit"/> bytes fails the test.
    /// </summary>
    public static async Task<(byte[] Received, SocketError End)> ReadToEndAsync(Socket socket, int limit = 1 << 20)
    {
        using var collected = new MemoryStream();
        byte[] buffer = new byte[16 * 1024];
        while (collected.Length <= limit)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout();
            }
            catch (SocketException e)
            {
                return (collected.ToArray(), e.SocketErrorCode);
            }

            if (read == 0)
            {
                return (collected.ToArray(), SocketError.Success);
            }

            collected.Write(buffer, 0, read);
        }

        Assert.Fail($"more than {limit} byte(s) and the stream goes on");
        return ([], SocketError.Success);
    }

    /// <summary>Reads until the peer's FIN and returns what it sent; a reset instead fails the test, with what had arrived.</summary>
    public static async Task<byte[]> ReadToFinAsync(Socket socket, int limit = 1 << 20)
    {
        (byte[] received, SocketError end) = await ReadToEndAsync(socket, limit);
        Assert.True(end == SocketError.Success,
            $"The peer closed with {end} (a reset), not a FIN, after {received.Length} byte(s): {Convert.ToHexString(received.AsSpan(0, Math.Min(received.Length, 64)))}");
        return received;
    }

    /// <summary>Closes with RST, as a client that crashes or is killed does.</summary>
    public static void Reset(Socket socket)
    {
        socket.LingerState = new LingerOption(true, 0);
        socket.Dispose();
    }

    /// <summary>A plain socket connected to <paramref name="server"/>.</summary>
    public static async Task<Socket> ConnectAsync(IPEndPoint server)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(server).DefaultTimeout();
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A CONNECT through <paramref name="server"/> to a fresh target (as <paramref name="user"/> when the server requires a
    /// login), with bytes both ways and a clean end: the server still serves.
    /// </summary>
    public static async Task AssertNormalConnectWorksAsync(TestServer server, string? user = null, string? password = null)
    {
        using var target = new TcpTarget();
        using Socket client = await ConnectAsync(server.EndPoint);
        if (user is null)
        {
            byte[] handshake = [.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(target.EndPoint)];
            await client.SendAsync(handshake).DefaultTimeout();
            Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        }
        else
        {
            byte[] handshake = [.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(user, password!), .. Socks5Bytes.Connect(target.EndPoint)];
            await client.SendAsync(handshake).DefaultTimeout();
            Assert.Equal(new byte[] { 5, 2, 1, 0 }, await client.ReceiveExactlyAsync(4));
        }

        Assert.Equal(0, (await client.ReceiveExactlyAsync(10))[1]);
        using Socket accepted = await target.AcceptAsync();
        byte[] up = TestData.RandomBytes(4096, seed: 7);
        byte[] down = TestData.RandomBytes(4096, seed: 8);
        await client.SendAllThenShutdownAsync(up);
        Assert.Equal(up, await accepted.ReadToEndAsync());
        await accepted.SendAllThenShutdownAsync(down);
        Assert.Equal(down, await ReadToFinAsync(client));
    }
}
