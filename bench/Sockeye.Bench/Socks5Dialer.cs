using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Protocol.Socks5;
using Sockeye.Protocol.UsernamePassword;

namespace Sockeye.Bench;

/// <summary>Opens connections to a target, through a SOCKS5 proxy or directly, with the shared codec.</summary>
internal static class Socks5Dialer
{
    private static readonly byte[] UserBytes = Encoding.ASCII.GetBytes(ProxyUnderTest.User);
    private static readonly byte[] PasswordBytes = Encoding.ASCII.GetBytes(ProxyUnderTest.Password);

    /// <summary>A connected socket to <paramref name="host"/>:<paramref name="port"/>; a name is sent unresolved to a proxy.</summary>
    public static async Task<Socket> OpenAsync(ProxyUnderTest proxy, string host, int port, bool withUser, CancellationToken cancellationToken)
    {
        if (proxy.IsDirect)
        {
            IPAddress address = IPAddress.TryParse(host, out IPAddress? parsed) ? parsed : IPAddress.Loopback;
            var direct = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await direct.ConnectAsync(new IPEndPoint(address, port), cancellationToken);
                return direct;
            }
            catch
            {
                direct.Dispose();
                throw;
            }
        }

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1024);
        try
        {
            await socket.ConnectAsync(proxy.EndPoint!, cancellationToken);

            // One message at a time, waiting for each answer, as curl and most clients do: not every server here copes
            // with a client that pipelines (microsocks reads one message per receive and drops the rest).
            Socks5Address destination = IPAddress.TryParse(host, out IPAddress? ip) ? Socks5Address.FromIPAddress(ip) : Socks5Address.FromDomainName(host);
            Socks5AuthMethod method = withUser ? Socks5AuthMethod.UsernamePassword : Socks5AuthMethod.NoAuthentication;
            int length = Socks5Greeting.Create([method]).Write(buffer);
            await socket.SendAsync(buffer.AsMemory(0, length), SocketFlags.None, cancellationToken);
            await ReceiveExactlyAsync(socket, buffer.AsMemory(0, 2), cancellationToken);
            if (buffer[1] != (byte)method)
            {
                throw new IOException($"{proxy.Name} refused the method");
            }

            if (withUser)
            {
                length = new UsernamePasswordRequest(UserBytes, PasswordBytes).Write(buffer);
                await socket.SendAsync(buffer.AsMemory(0, length), SocketFlags.None, cancellationToken);
                await ReceiveExactlyAsync(socket, buffer.AsMemory(0, 2), cancellationToken);
                if (buffer[1] != 0)
                {
                    throw new IOException($"{proxy.Name} refused the credentials");
                }
            }

            length = new Socks5Request(Socks5Command.Connect, destination, (ushort)port).Write(buffer);
            await socket.SendAsync(buffer.AsMemory(0, length), SocketFlags.None, cancellationToken);

            // Read exactly the reply and no further: a destination that talks first (a download) sends right behind it.
            const int expected = 0;
            await ReceiveExactlyAsync(socket, buffer.AsMemory(0, 5), cancellationToken);
            int replyLength = buffer[3] switch
            {
                1 => 10,
                4 => 22,
                3 => 7 + buffer[4],
                _ => throw new IOException($"{proxy.Name} sent a reply with address type {buffer[3]}"),
            };
            await ReceiveExactlyAsync(socket, buffer.AsMemory(5, replyLength - 5), cancellationToken);
            if (!TryReadReply(buffer.AsSpan(0, expected + replyLength), expected, out Socks5ReplyCode code))
            {
                throw new IOException($"{proxy.Name} sent an incomplete reply");
            }

            if (code != Socks5ReplyCode.Succeeded)
            {
                throw new IOException($"the proxy replied {code}");
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                throw new IOException("the proxy closed during the handshake");
            }

            buffer = buffer[read..];
        }
    }

    private static bool TryReadReply(ReadOnlySpan<byte> bytes, int offset, out Socks5ReplyCode code)
    {
        code = Socks5ReplyCode.GeneralFailure;
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes[offset..].ToArray()));
        if (!Socks5Reply.TryParse(ref reader, out Socks5Reply reply, out Socks5ParseError error))
        {
            return error == Socks5ParseError.None ? false : throw new IOException($"malformed reply: {error}");
        }

        code = reply.ReplyCode;
        return true;
    }
}
