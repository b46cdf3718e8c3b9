using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport.Portable;

/// <summary>The relay must not allocate per read or write. Measured process-wide, so it runs alone.</summary>
[Collection(ProcessWideResources.Name)]
public sealed class TcpRelayAllocationTests
{
    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task Relay_SteadyPingPong_AllocatesNothingPerMessage(RelayEngine mode)
    {
        const int Warmup = 2000;
        const int Measured = 3000;
        // The smallest relay buffer: a busy direction rents one per burst, and under load the buffer pool sometimes misses
        // in every window (seen: 64 KiB each time, 22 bytes "per round trip", on the code before and after issue 18). A
        // miss of 1 KiB stays far below the bound, while an allocation per message still shows.
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.RelayEngine = mode;
            o.RelayBufferBytes = 1024;
        });
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();
        byte[] message = new byte[64];
        byte[] buffer = new byte[64];

        await PingPongAsync(client.Socket, accepted, message, buffer, Warmup).DefaultTimeout();

        // The best of a few windows: an allocation per message shows in every window, while the buffer pool's occasional
        // miss (a 64 KiB buffer left in an idle thread's cache) and the test host's own work do not.
        long best = long.MaxValue;
        for (int window = 0; window < 4; window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            await PingPongAsync(client.Socket, accepted, message, buffer, Measured).DefaultTimeout();
            best = Math.Min(best, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        // Each round trip is two relayed messages; anything allocated per message would be 24 bytes at the very least.
        Assert.True(best < Measured * 16, $"{best} bytes allocated for {Measured} round trips ({best / Measured} per round trip)");
    }

    private static async Task PingPongAsync(Socket client, Socket target, byte[] message, byte[] buffer, int count)
    {
        // Everything inline, with Memory overloads: a helper call per message would allocate in a Debug build itself.
        for (int i = 0; i < count; i++)
        {
            await client.SendAsync(message.AsMemory(), SocketFlags.None);
            for (int offset = 0; offset < buffer.Length;)
            {
                int read = await target.ReceiveAsync(buffer.AsMemory(offset), SocketFlags.None);
                offset += read > 0 ? read : throw new EndOfStreamException();
            }

            await target.SendAsync(message.AsMemory(), SocketFlags.None);
            for (int offset = 0; offset < buffer.Length;)
            {
                int read = await client.ReceiveAsync(buffer.AsMemory(offset), SocketFlags.None);
                offset += read > 0 ? read : throw new EndOfStreamException();
            }
        }
    }
}
