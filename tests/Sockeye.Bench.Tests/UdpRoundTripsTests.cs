using System.Net;
using System.Net.Sockets;

namespace Sockeye.Bench.Tests;

/// <summary>
/// The UDP figure's generator: every round trip of a working path counted, and a dead path ends the run with everything
/// lost rather than spinning for the whole count.
/// </summary>
public sealed class UdpRoundTripsTests
{
    [Fact]
    public async Task DirectToItsEcho_CompletesEveryRoundTrip()
    {
        using Socket client = UdpRoundTrips.Bind();
        using Socket echo = UdpRoundTrips.Bind();
        client.Connect(echo.LocalEndPoint!);

        (double perSecond, long lost) = await new UdpRoundTrips(client, echo, new byte[1200], 20_000).RunAsync().WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(0, lost);
        Assert.True(perSecond > 0, $"{perSecond} round trips/s");
    }

    [Fact]
    public async Task PathThatDropsEverything_CountsTheRunLost_AfterTwoTimeouts()
    {
        using Socket client = UdpRoundTrips.Bind();
        using Socket echo = UdpRoundTrips.Bind();
        using Socket blackHole = UdpRoundTrips.Bind(); // Bound, so no ICMP refusal: it takes datagrams and never answers.
        client.Connect(blackHole.LocalEndPoint!);

        (double perSecond, long lost) = await new UdpRoundTrips(client, echo, new byte[64], 100_000).RunAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(100_000, lost);
        Assert.Equal(0, perSecond);

        // The window, then one refill after the first timeout.
        int arrived = 0;
        byte[] buffer = new byte[64];
        for (; arrived < 1_000 && blackHole.Poll(0, SelectMode.SelectRead); arrived++)
        {
            blackHole.Receive(buffer);
        }

        Assert.Equal(2 * UdpRoundTrips.Window, arrived);
    }

    [Fact]
    public async Task PathThatIsRefused_FailsWithTheKernelsError()
    {
        using Socket client = UdpRoundTrips.Bind();
        using Socket echo = UdpRoundTrips.Bind();
        using (Socket closed = UdpRoundTrips.Bind())
        {
            client.Connect(closed.LocalEndPoint!);
        }

        // The first datagram to the closed port is answered with ICMP port unreachable; the connected socket reports it.
        IOException error = await Assert.ThrowsAsync<IOException>(() => new UdpRoundTrips(client, echo, new byte[64], 1_000).RunAsync().WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("refused", error.Message, StringComparison.OrdinalIgnoreCase);
    }
}
