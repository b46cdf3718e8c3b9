using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Client.Tests.Infrastructure;

/// <summary>One client of the <see cref="FakeSocksServer"/>.</summary>
internal sealed class FakeSocksConnection : IDisposable
{
    public FakeSocksConnection(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    public Task SendAsync(params byte[] bytes) => Socket.SendAsync(bytes, SocketFlags.None).DefaultTimeout();

    public Task<byte[]> ReceiveExactlyAsync(int count) => Socket.ReceiveExactlyAsync(count);

    /// <summary>VER, NMETHODS, METHODS: the whole greeting.</summary>
    public async Task<byte[]> ReceiveGreetingAsync()
    {
        byte[] head = await ReceiveExactlyAsync(2);
        Assert.Equal(5, head[0]);
        return [.. head, .. await ReceiveExactlyAsync(head[1])];
    }

    /// <summary>VER, ULEN, UNAME, PLEN, PASSWD: the whole RFC 1929 request.</summary>
    public async Task<byte[]> ReceiveCredentialsAsync()
    {
        byte[] head = await ReceiveExactlyAsync(2);
        byte[] user = await ReceiveExactlyAsync(head[1]);
        byte[] passwordLength = await ReceiveExactlyAsync(1);
        return [.. head, .. user, .. passwordLength, .. await ReceiveExactlyAsync(passwordLength[0])];
    }

    /// <summary>VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT: the whole request.</summary>
    public async Task<byte[]> ReceiveRequestAsync()
    {
        byte[] head = await ReceiveExactlyAsync(5);
        int rest = head[3] switch
        {
            1 => 3 + 2,
            4 => 15 + 2,
            3 => head[4] + 2,
            _ => throw new InvalidDataException($"Request with ATYP {head[3]}"),
        };
        return [.. head, .. await ReceiveExactlyAsync(rest)];
    }

    /// <summary>Reads until the client closes; true if it did (FIN or RST) with nothing more sent.</summary>
    public async Task<bool> ClientClosedAsync()
    {
        byte[] buffer = new byte[256];
        try
        {
            return await Socket.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout() == 0;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    public void Dispose() => Socket.Dispose();

    /// <summary>A reply with an IPv4 BND (0.0.0.0:0 unless given).</summary>
    public static byte[] Reply(byte code, IPEndPoint? bound = null)
    {
        bound ??= new IPEndPoint(IPAddress.Any, 0);
        byte[] address = bound.Address.GetAddressBytes();
        byte[] reply = [5, code, 0, address.Length == 4 ? (byte)1 : (byte)4, .. address, 0, 0];
        BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(reply.Length - 2), (ushort)bound.Port);
        return reply;
    }
}
