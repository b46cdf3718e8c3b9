using System.Net;
using System.Net.Sockets;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Limits;

public sealed class DescriptorBudgetTests
{
    [Theory]
    [InlineData(20_000L, 1024, 17_696L, 8_848L, 4_424L)]
    [InlineData(1_100L, 84, 676L, 338L, 169L)]
    [InlineData(1_024L, 76, 616L, 308L, 154L)]
    [InlineData(256L, 0, 0L, 0L, 1L)]
    [InlineData(10L, 0, 0L, 0L, 1L)]
    public void FromLimit_ReserveThenPipesThenSessions(long limit, int pipes, long capacity, long tunnels, long handshakes)
    {
        DescriptorBudget budget = DescriptorBudget.FromLimit(limit);

        Assert.Equal((pipes, capacity, tunnels, handshakes), (budget.SplicePipes, budget.Capacity, budget.TunnelCeiling, budget.HandshakeCeiling));
        Assert.True(DescriptorBudget.RuntimeReserve + (2 * budget.SplicePipes) + budget.Capacity <= Math.Max(limit, DescriptorBudget.RuntimeReserve));
    }

    [Fact]
    public void ForThisProcess_DividesTheSoftLimit()
    {
        DescriptorBudget budget = DescriptorBudget.ForThisProcess();

        string line = File.ReadLines("/proc/self/limits").Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        long soft = long.Parse(line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(soft, budget.OpenFileLimit);
    }

    [Fact]
    public void TryTake_BeyondCapacity_RefusedAndNothingTaken()
    {
        DescriptorBudget budget = DescriptorBudget.FromLimit(DescriptorBudget.RuntimeReserve + 6); // no pipes, 6 for sessions

        Assert.True(budget.TryTake(4));
        Assert.False(budget.TryTake(3));
        Assert.True(budget.TryTake(2));
        Assert.False(budget.TryTake(1));
        budget.Give(6);

        Assert.Equal((0L, 2L), (budget.InUse, budget.Refused));
    }

    [Fact]
    public void SessionLimiter_ConfiguredLimitsAboveTheCeilings_LoweredAndReported()
    {
        DescriptorBudget budget = DescriptorBudget.FromLimit(1_100);
        var options = new LimitsOptions { MaxHandshakes = 1024, MaxSessions = 5000 };

        var limiter = new SessionLimiter(options, budget);

        Assert.Equal((169, 338), (limiter.MaxHandshakes, limiter.MaxSessions));
        Assert.Equal([("MaxHandshakes", 1024, 169), ("MaxSessions", 5000, 338)], limiter.Lowered);
    }

    [Fact]
    public void SessionLimiter_UnsetLimits_GetTheCeilingsWithoutAWarning()
    {
        var limiter = new SessionLimiter(new LimitsOptions { MaxHandshakes = 0, MaxSessions = 0 }, DescriptorBudget.FromLimit(1_100));

        Assert.Equal((169, 338), (limiter.MaxHandshakes, limiter.MaxSessions));
        Assert.Empty(limiter.Lowered);
    }

    [Fact]
    public void SessionLimiter_LimitsWithinTheCeilings_Kept()
    {
        var limiter = new SessionLimiter(new LimitsOptions { MaxHandshakes = 100, MaxSessions = 200 }, DescriptorBudget.FromLimit(20_000));

        Assert.Equal((100, 200), (limiter.MaxHandshakes, limiter.MaxSessions));
        Assert.Empty(limiter.Lowered);
    }

    [Fact]
    public async Task Server_BudgetSpentByTunnels_RequestAnsweredGeneralFailure_ConnectionBeyondClosedAtAccept_ServedAgainAfterClose()
    {
        // 31 descriptors for sessions: 15 tunnels' worth, and one more.
        DescriptorBudget budget = DescriptorBudget.FromLimit(DescriptorBudget.RuntimeReserve + 37); // 3 pipes
        Assert.Equal(31, budget.Capacity);
        await using TestServer server = await TestServer.StartAsync(descriptors: budget);
        using var target = new TcpTarget();
        var tunnels = new List<RawClient>();
        var upstreams = new List<Socket>();
        try
        {
            for (int i = 0; i < 15; i++)
            {
                tunnels.Add(await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint));
                upstreams.Add(await target.AcceptAsync());
            }

            // The 16th client is admitted (one descriptor left), but its tunnel would need a second: X'01'.
            Assert.Equal(1, await RawClient.RequestAsync(server.EndPoint, Socks5Bytes.Connect(target.EndPoint)));

            // With one silent client holding the last descriptor, the next connection is closed right after accept. (The
            // refused client's session gives its descriptor back once it has closed, a moment after its reply.)
            await SocketTestExtensions.WaitUntilAsync(() => budget.InUse == 30);
            using RawClient silent = await RawClient.ConnectAsync(server.EndPoint);
            await SocketTestExtensions.WaitUntilAsync(() => budget.InUse == 31);
            using RawClient refused = await RawClient.ConnectAsync(server.EndPoint);
            Assert.Empty(await refused.ReadToEndAsync());
            Assert.True(server.Server.LimitStatistics.RejectedSessions >= 1);
            Assert.Contains(server.Logs.Lines, l => l.Contains("[1013]", StringComparison.Ordinal));

            // The tunnels already open never noticed.
            await tunnels[0].SendAsync("still"u8.ToArray());
            Assert.Equal("still"u8.ToArray(), await upstreams[0].ReceiveExactlyAsync(5));
        }
        finally
        {
            foreach (RawClient tunnel in tunnels)
            {
                tunnel.Dispose();
            }

            foreach (Socket upstream in upstreams)
            {
                upstream.Dispose();
            }
        }

        await SocketTestExtensions.WaitUntilAsync(() => budget.InUse <= 1);
        using RawClient again = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
    }

    [Fact]
    public async Task Server_UdpAssociation_TakesFourDescriptors_RefusedWhenFewerAreLeft()
    {
        DescriptorBudget budget = DescriptorBudget.FromLimit(DescriptorBudget.RuntimeReserve + 6); // no pipes, 6 for sessions
        Assert.Equal(6, budget.Capacity);
        await using TestServer server = await TestServer.StartAsync(descriptors: budget);
        using var target = new TcpTarget();
        using RawClient tunnel = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket upstream = await target.AcceptAsync();

        // Two descriptors in use, four left: one association fits, then nothing more.
        using RawClient association = await RawClient.ConnectAsync(server.EndPoint);
        await association.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(new IPEndPoint(IPAddress.Loopback, 0), command: 3)]);
        await association.ReceiveExactlyAsync(2);
        Assert.Equal(0, (await association.ReceiveReplyAsync())[1]);
        Assert.Equal(6, budget.InUse);

        using RawClient refused = await RawClient.ConnectAsync(server.EndPoint);
        Assert.Empty(await refused.ReadToEndAsync());
    }
}

public sealed class SplicePipeCapTests
{
    [Fact]
    public void TryRent_AtTheCap_RefusedWithEmfile_UntilAPipeIsClosed()
    {
        using var pool = new Sockeye.Server.Transport.Linux.SplicePipePool(64 * 1024, maxPipes: 2);
        Assert.True(pool.TryRent(out (int ReadEnd, int WriteEnd) first, out _));
        Assert.True(pool.TryRent(out (int ReadEnd, int WriteEnd) second, out _));

        Assert.False(pool.TryRent(out _, out int errno));
        Assert.Equal(24, errno);

        // A pipe that may hold bytes is closed, not pooled: that makes room for a new one.
        pool.Release(first, mayHoldBytes: true);
        Assert.Equal(1, pool.PipesOpen);
        Assert.True(pool.TryRent(out (int ReadEnd, int WriteEnd) third, out _));
        pool.Release(second, mayHoldBytes: false);
        pool.Release(third, mayHoldBytes: false);
        Assert.Equal(2, pool.PipesOpen);
    }
}
