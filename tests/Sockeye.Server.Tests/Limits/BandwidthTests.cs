using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Limits;

/// <summary>
/// Rate limits end to end, through real loopback tunnels, with a <see cref="FakeTimeProvider"/> as the server's clock: the
/// test pushes data as fast as the sockets take it and advances simulated time in 10 ms steps, so what arrives in 10
/// simulated seconds depends on the token buckets alone, not on how busy the machine is.
/// </summary>
public sealed class BandwidthTests
{
    private const long Rate = 1 << 20;
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan StepCatchUp = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task SessionLimit_TenSimulatedSeconds_EachDirectionWithinOnePercentOfTheRate(RelayEngine mode)
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await StartSessionLimitedAsync(mode, time);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();
        await using var upload = new Flow(client.Socket, accepted);
        await using var download = new Flow(accepted, client.Socket);

        await RunTenSimulatedSecondsAsync(time, server, [upload, download]);

        AssertWithin(Rate * 10, upload.Received, "upload");
        AssertWithin(Rate * 10, download.Received, "download");
    }

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task UserLimit_TwoSessionsOfOneUser_TheirSumObeysTheRate(RelayEngine mode)
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.RelayEngine = mode;
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Limits.UserBytesPerSecond = Rate;
        }, timeProvider: time);
        using var target = new TcpTarget();
        using RawClient first = await OpenAuthenticatedTunnelAsync(server, target, "alice", "secret");
        using Socket firstAccepted = await target.AcceptAsync();
        using RawClient second = await OpenAuthenticatedTunnelAsync(server, target, "alice", "secret");
        using Socket secondAccepted = await target.AcceptAsync();
        Assert.Equal(1, server.Server.Bandwidth.UserCount);

        await using (var firstUpload = new Flow(first.Socket, firstAccepted))
        await using (var secondUpload = new Flow(second.Socket, secondAccepted))
        {
            var total = new SumOfFlows(firstUpload, secondUpload);
            await RunTenSimulatedSecondsAsync(time, server, [total]);
            AssertWithin(Rate * 10, total.Received, $"both uploads ({firstUpload.Received} + {secondUpload.Received})");
        }

        // The user's sessions end. A direction may be waiting for tokens: move the clock on.
        first.Dispose();
        second.Dispose();
        firstAccepted.Dispose();
        secondAccepted.Dispose();
        for (int i = 0; i < 500 && server.Server.ActiveSessionCount > 0; i++)
        {
            time.Advance(Step);
            await Task.Delay(10);
        }

        Assert.Equal(0, server.Server.ActiveSessionCount);

        // Then they stay until they have refilled (a tenth of a second of the rate), and go.
        Assert.Equal(1, server.Server.Bandwidth.UserCount);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, server.Server.Bandwidth.UserCount);
    }

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task UserLimit_AnonymousSession_NotPaced(RelayEngine mode)
    {
        // Simulated time never moves: a paced tunnel could not pass more than its 100 ms burst.
        const int Size = 8 << 20;
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.RelayEngine = mode;
            o.Limits.UserBytesPerSecond = 1024;
        }, timeProvider: time);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        Task<long> received = CountToEndAsync(accepted);
        byte[] chunk = new byte[64 * 1024];
        for (int sent = 0; sent < Size; sent += chunk.Length)
        {
            await client.Socket.SendAsync(chunk, SocketFlags.None).DefaultTimeout();
        }

        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal(Size, await received.DefaultTimeout());
    }

    [Fact]
    public async Task SessionLimit_TunnelIdle_HoldsNoTokensAndStillClosesCleanly()
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.SessionBytesPerSecond = Rate, timeProvider: time);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();

        // Within the burst, with simulated time standing still: passes at once, both ways, and EOF is passed on.
        await client.SendAsync(new byte[1000]);
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal(1000, (await accepted.ReadToEndAsync()).Length);
        await accepted.SendAsync(new byte[2000], SocketFlags.None).DefaultTimeout();
        accepted.Shutdown(SocketShutdown.Send);
        Assert.Equal(2000, (await client.ReadToEndAsync()).Length);
    }

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task SessionLimit_UploadWaitingForTokens_TargetResets_SessionEndsWithoutTheClockMoving(RelayEngine mode)
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await StartSessionLimitedAsync(mode, time);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        Socket accepted = await target.AcceptAsync();

        // Far more than the burst (a tenth of a second of the rate): with simulated time standing still, the upload
        // direction spends the burst and then waits for tokens that never come. It only waits once less than a quarter
        // of the burst is left (short reads give tokens back), so at least three quarters of it arrive first.
        _ = client.Socket.SendAsync(new byte[Rate], SocketFlags.None);
        byte[] buffer = new byte[64 * 1024];
        int received = 0;
        while (received < Rate / 10 - Rate / 40)
        {
            received += await accepted.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout();
        }

        accepted.LingerState = new LingerOption(true, 0);
        accepted.Dispose();

        // The failed download direction aborts the tunnel, and the abort must reach the upload's wait for tokens too.
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        Assert.Empty(await client.ReadToEndAsync());
    }

    [Theory]
    [InlineData(RelayEngine.Portable)]
    [InlineData(RelayEngine.Linux)]
    public async Task SessionLimit_BytesPipelinedBehindTheRequest_CountAgainstTheRate(RelayEngine mode)
    {
        // A burst of 400 bytes; 300 of them ride behind the request, in the handshake's own read.
        const int SmallRate = 4_000;
        var time = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.RelayEngine = mode;
            o.Limits.SessionBytesPerSecond = SmallRate;
        }, timeProvider: time);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.NoAuthGreeting, .. Socks5Bytes.Connect(target.EndPoint), .. new byte[300]]);
        Assert.Equal(new byte[] { 5, 0 }, await client.ReceiveExactlyAsync(2));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
        using Socket accepted = await target.AcceptAsync();
        await accepted.ReceiveExactlyAsync(300);

        // 100 bytes of the burst are left, and the clock stands still: of 400 more, only those 100 may pass.
        await client.SendAsync(new byte[400]);
        await accepted.ReceiveExactlyAsync(100);
        await Task.Delay(300);
        Assert.Equal(0, accepted.Available);

        // A simulated second later the rest has gone through.
        time.Advance(TimeSpan.FromSeconds(1));
        await accepted.ReceiveExactlyAsync(300);
    }

    /// <summary>A server whose sessions are limited to <see cref="Rate"/> each way, on simulated time.</summary>
    private static Task<TestServer> StartSessionLimitedAsync(RelayEngine mode, FakeTimeProvider time) =>
        TestServer.StartAsync(o =>
        {
            o.RelayEngine = mode;
            o.Limits.SessionBytesPerSecond = Rate;
        }, timeProvider: time);

    /// <summary>
    /// Advances simulated time to 10 s in 10 ms steps. After each step every flow must reach <c>Rate × t</c> (the relay
    /// may lag the clock by up to its burst, never more) and must stay under <c>Rate × t + burst</c>.
    /// </summary>
    private static async Task RunTenSimulatedSecondsAsync(FakeTimeProvider time, TestServer server, IReceivedCount[] flows)
    {
        long burst = Rate / 10;
        int steps = (int)(TimeSpan.FromSeconds(10) / Step);
        for (int step = 1; step <= steps; step++)
        {
            time.Advance(Step);
            long floor = Rate * step * Step.Ticks / TimeSpan.TicksPerSecond;
            foreach (IReceivedCount flow in flows)
            {
                var clock = Stopwatch.StartNew();
                for (int poll = 0; flow.Received < floor; poll++)
                {
                    Assert.True(poll < 100_000 && clock.Elapsed < StepCatchUp,
                        $"At {step * Step.TotalMilliseconds} simulated ms only {flow.Received} of {floor} bytes arrived.\n{string.Join('\n', server.Logs.Lines)}");
                    await Task.Delay(1);
                }

                Assert.True(flow.Received <= floor + burst, $"At {step * Step.TotalMilliseconds} simulated ms {flow.Received} bytes arrived; at most {floor + burst} may.");
            }
        }
    }

    private static void AssertWithin(long expected, long actual, string what)
    {
        double ratio = (double)actual / expected;
        Assert.True(ratio is >= 0.99 and <= 1.02, $"{what}: {actual} bytes in 10 simulated seconds, expected {expected} ({(ratio - 1) * 100:+0.00;-0.00} %)");
    }

    private static async Task<RawClient> OpenAuthenticatedTunnelAsync(TestServer server, TcpTarget target, string user, string password)
    {
        RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials(user, password), .. Socks5Bytes.Connect(target.EndPoint)]);
        Assert.Equal(new byte[] { 5, 2, 1, 0 }, await client.ReceiveExactlyAsync(4));
        Assert.Equal(0, (await client.ReceiveReplyAsync())[1]);
        return client;
    }

    private static async Task<long> CountToEndAsync(Socket socket)
    {
        byte[] buffer = new byte[64 * 1024];
        long total = 0;
        for (int i = 0; i < 1_000_000; i++)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout();
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    private interface IReceivedCount
    {
        long Received { get; }
    }

    private sealed class SumOfFlows(Flow first, Flow second) : IReceivedCount
    {
        public long Received => first.Received + second.Received;
    }

    /// <summary>Sends from one socket as fast as it takes data, and counts what arrives at the other, until disposed.</summary>
    private sealed class Flow : IReceivedCount, IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _sender;
        private readonly Task _receiver;
        private long _received;

        public Flow(Socket from, Socket to)
        {
            _sender = SendAsync(from, _stop.Token);
            _receiver = ReceiveAsync(to, _stop.Token);
        }

        public long Received => Volatile.Read(ref _received);

        private static async Task SendAsync(Socket socket, CancellationToken cancellationToken)
        {
            byte[] chunk = new byte[64 * 1024];

            // Bounded: 20 simulated seconds' worth is more than the relay may pass in the 10 s a test runs.
            for (long sent = 0; sent < Rate * 20;)
            {
                sent += await socket.SendAsync(chunk, SocketFlags.None, cancellationToken);
            }
        }

        private async Task ReceiveAsync(Socket socket, CancellationToken cancellationToken)
        {
            byte[] buffer = new byte[64 * 1024];
            for (long total = 0; total < Rate * 20;)
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    return;
                }

                total += read;
                Interlocked.Add(ref _received, read);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await Task.WhenAll(_sender, _receiver).DefaultTimeout();
            }
            catch (OperationCanceledException)
            {
                // Stopped mid-send or mid-receive, as intended.
            }

            _stop.Dispose();
        }
    }
}
