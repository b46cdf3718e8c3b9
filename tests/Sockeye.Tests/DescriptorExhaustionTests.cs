using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests;

/// <summary>
/// The executable under a low open-file limit (prlimit), flooded with more clients than its descriptors allow. Before the
/// descriptor budget, the runtime met EMFILE while starting a thread and aborted the process ("Out of memory.", exit
/// 134), dropping every tunnel; now clients beyond the budget are refused and the process serves on.
/// </summary>
public sealed partial class DescriptorExhaustionTests
{
    // Low enough that a few hundred clients reach it, high enough for the runtime to start: 256 reserved, 84 pipes,
    // room for 338 tunnels.
    private const int OpenFileLimit = 1100;

    private readonly ITestOutputHelper _output;

    public DescriptorExhaustionTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task TunnelFlood_BeyondTheDescriptors_RefusedWithGeneralFailure_ProcessServesAgainOnceTheyClose()
    {
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", "127.0.0.1:0"], openFileLimit: OpenFileLimit);
        int port = await sockeye.WaitForListeningPortAsync();
        await sockeye.WaitForOutputAsync(CeilingsLine(), TestTimeouts.Default);
        using var target = new TargetServer(backlog: 2048);
        using Socket before = await Socks5Client.ConnectAsync(port, credentials: null, target.Port);
        using Socket beforeUpstream = await target.AcceptAsync();
        var clients = new List<Socket>();
        try
        {
            int opened = 1;
            int refused = 0;
            for (int i = 0; i < 700; i++)
            {
                (Socket socket, int reply) = await RequestAsync(port, command: 0x01, target.Port);
                clients.Add(socket);
                if (reply == 0x00)
                {
                    opened++;
                }
                else
                {
                    Assert.True(reply is 0x01 or -1, $"request {i}: reply {reply}");
                    refused++;
                }
            }

            Assert.False(sockeye.HasExited, sockeye.Transcript);
            Assert.InRange(opened, 300, 338);
            Assert.Equal(701 - opened, refused);
            await sockeye.WaitForOutputAsync(ExhaustedLine(), TestTimeouts.Default);

            // The tunnel opened before the flood still carries bytes both ways: the refusals cost it nothing.
            await Socks5Client.SendAsync(before, "up"u8.ToArray());
            Assert.Equal("up"u8.ToArray(), await Socks5Client.ReceiveExactlyAsync(beforeUpstream, 2));
            await Socks5Client.SendAsync(beforeUpstream, "down"u8.ToArray());
            Assert.Equal("down"u8.ToArray(), await Socks5Client.ReceiveExactlyAsync(before, 4));
        }
        finally
        {
            CloseAll(clients);

            // Closing only the clients would leave the tunnels half-closed, waiting on the destinations: reset those too.
            target.Dispose();
        }

        using var nextTarget = new TargetServer();
        await AssertServesAgainAsync(sockeye, port, nextTarget);
    }

    [Fact]
    public async Task SilentHandshakeFlood_TwiceTheLimit_ProcessLivesAndServes()
    {
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", "127.0.0.1:0"], openFileLimit: OpenFileLimit);
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();
        var silent = new List<Socket>();
        try
        {
            for (int i = 0; i < 2 * OpenFileLimit; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                silent.Add(socket);
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).DefaultTimeout();
            }

            // The flood evicts its own oldest handshakes at the handshake ceiling: a client that speaks at once is served.
            using Socket client = await Socks5Client.ConnectAsync(port, credentials: null, target.Port);
            Assert.False(sockeye.HasExited, sockeye.Transcript);
        }
        finally
        {
            CloseAll(silent);
        }

        await AssertServesAgainAsync(sockeye, port, target);
    }

    [Fact]
    public async Task BindFlood_BeyondTheDescriptors_RefusedWithGeneralFailure_ProcessServesAgainOnceTheyClose()
    {
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", "127.0.0.1:0"], openFileLimit: OpenFileLimit);
        int port = await sockeye.WaitForListeningPortAsync();
        var clients = new List<Socket>();
        try
        {
            int waiting = 0;
            for (int i = 0; i < 700; i++)
            {
                // BIND, expecting a peer from 127.0.0.1: the first reply comes when the server listens for it.
                (Socket socket, int reply) = await RequestAsync(port, command: 0x02, targetPort: 0);
                clients.Add(socket);
                Assert.True(reply is 0x00 or 0x01 or -1, $"request {i}: reply {reply}");
                waiting += reply == 0x00 ? 1 : 0;
            }

            Assert.False(sockeye.HasExited, sockeye.Transcript);
            Assert.InRange(waiting, 300, 338);
        }
        finally
        {
            CloseAll(clients);
        }

        using var target = new TargetServer();
        await AssertServesAgainAsync(sockeye, port, target);
    }

    /// <summary>
    /// Greeting (NO AUTH) and a request for 127.0.0.1:<paramref name="targetPort"/> in one write; returns the connection and
    /// the reply code, or -1 when the server closed the connection without one (refused right after accept).
    /// </summary>
    private static async Task<(Socket Socket, int Reply)> RequestAsync(int port, byte command, int targetPort)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).DefaultTimeout();
            await Socks5Client.SendAsync(socket, [0x05, 0x01, 0x00, 0x05, command, 0x00, 0x01, 127, 0, 0, 1, (byte)(targetPort >> 8), (byte)targetPort]);
            byte[] answer = new byte[12];
            int received = 0;
            while (received < answer.Length)
            {
                int read = await socket.ReceiveAsync(answer.AsMemory(received), SocketFlags.None).AsTask().DefaultTimeout();
                if (read == 0)
                {
                    break;
                }

                received += read;
            }

            return (socket, received >= 4 ? answer[3] : -1);
        }
        catch (SocketException)
        {
            return (socket, -1);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Once the flood's connections are closed, a new tunnel is served (within a bounded wait for the server to notice).</summary>
    private static async Task AssertServesAgainAsync(SockeyeProcess sockeye, int port, TargetServer target)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            (Socket socket, int reply) = await RequestAsync(port, command: 0x01, target.Port);
            using (socket)
            {
                if (reply == 0x00)
                {
                    Assert.False(sockeye.HasExited, sockeye.Transcript);
                    return;
                }
            }

            await Task.Delay(100);
        }

        Assert.Fail("no tunnel was served after the flood closed\n" + sockeye.Transcript);
    }

    private static void CloseAll(List<Socket> sockets)
    {
        foreach (Socket socket in sockets)
        {
            socket.Dispose();
        }
    }

    [GeneratedRegex(@"Sockeye\.Server\[1011\] Open-file limit 1100: 256 kept for the runtime and listeners, 168 for splice pipes; room for 338 tunnels")]
    private static partial Regex CeilingsLine();

    [GeneratedRegex(@"Sockeye\.Server\[1013\] Out of descriptors for clients")]
    private static partial Regex ExhaustedLine();
}
