using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sockeye.Tests.TestSupport;

/// <summary>A SOCKS5 client written byte by byte from RFC 1928 and RFC 1929, to talk to the real executable.</summary>
internal static class Socks5Client
{
    /// <summary>Connects to the proxy and asks it for a CONNECT to 127.0.0.1:<paramref name="targetPort"/>; returns the tunnel.</summary>
    /// <param name="credentials">A username and password to authenticate with, or <see langword="null"/> to offer "no authentication".</param>
    public static async Task<Socket> ConnectAsync(int proxyPort, (string User, string Password)? credentials, int targetPort)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, proxyPort)).DefaultTimeout();
            if (credentials is (string user, string password))
            {
                // Greeting: version 5, one method, X'02' username/password; the server must choose it.
                await SendAsync(socket, [0x05, 0x01, 0x02]);
                Assert.Equal(new byte[] { 0x05, 0x02 }, await ReceiveExactlyAsync(socket, 2));

                // RFC 1929: version 1, ULEN, UNAME, PLEN, PASSWD; X'00' is success.
                Assert.Equal(new byte[] { 0x01, 0x00 }, await AuthenticateAsync(socket, user, password));
            }
            else
            {
                await SendAsync(socket, [0x05, 0x01, 0x00]);
                Assert.Equal(new byte[] { 0x05, 0x00 }, await ReceiveExactlyAsync(socket, 2));
            }

            // CONNECT 127.0.0.1:targetPort; the reply must be X'00' succeeded.
            byte[] request = [0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, (byte)(targetPort >> 8), (byte)targetPort];
            await SendAsync(socket, request);
            byte[] reply = await ReceiveReplyAsync(socket);
            Assert.Equal(0x05, reply[0]);
            Assert.Equal(0x00, reply[1]);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A TCP connection to the proxy on 127.0.0.1:<paramref name="port"/>, nothing sent.</summary>
    public static async Task<Socket> ConnectToProxyAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).DefaultTimeout();
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The reply code of a CONNECT to 127.0.0.1:<paramref name="targetPort"/> without authentication.</summary>
    public static async Task<byte> RequestReplyAsync(int proxyPort, int targetPort)
    {
        using Socket socket = await ConnectToProxyAsync(proxyPort);
        await SendAsync(socket, [5, 1, 0]);
        Assert.Equal(new byte[] { 5, 0 }, await ReceiveExactlyAsync(socket, 2));
        await SendAsync(socket, [5, 1, 0, 1, 127, 0, 0, 1, (byte)(targetPort >> 8), (byte)targetPort]);
        return (await ReceiveExactlyAsync(socket, 10))[1];
    }

    /// <summary>The status byte of a username/password login (0 success, 1 failure), without a request after it.</summary>
    public static async Task<byte> LoginStatusAsync(int port, string user, string password)
    {
        using Socket client = await ConnectToProxyAsync(port);
        await SendAsync(client, [0x05, 0x01, 0x02]);
        Assert.Equal(new byte[] { 0x05, 0x02 }, await ReceiveExactlyAsync(client, 2));
        byte[] status = await AuthenticateAsync(client, user, password);
        return status[1] == 0 ? (byte)0 : (byte)1;
    }

    /// <summary>Sends a line each way through a tunnel, <paramref name="client"/> to <paramref name="upstream"/> and back.</summary>
    public static async Task AssertRelaysBothWaysAsync(Socket client, Socket upstream, string text)
    {
        byte[] up = System.Text.Encoding.UTF8.GetBytes($"up: {text}");
        await SendAsync(client, up);
        Assert.Equal(up, await ReceiveExactlyAsync(upstream, up.Length));

        byte[] down = System.Text.Encoding.UTF8.GetBytes($"down: {text}");
        await SendAsync(upstream, down);
        Assert.Equal(down, await ReceiveExactlyAsync(client, down.Length));
    }

    /// <summary>A loopback port that was free a moment ago, for a listener the test must name in advance.</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>Sends the RFC 1929 sub-negotiation and returns the server's two-byte status.</summary>
    public static async Task<byte[]> AuthenticateAsync(Socket socket, string user, string password)
    {
        byte[] name = Encoding.UTF8.GetBytes(user);
        byte[] secret = Encoding.UTF8.GetBytes(password);
        await SendAsync(socket, [0x01, (byte)name.Length, .. name, (byte)secret.Length, .. secret]);
        return await ReceiveExactlyAsync(socket, 2);
    }

    public static async Task SendAsync(Socket socket, byte[] bytes)
    {
        int sent = await socket.SendAsync(bytes, SocketFlags.None).DefaultTimeout();
        Assert.Equal(bytes.Length, sent);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes; fails if the peer closes first.</summary>
    public static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int count)
    {
        byte[] buffer = new byte[count];
        int received = 0;
        while (received < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None).DefaultTimeout();
            Assert.True(n > 0, $"the peer closed after {received} of {count} bytes");
            received += n;
        }

        return buffer;
    }

    /// <summary>
    /// Waits, bounded, for the peer to close: a read returns 0 or fails with a reset. Any data still in flight is
    /// read and ignored (at most <paramref name="maxBytes"/>).
    /// </summary>
    public static async Task AssertClosedByPeerAsync(Socket socket, TimeSpan timeout, int maxBytes = 1 << 20)
    {
        byte[] buffer = new byte[4096];
        int total = 0;
        using var deadline = new CancellationTokenSource(timeout);
        while (total <= maxBytes)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            }
            catch (SocketException)
            {
                return; // Reset: closed.
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"the connection was still open after {timeout}");
                return;
            }

            if (n == 0)
            {
                return;
            }

            total += n;
        }

        Assert.Fail($"the peer sent more than {maxBytes} bytes instead of closing");
    }

    private static async Task<byte[]> ReceiveReplyAsync(Socket socket)
    {
        // VER REP RSV ATYP, then BND.ADDR (4, 16 or 1+n bytes) and BND.PORT.
        byte[] head = await ReceiveExactlyAsync(socket, 4);
        int addressLength = head[3] switch
        {
            0x01 => 4,
            0x04 => 16,
            0x03 => (await ReceiveExactlyAsync(socket, 1))[0],
            _ => throw new InvalidDataException($"reply has address type {head[3]:X2}"),
        };
        await ReceiveExactlyAsync(socket, addressLength + 2);
        return head;
    }
}
