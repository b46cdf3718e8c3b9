using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// Bandwidth pacing in the Linux engine's relay, on the client's event loop: its waits for tokens are deadlines of the
/// loop on the server's clock, here a <see cref="FakeTimeProvider"/> that only the test moves. So what passes depends on
/// the token buckets and the simulated time alone, and a wait the clock never reaches shows whether an abort ends it.
/// Each test runs with pipes (splice) and without (the copy fallback).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class EpollRelayPacingTests
{
    private const long Rate = 256 * 1024;

    // The bucket's capacity: a tenth of a second of the rate (TokenBucket).
    private const long Burst = Rate / 10;

    // A direction waits for tokens once less than a quarter of its burst is left, so at least this much passes first.
    private const long SpentBurst = Burst - (Burst / 4);

    private const int Bytes = 512 * 1024;
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan StepCatchUp = TimeSpan.FromSeconds(20);

    [LinuxTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PacedTunnel_ClockAdvanced_NeverMoreThanBurstPlusRateTimesElapsed_ThenByteExactBothWays(bool pipes)
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await StartPacedAsync(time, pipes);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();
        Assert.Equal(3, server.Server.TcpSocketsOnEventLoops);

        byte[] up = TestData.RandomBytes(Bytes, seed: 1);
        byte[] down = TestData.RandomBytes(Bytes, seed: 2);
        var upload = new Receiver(accepted);
        var download = new Receiver(client.Socket);
        Task uploadSent = client.Socket.SendAllThenShutdownAsync(up);
        Task downloadSent = accepted.SendAllThenShutdownAsync(down);

        // The clock stands still: each direction spends its burst, then waits for tokens that do not come.
        await SocketTestExtensions.WaitUntilAsync(() => upload.Received >= SpentBurst && download.Received >= SpentBurst);
        await Task.Delay(200);
        Assert.InRange(upload.Received, SpentBurst, Burst);
        Assert.InRange(download.Received, SpentBurst, Burst);

        // Bounded: twice the steps the transfer needs at the rate.
        int maxSteps = (int)(2 * Bytes * TimeSpan.TicksPerSecond / (Rate * Step.Ticks));
        Receiver[] receivers = [upload, download];
        for (int step = 1; upload.Received < Bytes || download.Received < Bytes; step++)
        {
            Assert.True(step <= maxSteps, $"After {step - 1} steps only {upload.Received} and {download.Received} of {Bytes} bytes arrived.\n{string.Join('\n', server.Logs.Lines)}");
            time.Advance(Step);
            long allowed = Burst + (Rate * step * Step.Ticks / TimeSpan.TicksPerSecond);

            // The relay may lag the clock, by up to a burst: wait until it has caught up before judging it.
            long floor = Math.Min(Bytes, allowed - (2 * Burst));
            foreach (Receiver receiver in receivers)
            {
                var clock = Stopwatch.StartNew();
                while (receiver.Received < floor && !receiver.Completion.IsCompleted)
                {
                    Assert.True(clock.Elapsed < StepCatchUp, $"At {step * Step.TotalMilliseconds} simulated ms only {receiver.Received} of {floor} bytes arrived.");
                    await Task.Delay(1);
                }

                Assert.True(receiver.Received <= allowed, $"At {step * Step.TotalMilliseconds} simulated ms {receiver.Received} bytes arrived; at most {allowed} may.");
            }
        }

        // Every byte is through; each FIN may still wait for tokens (a read that finds the end takes them too). The clock
        // moves on, with real time for the loop to see it.
        Task bothEnded = Task.WhenAll(upload.Completion, download.Completion);
        for (int i = 0; i < 2000 && !bothEnded.IsCompleted; i++)
        {
            time.Advance(Step);
            await Task.WhenAny(bothEnded, Task.Delay(5));
        }

        byte[] uploaded = await upload.Completion.DefaultTimeout();
        byte[] downloaded = await download.Completion.DefaultTimeout();
        Assert.True(up.AsSpan().SequenceEqual(uploaded), $"upload: {uploaded.Length} bytes arrived, not the {Bytes} sent");
        Assert.True(down.AsSpan().SequenceEqual(downloaded), $"download: {downloaded.Length} bytes arrived, not the {Bytes} sent");
        await Task.WhenAll(uploadSent, downloadSent).DefaultTimeout();
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        if (!pipes)
        {
            Assert.Equal(0, server.Server.SplicePipesOpen);
        }
    }

    [LinuxTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PacedTunnel_BothDirectionsWaitingForTokens_ServerStopsAtOnce_TunnelEndsWithoutTheClockMoving(bool pipes)
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await StartPacedAsync(time, pipes);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();
        var upload = new Receiver(accepted);
        var download = new Receiver(client.Socket);

        // Far more than the burst each way: once it is spent, both directions wait on deadlines the clock never reaches.
        // The sends never finish; closing the sockets ends them.
        _ = client.Socket.SendAsync(new byte[Bytes], SocketFlags.None);
        _ = accepted.SendAsync(new byte[Bytes], SocketFlags.None);
        await SocketTestExtensions.WaitUntilAsync(() => upload.Received >= SpentBurst && download.Received >= SpentBurst);

        // No grace period: every tunnel is aborted now, and the abort must end both waits for tokens.
        await server.Server.StopAsync(new CancellationToken(canceled: true)).DefaultTimeout();

        Assert.Equal(0, server.Server.ActiveSessionCount);
        Assert.Equal(0, server.Server.TcpSocketsOnEventLoops);
        Assert.InRange((await upload.Completion.DefaultTimeout()).Length, SpentBurst, Burst);
        Assert.InRange((await download.Completion.DefaultTimeout()).Length, SpentBurst, Burst);
    }

    [LinuxTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PacedTunnel_BothDirectionsWaitingForTokens_ItsLoopFails_TunnelEndsWithoutTheClockMoving(bool pipes)
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await StartPacedAsync(time, pipes);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        using Socket accepted = await target.AcceptAsync();
        var upload = new Receiver(accepted);
        var download = new Receiver(client.Socket);
        _ = client.Socket.SendAsync(new byte[Bytes], SocketFlags.None);
        _ = accepted.SendAsync(new byte[Bytes], SocketFlags.None);
        await SocketTestExtensions.WaitUntilAsync(() => upload.Received >= SpentBurst && download.Received >= SpentBurst);

        // A failed loop closes every session on it: a direction waiting on one of its deadlines too, not only on a socket.
        for (int loop = 0; loop < Environment.ProcessorCount; loop++)
        {
            server.Server.InjectEventLoopFailure("tcp", loop);
        }

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        await upload.Completion.DefaultTimeout();
        await download.Completion.DefaultTimeout();
    }

    [LinuxTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PacedTunnel_UploadWaitingForTokens_DestinationResets_TunnelEndsWithoutTheClockMoving(bool pipes)
    {
        var time = new FakeTimeProvider();
        await using TestServer server = await StartPacedAsync(time, pipes);
        using var target = new TcpTarget();
        using RawClient client = await RawClient.OpenTunnelAsync(server.EndPoint, target.EndPoint);
        Socket accepted = await target.AcceptAsync();
        var upload = new Receiver(accepted);
        _ = client.Socket.SendAsync(new byte[Bytes], SocketFlags.None);
        await SocketTestExtensions.WaitUntilAsync(() => upload.Received >= SpentBurst);

        // The download direction fails on the reset and aborts the tunnel, which must end the upload's wait for tokens.
        accepted.LingerState = new LingerOption(true, 0);
        accepted.Dispose();

        await SocketTestExtensions.WaitUntilAsync(() => server.Server.ActiveSessionCount == 0);
        Assert.Empty(await client.ReadToEndAsync());
        await SocketTestExtensions.WaitUntilAsync(() => server.Server.TcpSocketsOnEventLoops == 1);
    }

    /// <summary>
    /// A Linux-engine server on <paramref name="time"/> whose sessions are paced at <see cref="Rate"/> each way; without
    /// <paramref name="pipes"/> its pipe budget is nil, so that every direction copies.
    /// </summary>
    private static Task<TestServer> StartPacedAsync(FakeTimeProvider time, bool pipes)
    {
        // The budget's pipes are a fifth of what the runtime's reserve leaves: none of 9 descriptors.
        DescriptorBudget? budget = pipes ? null : DescriptorBudget.FromLimit(DescriptorBudget.RuntimeReserve + 9);
        Assert.True(budget is null || budget.SplicePipes == 0);
        return TestServer.StartAsync(o =>
        {
            o.RelayEngine = RelayEngine.Linux;
            o.Limits.SessionBytesPerSecond = Rate;

            // Only the canceled token of StopAsync ends the grace period: the simulated clock does not pass it.
            o.ShutdownTimeout = TimeSpan.FromMinutes(1);
        }, timeProvider: time, descriptors: budget);
    }

    /// <summary>
    /// Reads a socket to its end (a FIN, a reset, or the socket closed) and counts the bytes as they come. A byte beyond
    /// <see cref="Bytes"/> ends it too, so that a relay that sent too much shows as a wrong length.
    /// </summary>
    private sealed class Receiver
    {
        private readonly byte[] _received = new byte[Bytes + 1];
        private int _count;

        public Receiver(Socket socket) => Completion = ReceiveAsync(socket);

        public long Received => Volatile.Read(ref _count);

        /// <summary>What arrived, once the stream ended.</summary>
        public Task<byte[]> Completion { get; }

        private async Task<byte[]> ReceiveAsync(Socket socket)
        {
            try
            {
                while (_count < _received.Length)
                {
                    int read = await socket.ReceiveAsync(_received.AsMemory(_count), SocketFlags.None);
                    if (read == 0)
                    {
                        break;
                    }

                    Volatile.Write(ref _count, _count + read);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // A reset, or the test closed the socket: the stream ends here.
            }

            return _received[.._count];
        }
    }
}
