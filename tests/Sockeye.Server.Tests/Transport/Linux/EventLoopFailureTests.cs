using System.Net.Sockets;
using System.Runtime.Versioning;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;
using Sockeye.Testing;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// An event loop whose epoll_wait fails (injected): every session on it closes at once, logged and counted, the listener
/// moves to another loop, and the server goes on serving. Before, the loop logged and stopped, leaving its sessions hanging
/// and, when the listener was on it, the server no longer accepting. Linux only: elsewhere each test is skipped.
/// </summary>
public sealed class EventLoopFailureTests
{
    private const int Tunnels = 6;

    [LinuxFact]
    [SupportedOSPlatform("linux")]
    public async Task EveryTcpLoopFails_EveryTunnelClosesPromptly_ListenerMovesOn_NewTunnelServed()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = RelayEngine.Linux);
        using var target = new TcpTarget();
        var tunnels = await OpenTunnelsAsync(server, target);
        try
        {
            int failed = 0;
            for (int index = 0; index < Environment.ProcessorCount; index++)
            {
                failed += server.Server.InjectEventLoopFailure("tcp", index) ? 1 : 0;
            }

            foreach ((RawClient client, _) in tunnels)
            {
                Assert.True(await IsClosedByServerAsync(client.Socket), "a tunnel on a failed loop was left open");
            }

            await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
            Assert.Equal(failed, server.Logs.Lines.Count(line => line.StartsWith("Critical Sockeye.Server[1009]", StringComparison.Ordinal)));
            Assert.Equal(failed, server.Server.EventLoopFaults.FailedLoops);

            // The listener was on one of those loops: it accepts on a new one.
            using RawClient again = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
            using Socket upstream = await target.AcceptAsync();
            await again.SendAsync("again"u8.ToArray());
            Assert.Equal("again"u8.ToArray(), await upstream.ReceiveExactlyAsync(5));
        }
        finally
        {
            CloseAll(tunnels);
        }
    }

    [LinuxFact]
    [SupportedOSPlatform("linux")]
    public async Task OneTcpLoopFails_ItsTunnelsClose_TunnelsOnOtherLoopsGoOnRelaying()
    {
        if (Environment.ProcessorCount < 2)
        {
            // One core, one loop: there are no other loops to go on, and EveryTcpLoopFails covers what happens.
            return;
        }

        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = RelayEngine.Linux);
        using var target = new TcpTarget();
        var tunnels = await OpenTunnelsAsync(server, target);
        try
        {
            Assert.True(server.Server.InjectEventLoopFailure("tcp", 0));

            // Clients go to the loops in turn, so the tunnels are spread over all of them: some close, the rest relay.
            int closed = 0;
            foreach ((RawClient client, Socket upstream) in tunnels)
            {
                Task<byte[]> relayed = upstream.ReceiveExactlyAsync(1);
                if (!await TrySendAsync(client.Socket, "x"u8.ToArray()) || await IsClosedByServerAsync(client.Socket, TimeSpan.FromSeconds(2)))
                {
                    closed++;
                    continue;
                }

                Assert.Equal("x"u8.ToArray(), await relayed);
                await upstream.SendAsync("y"u8.ToArray(), SocketFlags.None);
                Assert.Equal("y"u8.ToArray(), await client.ReceiveExactlyAsync(1));
            }

            Assert.InRange(closed, 1, Tunnels - 1);
            await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == Tunnels - closed);
        }
        finally
        {
            CloseAll(tunnels);
        }
    }

    [LinuxFact]
    [SupportedOSPlatform("linux")]
    public async Task UdpLoopFails_TheAssociationEndsWithItsControlConnection()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = RelayEngine.Linux);
        using UdpAssociateClient association = await UdpAssociateClient.OpenAsync(server.EndPoint);
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.UdpSocketsOnEventLoops == 1);

        for (int index = 0; index < Environment.ProcessorCount; index++)
        {
            server.Server.InjectEventLoopFailure("udp", index);
        }

        // The relay is dead: the server closes the control connection rather than leave the client waiting.
        Assert.True(await IsClosedByServerAsync(association.Control.Socket), "the association outlived its event loop");
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);

        // A new association gets a new loop.
        using UdpAssociateClient next = await UdpAssociateClient.OpenAsync(server.EndPoint);
        Assert.Equal(0, next.Reply[1]);
    }

    private static async Task<List<(RawClient Client, Socket Upstream)>> OpenTunnelsAsync(TestServer server, TcpTarget target)
    {
        var tunnels = new List<(RawClient, Socket)>(Tunnels);
        for (int i = 0; i < Tunnels; i++)
        {
            RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
            tunnels.Add((client, await target.AcceptAsync()));
        }

        return tunnels;
    }

    private static async Task<bool> TrySendAsync(Socket socket, byte[] bytes)
    {
        try
        {
            await socket.SendAsync(bytes, SocketFlags.None);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Whether the server ends the connection (FIN or RST) within <paramref name="within"/> (10 s by default).</summary>
    private static async Task<bool> IsClosedByServerAsync(Socket socket, TimeSpan? within = null)
    {
        byte[] buffer = new byte[64];
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(10));
        try
        {
            for (int reads = 0; reads < 1000; reads++)
            {
                if (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 0)
                {
                    return true;
                }
            }

            return false;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static void CloseAll(List<(RawClient Client, Socket Upstream)> tunnels)
    {
        foreach ((RawClient client, Socket upstream) in tunnels)
        {
            client.Dispose();
            upstream.Dispose();
        }
    }
}
