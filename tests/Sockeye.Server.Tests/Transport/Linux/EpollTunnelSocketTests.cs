using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server.Transport;
using Sockeye.Server.Transport.Linux;
using Sockeye.Server.Interop;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// TCP connections on raw descriptors served by a real <see cref="EpollLoop"/>, against runtime sockets on loopback
/// (Linux only: elsewhere each test is reported skipped).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class EpollTunnelSocketTests
{
    private const string LoopName = "test-loop";

    [LinuxFact]
    public async Task ConnectAsync_LoopbackListener_Connects_EndPointsAreRight_SocketIsOnTheLoop()
    {
        using EpollLoop loop = NewLoop();
        using Socket listener = Listen();
        (TunnelSocket? socket, SocketError error) = await EpollTunnelSocket.ConnectAsync(loop, (IPEndPoint)listener.LocalEndPoint!, source: null, null, CancellationToken.None)
            .DefaultTimeout();
        using Socket peer = await listener.AcceptAsync().DefaultTimeout();
        var tunnel = Assert.IsType<EpollTunnelSocket>(socket);
        try
        {
            Assert.Equal(SocketError.Success, error);
            Assert.Same(loop, tunnel.Loop);
            Assert.Equal(1, loop.Count);
            Assert.Null(tunnel.RemoteEndPoint); // Not kept for a connected socket: nothing reads it.
            Assert.Equal(peer.RemoteEndPoint, tunnel.LocalEndPoint);
            Assert.False(tunnel.IsCanceled);
        }
        finally
        {
            tunnel.Close();
        }
    }

    [LinuxFact]
    public async Task ConnectAsync_FromASourceAddress_ThePeerSeesThatAddress()
    {
        using EpollLoop loop = NewLoop();
        using Socket listener = Listen();
        IPAddress source = IPAddress.Parse("127.0.0.2");
        (TunnelSocket? socket, SocketError error) = await EpollTunnelSocket.ConnectAsync(loop, (IPEndPoint)listener.LocalEndPoint!, source, null, CancellationToken.None)
            .DefaultTimeout();
        using Socket peer = await listener.AcceptAsync().DefaultTimeout();
        var tunnel = Assert.IsType<EpollTunnelSocket>(socket);
        try
        {
            Assert.Equal(SocketError.Success, error);
            Assert.Equal(source, ((IPEndPoint)peer.RemoteEndPoint!).Address);
            Assert.Equal(peer.RemoteEndPoint, tunnel.LocalEndPoint);
        }
        finally
        {
            tunnel.Close();
        }
    }

    [LinuxFact]
    public async Task Adopt_DescriptorFromAccept4_EndPointsAreRight_BytesFlowBothWays()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await AcceptAsync(loop);
        var (socket, peer) = connection;

        Assert.Equal(1, loop.Count);
        Assert.Equal(peer.LocalEndPoint, socket.RemoteEndPoint);
        Assert.Equal(peer.RemoteEndPoint, socket.LocalEndPoint);

        await peer.SendAsync("ping"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        Assert.Equal("ping"u8.ToArray(), await ReceiveExactlyAsync(socket, 4));
        await socket.SendAsync("pong"u8.ToArray(), CancellationToken.None).DefaultTimeout();
        Assert.Equal("pong"u8.ToArray(), await peer.ReceiveExactlyAsync(4));
    }

    [LinuxFact]
    public async Task ConnectAsync_PortWithNoListener_ConnectionRefused_NoSocket_NothingLeftOnTheLoop()
    {
        using EpollLoop loop = NewLoop();

        // Bound but not listening: the port stays ours, and a SYN to it is answered with RST.
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        (TunnelSocket? socket, SocketError error) = await EpollTunnelSocket.ConnectAsync(loop, (IPEndPoint)closed.LocalEndPoint!, source: null, null, CancellationToken.None)
            .DefaultTimeout();

        Assert.Null(socket);
        Assert.Equal(SocketError.ConnectionRefused, error);
        Assert.Equal(0, loop.Count);
    }

    [LinuxFact]
    public async Task ConnectAsync_TokenAlreadyCanceled_ConnectStillPending_TimedOut_NothingLeftOnTheLoop()
    {
        using EpollLoop loop = NewLoop();
        using SaturatedListener listener = await SaturatedListener.StartAsync();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        (TunnelSocket? socket, SocketError error) = await EpollTunnelSocket.ConnectAsync(loop, listener.EndPoint, source: null, null, cts.Token).DefaultTimeout();

        Assert.Null(socket);
        Assert.Equal(SocketError.TimedOut, error);
        Assert.Equal(0, loop.Count);
    }

    [LinuxFact]
    public async Task ConnectAsync_TokenCanceledWhileConnecting_TimedOut_NothingLeftOnTheLoop()
    {
        using EpollLoop loop = NewLoop();
        using SaturatedListener listener = await SaturatedListener.StartAsync();
        using var cts = new CancellationTokenSource();

        Task<(TunnelSocket? Socket, SocketError Error)> connect = EpollTunnelSocket.ConnectAsync(loop, listener.EndPoint, source: null, null, cts.Token);

        // The SYN was dropped: the attempt waits on the loop for an answer that does not come.
        Assert.False(connect.IsCompleted);
        Assert.Equal(1, loop.Count);

        await cts.CancelAsync();
        (TunnelSocket? socket, SocketError error) = await connect.DefaultTimeout();

        Assert.Null(socket);
        Assert.Equal(SocketError.TimedOut, error);
        Assert.Equal(0, loop.Count);
    }

    [LinuxFact]
    public async Task ReceiveAsync_NothingSentYet_CompletesWhenThePeerSends_OnTheLoopThread()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;
        byte[] buffer = new byte[64];

        Task<Resumption<int>> receive = ReceiveAndRecordAsync(socket, buffer, loop);
        Assert.False(receive.IsCompleted);

        await peer.SendAsync("hello"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        Resumption<int> resumption = await receive.DefaultTimeout();

        Assert.Equal(5, resumption.Value);
        Assert.Equal("hello"u8.ToArray(), buffer[..5]);
        Assert.Equal(LoopName, resumption.ThreadName);
        Assert.True(resumption.OnLoop);
    }

    [LinuxFact]
    public async Task ReceiveAsync_DataAlreadyThere_CompletesSynchronously()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;
        await peer.SendAsync("abc"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).DefaultTimeout();

        byte[] buffer = new byte[16];
        ValueTask<int> receive = socket.ReceiveAsync(buffer, CancellationToken.None);

        Assert.True(receive.IsCompletedSuccessfully);
        Assert.Equal(3, await receive);
        Assert.Equal("abc"u8.ToArray(), buffer[..3]);
    }

    [LinuxFact]
    public async Task ReceiveAsync_ShortRead_KnowsTheSocketDrained_NextReceiveWaitsForTheNextEdge()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;

        // Nothing came yet: a fresh socket is drained until its first edge.
        Assert.True(socket.IsReadDrained);
        byte[] buffer = new byte[16];
        await peer.SendAsync("abc"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        Assert.Equal(3, await socket.ReceiveAsync(buffer, CancellationToken.None).DefaultTimeout());
        Assert.True(socket.IsReadDrained);

        ValueTask<int> next = socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.False(next.IsCompleted);
        await peer.SendAsync("defg"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        Assert.Equal(4, await next.DefaultTimeout());
        Assert.Equal("defg"u8.ToArray(), buffer[..4]);
    }

    [LinuxFact]
    public async Task ReceiveAsync_ReadFillsTheBuffer_NotDrained_TheRestComesWithoutAnEdge()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;
        await peer.SendAsync("abcdefgh"u8.ToArray(), SocketFlags.None).DefaultTimeout();

        byte[] buffer = new byte[4];
        Assert.Equal(4, await socket.ReceiveAsync(buffer, CancellationToken.None).DefaultTimeout());
        Assert.False(socket.IsReadDrained);

        ValueTask<int> rest = socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.True(rest.IsCompletedSuccessfully);
        Assert.Equal(4, await rest);
        Assert.Equal("efgh"u8.ToArray(), buffer);
    }

    [LinuxFact]
    public async Task ReceiveAsync_DataAndFinInOneEdge_ShortReadIsNotTakenForDrained_FinReadNext()
    {
        // No further edge comes for a FIN already queued behind the data when the edge was taken.
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;
        await peer.SendAsync("abc"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        peer.Shutdown(SocketShutdown.Send);
        await SocketTestExtensions.WaitUntilAsync(() => socket.HasHungUp);

        byte[] buffer = new byte[16];
        Assert.Equal(3, await socket.ReceiveAsync(buffer, CancellationToken.None).DefaultTimeout());
        Assert.False(socket.IsReadDrained);
        ValueTask<int> end = socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.True(end.IsCompletedSuccessfully);
        Assert.Equal(0, await end);
    }

    [LinuxFact]
    public async Task ReceiveAsync_PeerSendsFin_PendingReceiveReturnsZero_AndSoDoesTheNext()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;
        byte[] buffer = new byte[16];

        ValueTask<int> pending = socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.False(pending.IsCompleted);
        peer.Shutdown(SocketShutdown.Send);

        Assert.Equal(0, await pending.DefaultTimeout());
        Assert.Equal(0, await socket.ReceiveAsync(buffer, CancellationToken.None).DefaultTimeout());
    }

    [LinuxFact]
    public async Task ReceiveAsync_DataThenFin_ReadsTheDataThenZero()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;

        byte[] payload = TestData.RandomBytes(100_000, seed: 3);
        await peer.SendAsync(payload, SocketFlags.None).DefaultTimeout();
        peer.Shutdown(SocketShutdown.Send);

        Assert.Equal(payload, await ReadToEndAsync(socket));
    }

    [LinuxFact]
    public async Task ReceiveAsync_PeerResets_ThrowsConnectionReset_SendThenFailsToo()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;
        byte[] buffer = new byte[16];

        ValueTask<int> pending = socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.False(pending.IsCompleted);
        peer.LingerState = new LingerOption(true, 0);
        peer.Dispose();

        SocketException reset = await Assert.ThrowsAsync<SocketException>(() => pending.DefaultTimeout());
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
        await Assert.ThrowsAsync<SocketException>(() => socket.SendAsync(new byte[16], CancellationToken.None).DefaultTimeout());
    }

    [LinuxFact]
    public async Task ReceiveAsync_EmptyBuffer_WaitsForDataWithoutConsumingIt()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;

        Task<Resumption<int>> wait = ReceiveAndRecordAsync(socket, Memory<byte>.Empty, loop);
        Assert.False(wait.IsCompleted);

        await peer.SendAsync("data"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        Resumption<int> resumption = await wait.DefaultTimeout();
        Assert.Equal(0, resumption.Value);
        Assert.True(resumption.OnLoop);

        // The bytes are still in the socket: the next real receive takes them at once.
        byte[] buffer = new byte[16];
        ValueTask<int> receive = socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.True(receive.IsCompletedSuccessfully);
        Assert.Equal(4, await receive);
        Assert.Equal("data"u8.ToArray(), buffer[..4]);

        // Nothing left: a zero-byte receive waits again, and EOF ends that wait too.
        ValueTask<int> again = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
        Assert.False(again.IsCompleted);
        peer.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await again.DefaultTimeout());
        Assert.Equal(0, await socket.ReceiveAsync(buffer, CancellationToken.None).DefaultTimeout());
    }

    [LinuxFact]
    public async Task SendAsync_PayloadFarLargerThanTheSocketBuffers_CompletesOnlyOnceThePeerReadsIt_BytesIntact()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;

        // A fixed receive buffer on the peer (no autotuning); the sender's grows at most to tcp_wmem's maximum.
        peer.ReceiveBufferSize = 64 * 1024;
        int size = LargePayloadBytes();
        byte[] payload = TestData.RandomBytes(size, seed: 8);

        Task<Resumption<bool>> send = SendAndRecordAsync(socket, payload, loop);
        Assert.False(send.IsCompleted);

        // The peer reads a first part; far more than the kernel can hold is still to go, so the send still waits.
        const int FirstPart = 1 << 20;
        byte[] first = await peer.ReceiveExactlyAsync(FirstPart);
        Assert.False(send.IsCompleted);

        byte[] rest = await peer.ReceiveExactlyAsync(size - FirstPart);
        Resumption<bool> resumption = await send.DefaultTimeout();

        Assert.True(payload.AsSpan(0, FirstPart).SequenceEqual(first));
        Assert.True(payload.AsSpan(FirstPart).SequenceEqual(rest));
        Assert.True(resumption.OnLoop);
        Assert.Equal(LoopName, resumption.ThreadName);

        // Nothing more than the payload was sent.
        socket.ShutdownSend();
        Assert.Equal(0, await peer.ReceiveAsync(new byte[1], SocketFlags.None).DefaultTimeout());
    }

    [LinuxFact]
    public async Task ShutdownSend_PeerReadsZero_ReceivingStillWorks()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;

        await socket.SendAsync("bye"u8.ToArray(), CancellationToken.None).DefaultTimeout();
        socket.ShutdownSend();

        Assert.Equal("bye"u8.ToArray(), await ReadToEndStrictAsync(peer));
        await peer.SendAsync("still listening"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        peer.Shutdown(SocketShutdown.Send);
        Assert.Equal("still listening"u8.ToArray(), await ReadToEndAsync(socket));
        Assert.Equal(1, loop.Count);
    }

    [LinuxFact]
    public async Task Close_IsGraceful_PeerReadsEverythingThenEof_SocketLeavesTheLoop()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;
        Assert.Equal(1, loop.Count);

        // Sent, and not all read by the peer yet when the socket closes: a graceful close still delivers it, then FIN.
        byte[] payload = TestData.RandomBytes(1 << 20, seed: 2);
        Task<byte[]> peerReads = ReadToEndStrictAsync(peer);
        await socket.SendAsync(payload, CancellationToken.None).DefaultTimeout();

        socket.Close();
        Assert.Equal(0, loop.Count);
        socket.Close();

        // A reset would throw here instead of ending the stream.
        Assert.Equal(payload, await peerReads);
    }

    [LinuxFact]
    public async Task Abort_PeerSeesConnectionReset_SocketLeavesTheLoop()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;
        Assert.Equal(1, loop.Count);

        socket.Abort();
        Assert.Equal(0, loop.Count);
        socket.Abort();
        socket.Close();

        SocketException reset = await Assert.ThrowsAsync<SocketException>(
            () => peer.ReceiveAsync(new byte[16], SocketFlags.None).DefaultTimeout());
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
    }

    [LinuxFact]
    public async Task CancelPending_PendingReceive_ThrowsOperationCanceled_DescriptorStaysOpenUntilClose()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;
        byte[] buffer = new byte[16];

        ValueTask<int> pending = socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.False(pending.IsCompleted);

        socket.CancelPending();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.DefaultTimeout());
        Assert.True(socket.IsCanceled);

        // A later receive that would have to wait fails at once.
        ValueTask<int> later = socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.True(later.IsCompleted);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => later.AsTask());

        // The descriptor is untouched: a send that needs no wait still goes out, and the peer sees no close.
        Assert.Equal(1, loop.Count);
        await socket.SendAsync("still open"u8.ToArray(), CancellationToken.None).DefaultTimeout();
        Assert.Equal("still open"u8.ToArray(), await peer.ReceiveExactlyAsync(10));

        socket.Close();
        Assert.Equal(0, loop.Count);
        Assert.Empty(await ReadToEndStrictAsync(peer));
    }

    [LinuxFact]
    public async Task ReceiveAsync_TokenAlreadyCanceled_CanceledWithoutTakingTheData()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, peer) = connection;
        await peer.SendAsync("kept"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).DefaultTimeout();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        byte[] buffer = new byte[16];

        ValueTask<int> canceled = socket.ReceiveAsync(buffer, cts.Token);
        Assert.True(canceled.IsCanceled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled.AsTask());

        Assert.Equal(4, await socket.ReceiveAsync(buffer, CancellationToken.None).DefaultTimeout());
        Assert.Equal("kept"u8.ToArray(), buffer[..4]);
    }

    [LinuxFact]
    public async Task ReceiveAsync_TokenCanceledWhilePending_ThrowsOperationCanceled()
    {
        using EpollLoop loop = NewLoop();
        using Connection connection = await ConnectAsync(loop);
        var (socket, _) = connection;
        using var cts = new CancellationTokenSource();

        ValueTask<int> pending = socket.ReceiveAsync(new byte[16], cts.Token);
        Assert.False(pending.IsCompleted);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.DefaultTimeout());
        Assert.True(socket.IsCanceled);
    }

    [LinuxTheory]
    [InlineData(111, SocketError.ConnectionRefused)]
    [InlineData(104, SocketError.ConnectionReset)]
    [InlineData(110, SocketError.TimedOut)]
    [InlineData(101, SocketError.NetworkUnreachable)]
    [InlineData(113, SocketError.HostUnreachable)]
    [InlineData(11, SocketError.WouldBlock)]
    [InlineData(4711, SocketError.SocketError)]
    public void ToSocketError_MapsLinuxErrnos(int errno, SocketError expected)
    {
        Assert.Equal(expected, Errno.ToSocketError(errno));
    }

    [LinuxTheory]
    [InlineData("127.0.0.1", 1080)]
    [InlineData("10.20.30.40", 65535)]
    [InlineData("::1", 443)]
    [InlineData("2001:db8::17", 8080)]
    [InlineData("fe80::1%3", 22)]
    public void ToEndPoint_SerializedEndPoint_RoundTrips(string address, int port)
    {
        var endPoint = new IPEndPoint(IPAddress.Parse(address), port);
        SocketAddress serialized = endPoint.Serialize();

        IPEndPoint? parsed = RawSocket.ToEndPoint(serialized.Buffer.Span[..serialized.Size]);

        Assert.Equal(endPoint, parsed);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
        {
            Assert.Equal(endPoint.Address.ScopeId, parsed!.Address.ScopeId);
        }
    }

    [LinuxFact]
    public void ToEndPoint_TooShortOrNotIp_Null()
    {
        Assert.Null(RawSocket.ToEndPoint([]));
        Assert.Null(RawSocket.ToEndPoint([2]));

        // AF_UNIX (1).
        byte[] unix = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(unix, 1);
        Assert.Null(RawSocket.ToEndPoint(unix));
    }

    private static EpollLoop NewLoop() => new(LoopName, 2048, NullLogger.Instance);

    private static Socket Listen()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        return listener;
    }

    /// <summary>An <see cref="EpollTunnelSocket"/> from <see cref="EpollTunnelSocket.ConnectAsync"/>, and the runtime socket it reached.</summary>
    private static async Task<Connection> ConnectAsync(EpollLoop loop)
    {
        using Socket listener = Listen();
        (TunnelSocket? socket, SocketError error) = await EpollTunnelSocket.ConnectAsync(loop, (IPEndPoint)listener.LocalEndPoint!, source: null, null, CancellationToken.None)
            .DefaultTimeout();
        Assert.Equal(SocketError.Success, error);
        var tunnel = Assert.IsType<EpollTunnelSocket>(socket);
        try
        {
            Socket peer = await listener.AcceptAsync().DefaultTimeout();
            return new Connection(tunnel, peer);
        }
        catch
        {
            tunnel.Close();
            throw;
        }
    }

    /// <summary>A runtime client, and its connection accepted with accept4(2) and adopted by the loop, as the server's listener does.</summary>
    private static async Task<Connection> AcceptAsync(EpollLoop loop)
    {
        using Socket listener = Listen();
        listener.Blocking = false;
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await client.ConnectAsync(listener.LocalEndPoint!).DefaultTimeout();
            Assert.True(listener.Poll(TestTimeouts.Default, SelectMode.SelectRead));
            byte[] address = new byte[RawSocket.MaxAddressLength];
            int fd = RawSocket.Accept((int)listener.SafeHandle.DangerousGetHandle(), address, out int length);
            Assert.True(fd >= 0, $"accept4 failed: errno {Libc.LastError}");
            return new Connection(EpollTunnelSocket.Adopt(loop, fd, RawSocket.ToEndPoint(address.AsSpan(0, length))), client);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A payload far larger than what the kernel can hold for one loopback connection whose peer does not read: twice the
    /// sender's largest autotuned buffer (tcp_wmem's maximum) plus a fixed receive buffer, and at least 8 MiB.
    /// </summary>
    private static int LargePayloadBytes()
    {
        string[] wmem = File.ReadAllText("/proc/sys/net/ipv4/tcp_wmem").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        long largestSendBuffer = long.Parse(wmem[2], CultureInfo.InvariantCulture);
        return (int)Math.Max(8L << 20, 2 * (largestSendBuffer + (1 << 20)));
    }

    private static async Task<byte[]> ReceiveExactlyAsync(EpollTunnelSocket socket, int count)
    {
        byte[] buffer = new byte[count];
        for (int offset = 0; offset < count;)
        {
            int read = await socket.ReceiveAsync(buffer.AsMemory(offset), CancellationToken.None).DefaultTimeout();
            offset += read > 0 ? read : throw new EndOfStreamException($"EOF after {offset} of {count} bytes");
        }

        return buffer;
    }

    private static async Task<byte[]> ReadToEndAsync(EpollTunnelSocket socket)
    {
        using var collected = new MemoryStream();
        byte[] buffer = new byte[16 * 1024];
        for (int i = 0; i < 100_000; i++)
        {
            int read = await socket.ReceiveAsync(buffer, CancellationToken.None).DefaultTimeout();
            if (read == 0)
            {
                return collected.ToArray();
            }

            collected.Write(buffer, 0, read);
        }

        throw new InvalidOperationException("No EOF after 100 000 reads");
    }

    /// <summary>Reads until EOF; unlike <see cref="SocketTestExtensions.ReadToEndAsync"/>, a reset is an error here.</summary>
    private static async Task<byte[]> ReadToEndStrictAsync(Socket socket)
    {
        using var collected = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        for (int i = 0; i < 100_000; i++)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout();
            if (read == 0)
            {
                return collected.ToArray();
            }

            collected.Write(buffer, 0, read);
        }

        throw new InvalidOperationException("No EOF after 100 000 reads");
    }

    private static async Task<Resumption<int>> ReceiveAndRecordAsync(EpollTunnelSocket socket, Memory<byte> buffer, EpollLoop loop)
    {
        int read = await socket.ReceiveAsync(buffer, CancellationToken.None).ConfigureAwait(false);
        return new Resumption<int>(read, Thread.CurrentThread.Name, loop.IsCurrent);
    }

    private static async Task<Resumption<bool>> SendAndRecordAsync(EpollTunnelSocket socket, ReadOnlyMemory<byte> data, EpollLoop loop)
    {
        await socket.SendAsync(data, CancellationToken.None).ConfigureAwait(false);
        return new Resumption<bool>(true, Thread.CurrentThread.Name, loop.IsCurrent);
    }

    /// <summary>What an await produced, and where the code after it ran.</summary>
    private sealed record Resumption<T>(T Value, string? ThreadName, bool OnLoop);

    private sealed record Connection(EpollTunnelSocket Tunnel, Socket Peer) : IDisposable
    {
        public void Dispose()
        {
            Tunnel.Close();
            Peer.Dispose();
        }
    }

    /// <summary>
    /// A listener whose accept queue is full, so that the kernel drops every further SYN: a connect to it stays in
    /// SYN_SENT, reporting nothing, for as long as the test needs (the first retransmission is a second away, and is
    /// dropped too). Fullness is read from the kernel (TCP_INFO on a listener: queued and maximum), not assumed from timing.
    /// </summary>
    private sealed class SaturatedListener : IDisposable
    {
        private const int IpProtoTcp = 6;
        private const int TcpInfo = 11;

        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly List<Socket> _queued = [];

        public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

        public static async Task<SaturatedListener> StartAsync()
        {
            var saturated = new SaturatedListener();
            try
            {
                saturated._listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                saturated._listener.Listen(1);
                for (int i = 1; i <= 8 && !saturated.IsFull; i++)
                {
                    var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    saturated._queued.Add(filler);
                    await filler.ConnectAsync(saturated.EndPoint).DefaultTimeout();
                    int expected = i;
                    await SocketTestExtensions.WaitUntilAsync(() => saturated.AcceptQueue.Queued >= expected);
                }

                Assert.True(saturated.IsFull, $"accept queue {saturated.AcceptQueue}");
                return saturated;
            }
            catch
            {
                saturated.Dispose();
                throw;
            }
        }

        private bool IsFull => AcceptQueue is var (queued, max) && queued > max;

        /// <summary>tcpi_unacked and tcpi_sacked, which for a listener are the accept queue's length and its maximum.</summary>
        private (uint Queued, uint Max) AcceptQueue
        {
            get
            {
                Span<byte> info = stackalloc byte[256];
                int length = _listener.GetRawSocketOption(IpProtoTcp, TcpInfo, info);
                Assert.True(length >= 32, $"TCP_INFO returned {length} bytes");
                return (BinaryPrimitives.ReadUInt32LittleEndian(info[24..]), BinaryPrimitives.ReadUInt32LittleEndian(info[28..]));
            }
        }

        public void Dispose()
        {
            _listener.Dispose();
            foreach (Socket socket in _queued)
            {
                socket.Dispose();
            }
        }
    }
}
