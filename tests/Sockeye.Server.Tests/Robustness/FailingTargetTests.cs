using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Robustness;

/// <summary>
/// Destinations that fail in every way a real one can, each as a batch: the client gets the reply code docs/protocol.md
/// gives for what happened, then a FIN (or, after the target's reset, every byte it sent and then a reset), and the batch
/// leaves no session, socket or heap behind. The portable test assembly runs the same batches on the portable engine.
/// </summary>
[Collection(ProcessWideResources.Name)]
public sealed class FailingTargetTests
{
    private const int Batch = 20;

    [Fact]
    public async Task Connect_TargetRefuses_RepliesConnectionRefusedThenFin_AndResourcesReturn()
    {
        await using TestServer server = await TestServer.StartAsync();
        int closedPort = RouteTestSupport.ClosedPort();

        await RunBatchAsync(server, Batch, async () =>
        {
            (RawClient client, byte reply) = await RequestAsync(server, Socks5Bytes.Connect(new IPEndPoint(IPAddress.Loopback, closedPort)));
            using (client)
            {
                Assert.Equal(0x05, reply);
                Assert.Empty(await Hostile.ReadToFinAsync(client.Socket));
            }
        });
    }

    [Fact]
    public async Task Connect_TargetResetsAfterAccept_RepliesSucceededThenEveryRelayedByteThenReset_AndResourcesReturn()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        byte[] payload = TestPayload(16 * 1024);

        await RunBatchAsync(server, Batch, async () =>
        {
            using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
            using (Socket accepted = await target.AcceptAsync())
            {
                await accepted.SendAsync(payload, SocketFlags.None).DefaultTimeout();
                accepted.LingerState = new LingerOption(enable: true, seconds: 0);
            }

            // docs/protocol.md: a reset on either side resets the other. A FIN would be wrong here: the client would take a
            // stream the target aborted for a whole one. But what the target sent before its reset is the client's, and
            // must all arrive before the reset does.
            (byte[] received, SocketError end) = await Hostile.ReadToEndAsync(client.Socket);
            Assert.Equal(payload, received);
            Assert.Equal(SocketError.ConnectionReset, end);
        });
    }

    [Fact]
    public async Task Connect_TargetResetsWhileTheClientReadsSlowly_EveryByteTheServerHeldArrivesBeforeTheReset_AndResourcesReturn()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        byte[] payload = TestPayload(32 * 1024);

        await RunBatchAsync(server, Batch, async () =>
        {
            // A client that has not read yet, with a small receive buffer: the server cannot pass the target's bytes on at
            // once, and still holds some (in its buffer or splice pipe, or unread in its socket) when the reset comes.
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 2048 };
            using RawClient client = RawClient.Wrap(socket);
            await socket.ConnectAsync(server.EndPoint).DefaultTimeout();
            await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(target.EndPoint)]);
            Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
            Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
            using (Socket accepted = await target.AcceptAsync())
            {
                // On loopback a send completes once the bytes are in the server's socket, whose window takes 32 KiB.
                await accepted.SendAsync(payload, SocketFlags.None).DefaultTimeout();
                accepted.LingerState = new LingerOption(enable: true, seconds: 0);
            }

            (byte[] received, SocketError end) = await Hostile.ReadToEndAsync(client.Socket);
            Assert.Equal(payload.Length, received.Length);
            Assert.Equal(payload, received);
            Assert.Equal(SocketError.ConnectionReset, end);
        });
    }

    [Fact]
    public async Task Connect_ClientResetsWhileTheTargetReadsSlowly_EveryByteTheServerHeldArrivesBeforeTheReset_AndResourcesReturn()
    {
        await using TestServer server = await TestServer.StartAsync();

        // A target that takes little at a time (a small receive buffer, inherited by what it accepts): the server still
        // holds much of the client's upload, unacknowledged in its socket toward the target, when the client resets.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(Batch);
        var targetEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        byte[] payload = TestPayload(512 * 1024);

        await RunBatchAsync(server, Batch, async () =>
        {
            using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, targetEndPoint);
            using Socket accepted = await listener.AcceptAsync().DefaultTimeout();
            await client.SendAsync(payload);

            // Reset only once the server has acknowledged every byte: what it has acknowledged it has taken on.
            await SocketTestExtensions.WaitUntilAsync(() => Sockeye.Server.Transport.Linux.RawSocket.Unacknowledged((int)client.Socket.Handle) == 0);
            client.Socket.LingerState = new LingerOption(enable: true, seconds: 0);
            client.Socket.Close();

            (byte[] received, SocketError end) = await Hostile.ReadToEndAsync(accepted);
            Assert.Equal(payload.Length, received.Length);
            Assert.Equal(payload, received);
            Assert.Equal(SocketError.ConnectionReset, end);
        });
    }

    [Fact]
    public async Task Connect_TargetNeverAccepts_RepliesTtlExpiredAfterTheConnectTimeoutThenFin_AndResourcesReturn()
    {
        using SilentDestination silent = await SilentDestination.StartAsync();
        await using TestServer server = await TestServer.StartAsync(o => o.ConnectTimeout = TimeSpan.FromMilliseconds(300));

        // Concurrently: each waits out the connect timeout.
        await RunBatchAsync(server, 1, () => Task.WhenAll(Enumerable.Range(0, 10).Select(async _ =>
        {
            (RawClient client, byte reply) = await RequestAsync(server, Socks5Bytes.Connect(silent.EndPoint));
            using (client)
            {
                Assert.Equal(0x06, reply);
                Assert.Empty(await Hostile.ReadToFinAsync(client.Socket));
            }
        })));
    }

    [Fact]
    public async Task Connect_TargetClosesAtOnce_RepliesSucceededThenFin_AndResourcesReturn()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();

        await RunBatchAsync(server, Batch, async () =>
        {
            using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
            (await target.AcceptAsync()).Dispose();

            Assert.Empty(await Hostile.ReadToFinAsync(client.Socket));
        });
    }

    [Fact]
    public async Task Connect_TargetHalfCloses_ClientStillSendsAndTargetReceives_ThenBothEnd_AndResourcesReturn()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        byte[] down = TestPayload(8 * 1024);
        byte[] up = TestPayload(12 * 1024);

        await RunBatchAsync(server, Batch, async () =>
        {
            using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
            using Socket accepted = await target.AcceptAsync();

            await accepted.SendAllThenShutdownAsync(down).DefaultTimeout();
            Assert.Equal(down, await Hostile.ReadToFinAsync(client.Socket));

            // The target's FIN ended one direction only: the other still carries bytes, and ends with the client's FIN.
            await client.Socket.SendAllThenShutdownAsync(up).DefaultTimeout();
            Assert.Equal(up, await Hostile.ReadToFinAsync(accepted));
        });
    }

    [Fact]
    public async Task Connect_NameDoesNotResolve_RepliesHostUnreachableThenFin_AndResourcesReturn()
    {
        await using TestServer server = await TestServer.StartAsync(resolver: new NameResolver());

        await RunBatchAsync(server, Batch, async () =>
        {
            (RawClient client, byte reply) = await RequestAsync(server, Socks5Bytes.ConnectDomain("nowhere.test", 80));
            using (client)
            {
                Assert.Equal(0x04, reply);
                Assert.Empty(await Hostile.ReadToFinAsync(client.Socket));
            }
        });
    }

    /// <summary>
    /// Runs <paramref name="oneCase"/> <paramref name="count"/> times between a baseline and its check, then shows that an
    /// ordinary tunnel is still served. A tunnel first, so that what the server makes once (event loops, pools) is in the
    /// baseline rather than counted as the batch's.
    /// </summary>
    private static async Task RunBatchAsync(TestServer server, int count, Func<Task> oneCase)
    {
        await Hostile.AssertNormalConnectWorksAsync(server);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        ResourceBaseline baseline = ResourceBaseline.Capture();

        for (int i = 0; i < count; i++)
        {
            await oneCase();
        }

        await baseline.AssertReturnedAsync(server.Server);
        await Hostile.AssertNormalConnectWorksAsync(server);
    }

    /// <summary>Greeting and <paramref name="request"/>; the connection and the reply code.</summary>
    private static async Task<(RawClient Client, byte Reply)> RequestAsync(TestServer server, byte[] request)
    {
        RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        try
        {
            await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. request]);
            Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
            byte[] reply = await client.ReceiveReplyAsync();
            return (client, reply[1]);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private static byte[] TestPayload(int length)
    {
        byte[] payload = new byte[length];
        Random.Shared.NextBytes(payload);
        return payload;
    }
}
