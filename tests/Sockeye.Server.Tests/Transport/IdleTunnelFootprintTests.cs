using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport;

/// <summary>
/// An idle tunnel holds no relay buffer and no pipe: each direction gives them back before it waits for data. Measured on
/// the whole process (managed heap, pipe descriptors), so it runs alone.
/// </summary>
[Collection(ProcessWideResources.Name)]
public sealed class IdleTunnelFootprintTests
{
    private const int Tunnels = 1000;

    // A correct idle tunnel costs a few KB here, counting the test's own two sockets per tunnel and what the shared array
    // pool keeps (at most a few dozen buffers in all, whatever the tunnel count). One held 64 KiB buffer per direction
    // would be 128 KiB.
    private const long MaxManagedBytesPerTunnel = 32 * 1024;

    // The splice pool keeps up to 256 idle pipes (512 descriptors) for reuse; a pipe held by each idle direction would be
    // four descriptors per tunnel.
    private const int MaxNewPipeDescriptors = 2 * 256 + 16;

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task IdleTunnels_AfterARoundTripEach_HoldNoRelayBufferOrPipe(RelayEngine mode)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode);
        using var target = new TcpTarget(backlog: Tunnels);
        byte[] message = new byte[64];
        byte[] answer = new byte[64];

        // Warm the server, the pools and the JIT, so the baseline holds what every later tunnel finds already there.
        await OpenIdleTunnelsAsync(server, target, 20, message, answer, keep: null);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long managedBefore = GC.GetTotalMemory(forceFullCollection: true);
        int pipesBefore = CountPipeDescriptors();

        var kept = new List<Socket>(2 * Tunnels);
        try
        {
            await OpenIdleTunnelsAsync(server, target, Tunnels, message, answer, kept);

            // A direction gives its buffer back just after its last send; let the last few reach their wait.
            await Task.Delay(200);
            long managedPerTunnel = (GC.GetTotalMemory(forceFullCollection: true) - managedBefore) / Tunnels;
            int newPipeDescriptors = CountPipeDescriptors() - pipesBefore;

            Assert.Equal(Tunnels, server.Server.ActiveSessionCount);
            Assert.True(managedPerTunnel < MaxManagedBytesPerTunnel, $"{managedPerTunnel} managed bytes per idle tunnel");
            Assert.True(newPipeDescriptors <= MaxNewPipeDescriptors, $"{newPipeDescriptors} new pipe descriptors for {Tunnels} idle tunnels");
        }
        finally
        {
            foreach (Socket socket in kept)
            {
                socket.Dispose();
            }
        }
    }

    private static async Task OpenIdleTunnelsAsync(TestServer server, TcpTarget target, int count, byte[] message, byte[] answer, List<Socket>? keep)
    {
        for (int i = 0; i < count; i++)
        {
            RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
            Socket accepted = await target.AcceptAsync();
            await client.Socket.SendAsync(message, SocketFlags.None).DefaultTimeout();
            await ReceiveExactlyIntoAsync(accepted, answer);
            await accepted.SendAsync(message, SocketFlags.None).DefaultTimeout();
            await ReceiveExactlyIntoAsync(client.Socket, answer);
            if (keep is null)
            {
                client.Dispose();
                accepted.Dispose();
            }
            else
            {
                keep.Add(client.Socket);
                keep.Add(accepted);
            }
        }
    }

    private static async Task ReceiveExactlyIntoAsync(Socket socket, byte[] buffer)
    {
        for (int got = 0; got < buffer.Length;)
        {
            int read = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None).DefaultTimeout();
            got += read > 0 ? read : throw new EndOfStreamException();
        }
    }

    private static int CountPipeDescriptors()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        int pipes = 0;
        foreach (string descriptor in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(descriptor).LinkTarget is { } link && link.StartsWith("pipe:", StringComparison.Ordinal))
                {
                    pipes++;
                }
            }
            catch (IOException)
            {
                // Ignored: the descriptor was closed while we listed them.
            }
        }

        return pipes;
    }
}
