using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Commands;

/// <summary>
/// The datagram path must not allocate per datagram. Measured process-wide, so this runs alone, with a client and an echo
/// that allocate nothing per datagram either (pre-sized buffers, <see cref="SocketAddress"/> overloads).
/// </summary>
[Collection(ProcessWideResources.Name)]
public sealed class UdpAllocationTests
{
    [Theory]
    [InlineData(RelayEngine.Linux)] // on Linux: the association's sockets on an event loop
    [InlineData(RelayEngine.Portable)] // awaiting receives
    public async Task Associate_SteadyState_AllocatesNothingPerDatagram(RelayEngine mode)
    {
        if (mode == RelayEngine.Linux && !OperatingSystem.IsLinux())
        {
            return;
        }

        const int Warmup = 2000;
        const int Measured = 3000;
        await using TestServer server = await TestServer.StartAsync(o => o.RelayEngine = mode);
        using var echo = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        echo.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var cancel = new CancellationTokenSource();
        Task echoLoop = EchoAsync(echo, cancel.Token);
        using UdpAssociateClient client = await UdpAssociateClient.OpenAsync(server.EndPoint);

        byte[] datagram = [.. UdpAssociateClient.Header((IPEndPoint)echo.LocalEndPoint!), .. new byte[100]];
        byte[] answer = new byte[2048];
        SocketAddress relay = client.Relay.Serialize();
        var from = new SocketAddress(AddressFamily.InterNetwork);

        await RoundTripsAsync(client.Udp, datagram, answer, relay, from, Warmup).DefaultTimeout();

        // The best of a few windows: an allocation per datagram shows in every window, the test host's own work does not.
        long best = long.MaxValue;
        for (int window = 0; window < 4; window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            await RoundTripsAsync(client.Udp, datagram, answer, relay, from, Measured).DefaultTimeout();
            best = Math.Min(best, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        await cancel.CancelAsync();
        await echoLoop.DefaultTimeout();

        // Anything allocated per datagram (an endpoint, an address, a boxed state machine) is 24 bytes at the very least;
        // a Debug build's async box for a per-datagram call was 187.
        Assert.True(best < Measured * 16, $"{best} bytes allocated for {Measured} round trips ({best / Measured} per round trip)");
    }

    private static async Task RoundTripsAsync(Socket udp, byte[] datagram, byte[] answer, SocketAddress relay, SocketAddress from, int count)
    {
        for (int i = 0; i < count; i++)
        {
            await udp.SendToAsync(datagram, SocketFlags.None, relay);
            int received = await udp.ReceiveFromAsync(answer, SocketFlags.None, from);
            if (received != datagram.Length)
            {
                throw new InvalidDataException($"Round trip {i}: {received} bytes instead of {datagram.Length}");
            }
        }
    }

    private static async Task EchoAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[2048];
        var from = new SocketAddress(AddressFamily.InterNetwork);
        try
        {
            while (true)
            {
                int received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, from, cancellationToken);
                await socket.SendToAsync(buffer.AsMemory(0, received), SocketFlags.None, from, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            // The test is over.
        }
    }
}
