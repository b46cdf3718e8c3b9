using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Server.Transport;
using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// The Linux relay copies small messages (a read into the thread's buffer and a send, no pipe) and splices bulk. These
/// tests drive what the copying path must get right: the switch to splicing and back with every byte in order, a FIN
/// that came with the last message (no new edge will say so), and a sink that takes only part of a message.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class EpollRelaySmallReadTests
{
    [LinuxFact]
    public async Task SmallMessages_ThenBulk_ThenSmallAgain_EveryByteInOrder_PipesOnlyOnceBulkFlows()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = RelayEngine.Linux);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        await PingPongAsync(client.Socket, accepted, rounds: 100, seed: 1);
        Assert.Equal(0, server.Server.SplicePipesOpen);

        // Bulk both ways at once: reads fill the buffer, so both directions splice.
        byte[] up = TestData.RandomBytes(4 << 20, seed: 2);
        byte[] down = TestData.RandomBytes(4 << 20, seed: 3);
        Task<byte[]> upArrived = accepted.ReceiveExactlyAsync(up.Length);
        Task<byte[]> downArrived = client.Socket.ReceiveExactlyAsync(down.Length);
        await Task.WhenAll(SendAllAsync(client.Socket, up), SendAllAsync(accepted, down)).DefaultTimeout();
        byte[] uploaded = await upArrived;
        byte[] downloaded = await downArrived;
        Assert.True(up.AsSpan().SequenceEqual(uploaded), "upload differs");
        Assert.True(down.AsSpan().SequenceEqual(downloaded), "download differs");
        Assert.True(server.Server.SplicePipesOpen > 0, "no direction spliced the bulk");

        // Small again: a splicing turn that moves little makes the direction copy again; order holds across the switch.
        await PingPongAsync(client.Socket, accepted, rounds: 100, seed: 4);

        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Empty(await accepted.ReadToEndAsync());
        accepted.Shutdown(SocketShutdown.Send);
        Assert.Empty(await client.Socket.ReadToEndAsync());
    }

    [LinuxFact]
    public async Task MessageAndFinSentTogether_EachOfManyTunnels_TheFinFollowsTheMessageBothWays()
    {
        // The FIN often lands before the loop takes the edge: the read of the message is short, and no further edge comes
        // for the FIN behind it. A relay that waited after such a read would hang here.
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = RelayEngine.Linux);
        using var target = new TcpTarget();
        for (int tunnel = 0; tunnel < 100; tunnel++)
        {
            using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
            using Socket accepted = await target.AcceptAsync();
            byte[] request = TestData.RandomBytes(64, seed: tunnel);
            byte[] response = TestData.RandomBytes(64 + tunnel, seed: 1_000 + tunnel);

            client.Socket.Send(request);
            client.Socket.Shutdown(SocketShutdown.Send);
            Assert.Equal(request, await accepted.ReadToEndAsync());

            accepted.Send(response);
            accepted.Shutdown(SocketShutdown.Send);
            Assert.Equal(response, await client.Socket.ReadToEndAsync());
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
    }

    [LinuxFact]
    public async Task SinkTakesPartOfAMessageWhileCopying_TheRestFollows_EveryByteInOrder()
    {
        // A relay of its own, so that the sink's send buffer can be made small: the proxy's side to the reader takes 4 KiB
        // (the kernel doubles it) and the reader's window is as small, so a few 1 000-byte messages fill them, and a
        // send takes part of one.
        using var loop = new EpollLoop("test-small-reads", 1, NullLogger.Instance);
        using var pipes = new SplicePipePool(64 * 1024, maxPipes: 8);
        using Socket writerListener = Listen(receiveBufferBytes: null);
        using Socket readerListener = Listen(receiveBufferBytes: 4096);
        EpollTunnelSocket fromWriter = await ConnectAsync(loop, writerListener);
        using Socket writer = await writerListener.AcceptAsync().DefaultTimeout();
        EpollTunnelSocket toReader = await ConnectAsync(loop, readerListener);
        using Socket reader = await readerListener.AcceptAsync().DefaultTimeout();
        using (var view = new Socket(new SafeSocketHandle(toReader.Descriptor, ownsHandle: false)))
        {
            view.SendBufferSize = 4096;
        }

        var relay = new EpollRelay(fromWriter, toReader, pipes, copyBufferBytes: 64 * 1024, TimeProvider.System);
        ValueTask<RelayOutcome> run = relay.RunAsync(CancellationToken.None);

        const int Messages = 300;
        const int MessageBytes = 1_000;
        byte[] sent = TestData.RandomBytes(Messages * MessageBytes, seed: 5);
        Task sending = Task.Run(async () =>
        {
            for (int i = 0; i < Messages; i++)
            {
                await SendAllAsync(writer, sent.AsMemory(i * MessageBytes, MessageBytes));
                await Task.Delay(1);
            }
        });

        // The reader starts late: by then the sink has been full for a while.
        await Task.Delay(200);
        Assert.True(relay.BytesUp < sent.Length, "everything passed before the reader read: the sink never pushed back");
        Task<byte[]> received = reader.ReceiveExactlyAsync(sent.Length);
        await sending.DefaultTimeout();
        byte[] arrived = await received;
        Assert.True(sent.AsSpan().SequenceEqual(arrived), "the reader's bytes differ from the writer's");

        writer.Shutdown(SocketShutdown.Send);
        Assert.Empty(await reader.ReadToEndAsync());
        reader.Shutdown(SocketShutdown.Send);
        RelayOutcome outcome = await run.AsTask().DefaultTimeout();
        Assert.True(outcome.Completed);
        Assert.Equal(sent.Length, outcome.BytesUp);

        // The second FIN is the owner's close (TunnelRelay.ForwardEof).
        fromWriter.Close();
        toReader.Close();
        Assert.Empty(await writer.ReadToEndAsync());
    }

    private static async Task PingPongAsync(Socket client, Socket target, int rounds, int seed)
    {
        var random = new Random(seed);
        for (int round = 0; round < rounds; round++)
        {
            byte[] request = new byte[random.Next(1, 2_000)];
            byte[] response = new byte[random.Next(1, 8_000)];
            random.NextBytes(request);
            random.NextBytes(response);
            await SendAllAsync(client, request);
            Assert.Equal(request, await target.ReceiveExactlyAsync(request.Length));
            await SendAllAsync(target, response);
            Assert.Equal(response, await client.ReceiveExactlyAsync(response.Length));
        }
    }

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            int sent = await socket.SendAsync(data, SocketFlags.None).DefaultTimeout();
            data = data[sent..];
        }
    }

    private static Socket Listen(int? receiveBufferBytes)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (receiveBufferBytes is int bytes)
        {
            // Set before listen, so that accepted sockets start with it and their window fits it.
            listener.ReceiveBufferSize = bytes;
        }

        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        return listener;
    }

    private static async Task<EpollTunnelSocket> ConnectAsync(EpollLoop loop, Socket listener)
    {
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        (TunnelSocket? socket, SocketError error) = await EpollTunnelSocket.ConnectAsync(loop, endPoint, source: null, device: null, CancellationToken.None).DefaultTimeout();
        Assert.Equal(SocketError.Success, error);
        return Assert.IsType<EpollTunnelSocket>(socket);
    }
}
