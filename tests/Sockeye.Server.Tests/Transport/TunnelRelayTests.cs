using System.Diagnostics;
using System.Net.Sockets;
using Sockeye.Server.Transport;
using Sockeye.Testing;

namespace Sockeye.Server.Tests.Transport;

/// <summary>
/// The coordination every relay shares (<see cref="TunnelRelay"/>), with directions the test ends itself: what the
/// outcome says, and that it comes once however the two directions' ends interleave.
/// </summary>
public sealed class TunnelRelayTests
{
    [Fact]
    public async Task BothDirectionsEndAtTheSameMomentOnTwoThreads_OutcomeComesOnce_NothingThrowsOnTheThreadPool()
    {
        // The runtime relay's directions end on thread-pool threads, so the two ends can race. The relay used to read
        // the first direction's result before the first end had stored it: a null dereference in a continuation,
        // which ends the process. Two threads released together hit that window within some thousands of tunnels.
        var stopwatch = Stopwatch.StartNew();
        int tunnels = 0;
        using var bothReady = new Barrier(2);
        while (tunnels < 20_000 && stopwatch.Elapsed < TimeSpan.FromSeconds(10))
        {
            var relay = new ScriptedRelay();
            ValueTask<RelayOutcome> outcome = relay.RunAsync(CancellationToken.None);
            Thread other = new(() =>
            {
                bothReady.SignalAndWait();
                relay.EndAtEof(upstream: false);
            });
            other.Start();
            bothReady.SignalAndWait();
            relay.EndAtEof(upstream: true);
            other.Join();

            RelayOutcome result = await outcome.AsTask().WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal((RelayDirectionEnd.Eof, RelayDirectionEnd.Eof, SocketError.Success), (result.Upstream, result.Downstream, result.SocketError));
            Assert.True(relay.Shutdowns == 1, $"{relay.Shutdowns} FINs passed on");
            Assert.False(relay.AbortedDirections);
            tunnels++;
        }

        Assert.True(tunnels >= 1000, $"only {tunnels} tunnels in the time given");
    }

    [Fact]
    public async Task FirstDirectionFails_TheOtherIsAborted_OutcomeNamesTheFirstError()
    {
        var relay = new ScriptedRelay();
        ValueTask<RelayOutcome> outcome = relay.RunAsync(CancellationToken.None);

        relay.Fail(upstream: true, RelayDirectionEnd.ReadFailed, SocketError.ConnectionReset);
        await SocketTestExtensions.WaitUntilAsync(() => relay.AbortedDirections);
        relay.Fail(upstream: false, RelayDirectionEnd.WriteFailed, SocketError.ConnectionReset);

        RelayOutcome result = await outcome.AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(RelayDirectionEnd.ReadFailed, result.Upstream);
        Assert.Equal(RelayDirectionEnd.Canceled, result.Downstream);
        Assert.Equal(SocketError.ConnectionReset, result.SocketError);
    }

    [Fact]
    public async Task OneDirectionAtEof_TheOtherKeepsRunning_UntilItEndsToo()
    {
        var relay = new ScriptedRelay();
        ValueTask<RelayOutcome> outcome = relay.RunAsync(CancellationToken.None);

        relay.EndAtEof(upstream: true);

        // The relay learns of the end in the direction task's continuation, which the scripted task runs inline in
        // EndAtEof: by now it has acted, rightly or wrongly.
        Assert.False(outcome.IsCompleted);
        Assert.False(relay.AbortedDirections);
        relay.EndAtEof(upstream: false);

        RelayOutcome result = await outcome.AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal((RelayDirectionEnd.Eof, RelayDirectionEnd.Eof), (result.Upstream, result.Downstream));
        Assert.Equal(1, relay.Shutdowns);
    }

    /// <summary>A relay whose directions are tasks the test completes.</summary>
    private sealed class ScriptedRelay() : TunnelRelay(TimeProvider.System)
    {
        private int _shutdowns;
        private int _abortedDirections;

        private readonly TaskCompletionSource<DirectionResult> _upstream = new();
        private readonly TaskCompletionSource<DirectionResult> _downstream = new();

        public int Shutdowns => Volatile.Read(ref _shutdowns);

        public bool AbortedDirections => Volatile.Read(ref _abortedDirections) != 0;

        /// <summary>Ends a direction as a relay does at the source's FIN (passing it on), on the calling thread.</summary>
        public void EndAtEof(bool upstream) => (upstream ? _upstream : _downstream).SetResult(ForwardEof(upstream));

        /// <summary>Ends a direction with a failure, as a relay reports it (canceled once the tunnel was aborted).</summary>
        public void Fail(bool upstream, RelayDirectionEnd end, SocketError error) => (upstream ? _upstream : _downstream).SetResult(Ended(end, error));

        protected override (Task<DirectionResult> Upstream, Task<DirectionResult> Downstream) StartDirections(ref CancellationToken cancellationToken) =>
            (_upstream.Task, _downstream.Task);

        protected override void AbortDirections() => Interlocked.Exchange(ref _abortedDirections, 1);

        protected override void ShutdownSink(bool upstream) => Interlocked.Increment(ref _shutdowns);
    }
}
