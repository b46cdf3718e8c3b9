using Sockeye.Server.Transport.Linux;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// The one-waiter readiness latch of an edge-triggered descriptor: edges remembered or consumed, inline completion on the
/// signalling thread, terminal cancellation, and reuse across many cycles with no lost edge.
/// </summary>
public sealed class ReadinessWaiterTests
{
    [Fact]
    public async Task Signal_BeforeWait_WaitCompletesSynchronously()
    {
        var waiter = new ReadinessWaiter();

        waiter.Signal();
        ValueTask wait = waiter.WaitAsync();

        await AssertCompletedAsync(wait);
        Assert.False(waiter.IsCanceled);
    }

    [Fact]
    public async Task Consume_ForgetsAnEarlierEdge_WaitPendsUntilTheNextSignal()
    {
        var waiter = new ReadinessWaiter();
        waiter.Signal();
        waiter.Consume();

        ValueTask wait = waiter.WaitAsync();
        Assert.False(wait.IsCompleted);

        waiter.Signal();
        await AssertCompletedAsync(wait);
    }

    [Fact]
    public async Task Consume_WithoutAnEdge_ChangesNothing()
    {
        var waiter = new ReadinessWaiter();
        waiter.Consume();
        waiter.Consume();

        ValueTask wait = waiter.WaitAsync();
        Assert.False(wait.IsCompleted);

        waiter.Signal();
        await AssertCompletedAsync(wait);
    }

    [Fact]
    public async Task StartedDrained_WaitPendsUntilAnEdge_WhichEndsTheDrainedState()
    {
        var waiter = new ReadinessWaiter(drained: true);
        Assert.True(waiter.IsDrained);

        ValueTask wait = waiter.WaitAsync();
        Assert.False(wait.IsCompleted);

        waiter.Signal();
        await AssertCompletedAsync(wait);
        Assert.False(waiter.IsDrained);
    }

    [Fact]
    public async Task MarkDrained_AfterConsume_IsDrained_UntilTheNextEdge()
    {
        var waiter = new ReadinessWaiter();
        waiter.Signal();
        waiter.Consume();
        waiter.MarkDrained();
        Assert.True(waiter.IsDrained);

        waiter.Signal();
        Assert.False(waiter.IsDrained);
        await AssertCompletedAsync(waiter.WaitAsync());
    }

    [Fact]
    public async Task MarkDrained_AnEdgeCameAfterConsume_TheEdgeWins()
    {
        // The read drained the descriptor, but data came after it: the wait must not pend.
        var waiter = new ReadinessWaiter();
        waiter.Consume();
        waiter.Signal();
        waiter.MarkDrained();

        Assert.False(waiter.IsDrained);
        await AssertCompletedAsync(waiter.WaitAsync());
    }

    [Fact]
    public async Task Consume_EndsTheDrainedState_TheCallFindsOutForItself()
    {
        var waiter = new ReadinessWaiter(drained: true);
        waiter.Consume();
        Assert.False(waiter.IsDrained);

        ValueTask wait = waiter.WaitAsync();
        Assert.False(wait.IsCompleted);
        waiter.Signal();
        await AssertCompletedAsync(wait);
    }

    [Fact]
    public async Task Cancel_WhileDrained_IsTerminal()
    {
        var waiter = new ReadinessWaiter(drained: true);
        waiter.Cancel();

        Assert.False(waiter.IsDrained);
        Assert.True(waiter.IsCanceled);
        await Assert.ThrowsAsync<OperationCanceledException>(async () => await waiter.WaitAsync());
    }

    [Fact]
    public async Task PendingWait_Signal_CompletesIt_ContinuationRunsInlineOnTheSignallingThread()
    {
        var waiter = new ReadinessWaiter();
        Task<Resumption> resumed = ResumeAfterAsync(waiter.WaitAsync());
        Assert.False(resumed.IsCompleted);

        int signallerId = 0;
        bool completedBeforeSignalReturned = false;
        var signaller = new Thread(() =>
        {
            signallerId = Environment.CurrentManagedThreadId;
            waiter.Signal();

            // Inline: the awaiting method has already run to its end when Signal returns.
            completedBeforeSignalReturned = resumed.IsCompleted;
        })
        {
            IsBackground = true,
            Name = "test-signaller",
        };
        signaller.Start();
        Assert.True(signaller.Join(TestTimeouts.Default));

        Resumption resumption = await resumed.DefaultTimeout();
        Assert.Null(resumption.Failure);
        Assert.True(completedBeforeSignalReturned);
        Assert.Equal(signallerId, resumption.ThreadId);
        Assert.Equal("test-signaller", resumption.ThreadName);
    }

    [Fact]
    public async Task Cancel_PendingWait_FailsWithOperationCanceled_ContinuationNotOnTheCancellingThread()
    {
        var waiter = new ReadinessWaiter();
        Task<Resumption> resumed = ResumeAfterAsync(waiter.WaitAsync());
        Assert.False(resumed.IsCompleted);

        int cancellerId = 0;
        var canceller = new Thread(() =>
        {
            cancellerId = Environment.CurrentManagedThreadId;
            waiter.Cancel();
        })
        {
            IsBackground = true,
            Name = "test-canceller",
        };
        canceller.Start();
        Assert.True(canceller.Join(TestTimeouts.Default));

        Resumption resumption = await resumed.DefaultTimeout();
        Assert.IsAssignableFrom<OperationCanceledException>(resumption.Failure);
        Assert.NotEqual(cancellerId, resumption.ThreadId);
        Assert.NotEqual("test-canceller", resumption.ThreadName);
        Assert.True(waiter.IsCanceled);
    }

    [Fact]
    public async Task Cancel_IsTerminal_LaterWaitsFailAtOnce_SignalAndConsumeChangeNothing()
    {
        var waiter = new ReadinessWaiter();
        Assert.False(waiter.IsCanceled);

        waiter.Cancel();
        Assert.True(waiter.IsCanceled);
        await AssertFailsAtOnceAsync(waiter.WaitAsync());

        // An edge after the cancellation is not remembered: the next wait still fails, it does not complete.
        waiter.Signal();
        Assert.True(waiter.IsCanceled);
        await AssertFailsAtOnceAsync(waiter.WaitAsync());

        waiter.Consume();
        waiter.Cancel();
        Assert.True(waiter.IsCanceled);
        await AssertFailsAtOnceAsync(waiter.WaitAsync());
    }

    [Fact]
    public async Task Cancel_WithAnEdgeRemembered_NextWaitFails()
    {
        var waiter = new ReadinessWaiter();
        waiter.Signal();

        waiter.Cancel();

        Assert.True(waiter.IsCanceled);
        await AssertFailsAtOnceAsync(waiter.WaitAsync());
    }

    [Fact]
    public async Task Cancel_AfterAPendingWaitWasCanceled_LaterWaitsStillFail()
    {
        var waiter = new ReadinessWaiter();
        ValueTask pending = waiter.WaitAsync();
        Assert.False(pending.IsCompleted);

        waiter.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.DefaultTimeout());

        waiter.Signal();
        await AssertFailsAtOnceAsync(waiter.WaitAsync());
    }

    [Fact]
    public async Task WaitAsync_TokenAlreadyCanceled_FailsTheWait()
    {
        var waiter = new ReadinessWaiter();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await AssertFailsAtOnceAsync(waiter.WaitAsync(cts.Token));

        // Cancellation is terminal, however it came.
        Assert.True(waiter.IsCanceled);
        waiter.Signal();
        await AssertFailsAtOnceAsync(waiter.WaitAsync());
    }

    [Fact]
    public async Task WaitAsync_TokenAlreadyCanceled_EdgeRemembered_StillFailsTheWait()
    {
        // A connect that finished before its wait began must not be reported as a success to a canceled caller.
        var waiter = new ReadinessWaiter();
        waiter.Signal();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await AssertFailsAtOnceAsync(waiter.WaitAsync(cts.Token));
        Assert.True(waiter.IsCanceled);
    }

    [Fact]
    public async Task WaitAsync_TokenCanceledWhilePending_FailsTheWait_ContinuationNotOnTheCancellingThread()
    {
        var waiter = new ReadinessWaiter();
        using var cts = new CancellationTokenSource();
        Task<Resumption> resumed = ResumeAfterAsync(waiter.WaitAsync(cts.Token));
        Assert.False(resumed.IsCompleted);

        int cancellerId = 0;
        var canceller = new Thread(() =>
        {
            cancellerId = Environment.CurrentManagedThreadId;
            cts.Cancel();
        })
        {
            IsBackground = true,
            Name = "test-token-canceller",
        };
        canceller.Start();
        Assert.True(canceller.Join(TestTimeouts.Default));

        Resumption resumption = await resumed.DefaultTimeout();
        Assert.IsAssignableFrom<OperationCanceledException>(resumption.Failure);
        Assert.NotEqual(cancellerId, resumption.ThreadId);
        Assert.True(waiter.IsCanceled);
    }

    [Fact]
    public async Task WaitAsync_TokenCanceledAfterTheWaitCompleted_WaiterIsNotCanceled()
    {
        var waiter = new ReadinessWaiter();
        using var cts = new CancellationTokenSource();
        ValueTask wait = waiter.WaitAsync(cts.Token);
        Assert.False(wait.IsCompleted);
        waiter.Signal();
        await AssertCompletedAsync(wait);

        // The token's registration ended with its wait: canceling the token now must not end the waiter.
        cts.Cancel();
        Assert.False(waiter.IsCanceled);

        waiter.Consume();
        ValueTask next = waiter.WaitAsync();
        Assert.False(next.IsCompleted);
        waiter.Signal();
        await AssertCompletedAsync(next);
    }

    [Fact]
    public async Task Reuse_1000WaitSignalCycles_EachWaitPendsThenCompletes()
    {
        var waiter = new ReadinessWaiter();
        using var cts = new CancellationTokenSource();
        for (int i = 0; i < 1000; i++)
        {
            waiter.Consume();
            ValueTask wait = i % 2 == 0 ? waiter.WaitAsync() : waiter.WaitAsync(cts.Token);
            Assert.False(wait.IsCompleted, $"cycle {i}");
            waiter.Signal();
            await AssertCompletedAsync(wait);

            // Every third cycle an edge also comes before the wait, and is remembered.
            if (i % 3 == 0)
            {
                waiter.Consume();
                waiter.Signal();
                ValueTask remembered = waiter.WaitAsync();
                await AssertCompletedAsync(remembered);
            }
        }

        Assert.False(waiter.IsCanceled);
    }

    /// <summary>
    /// The owner's protocol (Consume, try the "system call", wait only if it found nothing) on one thread, edges from
    /// another: every edge must be seen, whichever of Signal and WaitAsync comes first. In lockstep the producer waits for
    /// each edge to be taken before the next, so there are 1 000 separate wait/signal races; free-running it does not.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SignalRacesWithWaitFromTwoThreads_1000Edges_NoneLost(bool lockstep)
    {
        const int Edges = 1000;
        var waiter = new ReadinessWaiter();
        long available = 0;
        int taken = 0;
        int waits = 0;
        bool consumerTimedOut = false;
        bool producerTimedOut = false;
        Exception? threadFailure = null;
        using var acknowledged = new SemaphoreSlim(0);

        var consumer = new Thread(() => CatchInto(ref threadFailure, () =>
        {
            while (taken < Edges)
            {
                waiter.Consume();
                long found = Interlocked.Exchange(ref available, 0);
                if (found > 0)
                {
                    taken += (int)found;
                    acknowledged.Release((int)found);
                    continue;
                }

                waits++;
                if (!WaitBlocking(waiter, TestTimeouts.Default))
                {
                    consumerTimedOut = true;
                    return;
                }
            }
        }))
        {
            IsBackground = true,
            Name = "test-consumer",
        };

        var producer = new Thread(() => CatchInto(ref threadFailure, () =>
        {
            var random = new Random(1928);
            for (int i = 0; i < Edges; i++)
            {
                Thread.SpinWait(random.Next(0, 200));
                Interlocked.Increment(ref available);
                waiter.Signal();
                if (lockstep && !acknowledged.Wait(TestTimeouts.Default))
                {
                    producerTimedOut = true;
                    return;
                }
            }
        }))
        {
            IsBackground = true,
            Name = "test-producer",
        };

        consumer.Start();
        producer.Start();
        Assert.True(producer.Join(TestTimeouts.Default), "the producer hung");
        Assert.True(consumer.Join(TestTimeouts.Default), "the consumer hung");

        Assert.Null(threadFailure);
        Assert.False(consumerTimedOut, $"an edge was lost: the consumer waited in vain after taking {taken} of {Edges}");
        Assert.False(producerTimedOut, "the producer waited in vain for an edge to be taken");
        Assert.Equal(Edges, taken);

        // In lockstep the consumer must wait for each next edge; free-running, a consumer thread started late on a busy
        // machine may find every edge already there and never wait (it failed so once), which proves nothing wrong.
        Assert.True(!lockstep || waits > 0, "in lockstep the consumer never waited");
        Assert.False(waiter.IsCanceled);
    }

    /// <summary>
    /// Waits on the calling thread, so that the consumer goes on on its own thread: the signalling thread completes the
    /// task inline and only wakes this one.
    /// </summary>
    private static bool WaitBlocking(ReadinessWaiter waiter, TimeSpan timeout)
    {
        Task wait = waiter.WaitAsync().AsTask();
        return wait.Wait(timeout);
    }

    /// <summary>Runs a test thread's body; what it throws is kept for the test to assert on, not left to end the process.</summary>
    private static void CatchInto(ref Exception? failure, Action body)
    {
        try
        {
            body();
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref failure, e, null);
        }
    }

    private static async Task AssertCompletedAsync(ValueTask wait)
    {
        Assert.True(wait.IsCompletedSuccessfully);
        await wait;
    }

    private static async Task AssertFailsAtOnceAsync(ValueTask wait)
    {
        Assert.True(wait.IsCompleted);
        Assert.False(wait.IsCompletedSuccessfully);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.AsTask());
    }

    /// <summary>Awaits <paramref name="wait"/> without a context and records where the code after the await ran.</summary>
    private static async Task<Resumption> ResumeAfterAsync(ValueTask wait)
    {
        Exception? failure = null;
        try
        {
            await wait.ConfigureAwait(false);
        }
        catch (OperationCanceledException e)
        {
            failure = e;
        }

        return new Resumption(Environment.CurrentManagedThreadId, Thread.CurrentThread.Name, failure);
    }

    private sealed record Resumption(int ThreadId, string? ThreadName, Exception? Failure);
}
