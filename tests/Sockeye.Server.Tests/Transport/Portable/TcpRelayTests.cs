using System.Net.Sockets;
using System.Security.Cryptography;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport.Portable;

public sealed class TcpRelayTests
{
    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task Relay_ClientHalfCloses_TargetStillDeliversItsReply(RelayEngine mode)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        await client.SendAsync("request"u8.ToArray());
        client.Socket.Shutdown(SocketShutdown.Send);

        // The target sees the request, then EOF, and only then answers.
        Assert.Equal("request"u8.ToArray(), await accepted.ReadToEndAsync());
        await accepted.SendAsync("response"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        accepted.Shutdown(SocketShutdown.Send);

        Assert.Equal("response"u8.ToArray(), await client.ReadToEndAsync());
    }

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task Relay_TargetHalfCloses_ClientCanStillSend(RelayEngine mode)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        await accepted.SendAsync("banner"u8.ToArray(), SocketFlags.None).DefaultTimeout();
        accepted.Shutdown(SocketShutdown.Send);
        Assert.Equal("banner"u8.ToArray(), await client.ReadToEndAsync());

        await client.SendAsync("late upload"u8.ToArray());
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("late upload"u8.ToArray(), await accepted.ReadToEndAsync());
    }

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task Relay_64MiBEachWaySimultaneously_ArrivesIntact(RelayEngine mode)
    {
        const int Size = 64 * 1024 * 1024;
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        Task<byte[]> upload = SendRandomAsync(client.Socket, Size, seed: 1);
        Task<byte[]> download = SendRandomAsync(accepted, Size, seed: 2);
        Task<(long, byte[])> receivedByTarget = HashToEndAsync(accepted);
        Task<(long, byte[])> receivedByClient = HashToEndAsync(client.Socket);

        byte[] sentUp = await upload.WaitAsync(TimeSpan.FromMinutes(2));
        byte[] sentDown = await download.WaitAsync(TimeSpan.FromMinutes(2));
        (long upLength, byte[] upHash) = await receivedByTarget.WaitAsync(TimeSpan.FromMinutes(2));
        (long downLength, byte[] downHash) = await receivedByClient.WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(Size, upLength);
        Assert.Equal(Size, downLength);
        Assert.Equal(sentUp, upHash);
        Assert.Equal(sentDown, downHash);
    }

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task Relay_100ConcurrentTunnels_EachEchoesItsOwnData(RelayEngine mode)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode);
        using var target = new TcpTarget(backlog: 256);
        Task echo = EchoAllAsync(target, 100);

        var tunnels = new Task[100];
        for (int i = 0; i < tunnels.Length; i++)
        {
            int index = i;
            tunnels[i] = Task.Run(async () =>
            {
                using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
                byte[] message = new byte[4096 + index];
                Random.Shared.NextBytes(message);
                await client.SendAsync(message);
                client.Socket.Shutdown(SocketShutdown.Send);
                Assert.Equal(message, await client.ReadToEndAsync());
            });
        }

        await Task.WhenAll(tunnels).WaitAsync(TimeSpan.FromMinutes(1));
        await echo.WaitAsync(TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task Relay_NoDataForIdleTimeout_BothSidesClosed()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.IdleTimeout = TimeSpan.FromMilliseconds(400));
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        Assert.Empty(await client.ReadToEndAsync());
        Assert.Empty(await accepted.ReadToEndAsync());
    }

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task Relay_DataKeepsFlowing_NotClosedByIdleTimeout(RelayEngine mode)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.RelayEngine = mode;
            o.IdleTimeout = TimeSpan.FromMilliseconds(500);
        });
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        // 1.5 s of traffic, a byte every 100 ms: three idle timeouts long, never idle for one.
        byte[] one = new byte[1];
        for (int i = 0; i < 15; i++)
        {
            Assert.True(server.Server.ActiveSessionCount == 1, string.Join('\n', server.Logs.Lines));
            await client.SendAsync([(byte)i]);
            Assert.Equal(1, await accepted.ReceiveAsync(one, SocketFlags.None).DefaultTimeout());
            Assert.Equal((byte)i, one[0]);
            await Task.Delay(100);
        }
    }

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task Relay_TargetResets_ClientConnectionIsClosed(RelayEngine mode)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        Socket accepted = await target.AcceptAsync();

        accepted.LingerState = new LingerOption(true, 0);
        accepted.Dispose();

        Assert.Empty(await client.ReadToEndAsync());
    }

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task Relay_ClientResetsWhileTargetIdle_TargetConnectionIsReset(RelayEngine mode)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode);
        using var target = new TcpTarget();
        RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        client.Socket.LingerState = new LingerOption(true, 0);
        client.Dispose();

        // The upstream direction fails; the downstream one, waiting on the silent target, must be torn down with it, and
        // the target learns of the failure as a reset rather than a clean end.
        SocketException reset = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            byte[] buffer = new byte[16];
            while (await accepted.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout() > 0)
            {
            }
        });
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
    }

    [Fact]
    public async Task Stop_TunnelOpen_DrainsWithinGraceThenCloses()
    {
        TestServer server = await TestServer.StartAsync(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(500));
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        Task stop = server.Server.StopAsync();

        // During the grace period the tunnel still works, but no new client is accepted.
        await client.SendAsync("still here"u8.ToArray());
        byte[] buffer = new byte[10];
        Assert.Equal(10, await accepted.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout());
        await stop.DefaultTimeout();
        Assert.Empty(await client.ReadToEndAsync());
        await Assert.ThrowsAsync<SocketException>(() => RawClient.ConnectAsync(server.EndPoint));
        Assert.Equal(0, server.Server.ActiveSessionCount);
    }

    private static async Task<byte[]> SendRandomAsync(Socket socket, int size, int seed)
    {
        var random = new Random(seed);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] chunk = new byte[256 * 1024];
        for (int sent = 0; sent < size; sent += chunk.Length)
        {
            random.NextBytes(chunk);
            hash.AppendData(chunk);
            await socket.SendAsync(chunk, SocketFlags.None);
        }

        socket.Shutdown(SocketShutdown.Send);
        return hash.GetHashAndReset();
    }

    private static async Task<(long Length, byte[] Hash)> HashToEndAsync(Socket socket)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[256 * 1024];
        long total = 0;
        while (true)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None);
            if (read == 0)
            {
                return (total, hash.GetHashAndReset());
            }

            hash.AppendData(buffer, 0, read);
            total += read;
        }
    }


    private static async Task EchoAllAsync(TcpTarget target, int count)
    {
        var echoes = new List<Task>();
        for (int i = 0; i < count; i++)
        {
            Socket socket = await target.AcceptAsync();
            echoes.Add(Task.Run(async () =>
            {
                byte[] data = await socket.ReadToEndAsync();
                await socket.SendAsync(data, SocketFlags.None);
                socket.Shutdown(SocketShutdown.Send);
            }));
        }

        await Task.WhenAll(echoes);
    }
}
