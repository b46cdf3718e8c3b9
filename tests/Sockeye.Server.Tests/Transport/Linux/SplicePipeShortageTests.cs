using System.Net.Sockets;
using System.Runtime.Versioning;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// The Linux engine with fewer splice pipes than its tunnels' directions want: a direction that cannot have a pipe
/// copies through a buffer instead, and the bytes come out the same, in both directions at once, up to the half-close.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class SplicePipeShortageTests
{
    private const int Bytes = 4 << 20;

    [LinuxTheory]
    [InlineData(0)] // no pipe at all: both directions copy
    [InlineData(1)] // one pipe: one direction splices while it holds it, the other copies
    public async Task FewerPipesThanDirections_BothDirectionsAtOnce_ByteExact(int pipes)
    {
        // The budget's pipes are a fifth of what the runtime's reserve leaves, two descriptors each.
        DescriptorBudget budget = DescriptorBudget.FromLimit(DescriptorBudget.RuntimeReserve + 9 + (pipes * 10));
        Assert.Equal(pipes, budget.SplicePipes);
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = RelayEngine.Linux, descriptors: budget);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket upstream = await target.AcceptAsync();

        byte[] up = TestData.RandomBytes(Bytes, seed: 1);
        byte[] down = TestData.RandomBytes(Bytes, seed: 2);
        Task upload = client.Socket.SendAllThenShutdownAsync(up);
        Task download = upstream.SendAllThenShutdownAsync(down);
        Task<byte[]> uploaded = upstream.ReadToEndAsync(Bytes + 1);
        Task<byte[]> downloaded = client.Socket.ReadToEndAsync(Bytes + 1);

        await Task.WhenAll(upload, download).DefaultTimeout();
        byte[] atTarget = await uploaded.DefaultTimeout();
        byte[] atClient = await downloaded.DefaultTimeout();
        Assert.True(up.AsSpan().SequenceEqual(atTarget), "upload");
        Assert.True(down.AsSpan().SequenceEqual(atClient), "download");
        Assert.InRange(server.Server.SplicePipesOpen, 0, pipes);
    }
}
