using System.Net.Sockets;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Sessions;

/// <summary>
/// Which engine this assembly's test servers run on: Linux's event loops here, the portable engine (the runtime's
/// sockets) in the copy of these tests compiled as Sockeye.Server.Tests.Portable. Guards the switch that makes every
/// test run against both.
/// </summary>
public sealed class EngineUnderTestTests
{
    [Fact]
    public async Task DefaultTestServer_TunnelRunsOnTheEngineThisAssemblyTests()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket upstream = await target.AcceptAsync();

#if PORTABLE_ENGINE
        const bool onEventLoops = false;
#else
        bool onEventLoops = OperatingSystem.IsLinux();
#endif

        // The listener and both sides of the tunnel, or nothing at all; and the start says which (event 1016).
        Assert.Equal(onEventLoops ? 3 : 0, server.Server.TcpSocketsOnEventLoops);
        Assert.Contains(server.Logs.Lines, line => line.Contains($"Sessions run on the {(onEventLoops ? "linux" : "portable")} engine", StringComparison.Ordinal));
    }
}
