using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Transport.Linux;
using Sockeye.Testing;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>
/// Deadlines on a real <see cref="EpollLoop"/>: they come on the loop's thread, not before their time, in order, and a
/// removed one never comes (Linux only: elsewhere each test is reported skipped).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class EpollLoopDeadlineTests
{
    private const string LoopName = "deadline-loop";

    [LinuxFact]
    public async Task AddDeadline_FromAnotherThreadToASleepingLoop_ComesOnTheLoopThreadNotBeforeItsTime()
    {
        using EpollLoop loop = NewLoop();
        var target = new RecordingTarget("a");
        long added = Stopwatch.GetTimestamp();

        loop.AddDeadline(target, TimeSpan.FromMilliseconds(150));

        await target.Came.Task.DefaultTimeout();
        Assert.True(Stopwatch.GetElapsedTime(added) >= TimeSpan.FromMilliseconds(150), $"came after {Stopwatch.GetElapsedTime(added).TotalMilliseconds} ms");
        Assert.Equal(LoopName, target.ThreadName);
    }

    [LinuxFact]
    public async Task AddDeadline_OnAFakeClock_ComesWhenTheClockReachesIt_InOrder_OnTheLoopThread()
    {
        // The loop's deadlines follow the server's TimeProvider, so tests with a fake clock drive the production connect
        // timeout: nothing comes while the clock stands still, however long the loop sleeps.
        var time = new FakeTimeProvider();
        using EpollLoop loop = new(LoopName, 1, NullLogger.Instance, TimeSpan.Zero, time);
        var order = new ConcurrentQueue<string>();
        var early = new RecordingTarget("early", order);
        var late = new RecordingTarget("late", order);
        loop.AddDeadline(late, TimeSpan.FromSeconds(20));
        loop.AddDeadline(early, TimeSpan.FromSeconds(10));

        time.Advance(TimeSpan.FromSeconds(9));
        var nothingYet = new TaskCompletionSource();
        loop.Post(() => loop.Post(nothingYet.SetResult));
        await nothingYet.Task.DefaultTimeout();
        Assert.Empty(order);

        time.Advance(TimeSpan.FromSeconds(1));
        await early.Came.Task.DefaultTimeout();
        Assert.False(late.Came.Task.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(10));
        await late.Came.Task.DefaultTimeout();

        Assert.Equal(["early", "late"], order);
        Assert.Equal(LoopName, early.ThreadName);
    }

    [LinuxFact]
    public async Task RemoveDeadline_BeforeItComes_ItNeverComes_AndASecondRemoveSaysSo()
    {
        using EpollLoop loop = NewLoop();
        var removed = new RecordingTarget("removed");
        var kept = new RecordingTarget("kept");
        long ticket = loop.AddDeadline(removed, TimeSpan.FromMilliseconds(200));
        loop.AddDeadline(kept, TimeSpan.FromMilliseconds(400));

        Assert.True(loop.RemoveDeadline(ticket, removed));
        Assert.False(loop.RemoveDeadline(ticket, removed));

        // Had it stayed, the removed deadline would have come before the kept one.
        await kept.Came.Task.DefaultTimeout();
        Assert.False(removed.Came.Task.IsCompleted);
    }

    [LinuxFact]
    public async Task RemoveDeadline_AfterItCame_ReturnsFalse_WithTheWrongTarget_RemovesNothing()
    {
        using EpollLoop loop = NewLoop();
        var first = new RecordingTarget("first");
        var other = new RecordingTarget("other");
        long ticket = loop.AddDeadline(first, TimeSpan.FromMilliseconds(10));
        await first.Came.Task.DefaultTimeout();

        Assert.False(loop.RemoveDeadline(ticket, first));

        long otherTicket = loop.AddDeadline(other, TimeSpan.FromMilliseconds(50));
        Assert.False(loop.RemoveDeadline(otherTicket, first));
        await other.Came.Task.DefaultTimeout();
    }

    [LinuxFact]
    public async Task FakeClockMovesWhileTheLoopSetsItsTimer_TheDeadlineStillComesWhenTheClockReachesIt()
    {
        // Another thread advancing the clock between the loop's reading of it and its setting of the wake-up timer made
        // that timer count from the later time: it came late by the advance, and a clock then advanced exactly to the
        // deadline never woke the loop (a test hung for its 30 s once, under load).
        var time = new ClockMovingAsTheTimerIsSet();
        using EpollLoop loop = new(LoopName, 1, NullLogger.Instance, TimeSpan.Zero, time);
        var target = new RecordingTarget("due");
        time.AdvanceAtNextChange = TimeSpan.FromSeconds(1);
        loop.AddDeadline(target, TimeSpan.FromSeconds(10));
        await SocketTestExtensions.WaitUntilAsync(() => time.AdvanceAtNextChange == TimeSpan.Zero);

        time.Advance(TimeSpan.FromSeconds(9));

        await target.Came.Task.DefaultTimeout();
    }

    [LinuxFact]
    public async Task LoopFails_ItsDeadlinesComeAtOnce_AndOneAddedAfterwardsToo()
    {
        // A failed loop never comes to its deadlines again: what waits on one (a connect, a paced direction) must not
        // wait forever, but find its sockets failed and end.
        using EpollLoop loop = NewLoop();
        var pending = new RecordingTarget("pending");
        loop.AddDeadline(pending, TimeSpan.FromSeconds(30));

        loop.InjectFailure();
        await pending.Came.Task.DefaultTimeout();
        await SocketTestExtensions.WaitUntilAsync(() => loop.IsFailed);

        var late = new RecordingTarget("late");
        long ticket = loop.AddDeadline(late, TimeSpan.FromSeconds(30));
        await late.Came.Task.DefaultTimeout();
        Assert.False(loop.RemoveDeadline(ticket, late));
    }

    [LinuxFact]
    public async Task ManyDeadlines_OfTwoLengths_SomeRemoved_TheRestComeInDueOrder()
    {
        // More than the ring's first 16 slots, so it grows with some slots already emptied. The short one is added
        // first, so it is due first however slowly this thread runs; a loop that wakes late finds both lengths due.
        using EpollLoop loop = NewLoop();
        var order = new ConcurrentQueue<string>();
        var early = new RecordingTarget("short", order);
        loop.AddDeadline(early, TimeSpan.FromMilliseconds(50));
        var targets = new List<(RecordingTarget Target, long Ticket)>();
        for (int i = 0; i < 40; i++)
        {
            var target = new RecordingTarget($"long{i:D2}", order);
            targets.Add((target, loop.AddDeadline(target, TimeSpan.FromSeconds(1))));
        }

        // Added last, so due after every other: once it has come, any removed deadline that was going to come has.
        var last = new RecordingTarget("last", order);
        loop.AddDeadline(last, TimeSpan.FromSeconds(1));
        for (int i = 0; i < 40; i += 3)
        {
            Assert.True(loop.RemoveDeadline(targets[i].Ticket, targets[i].Target));
        }

        await last.Came.Task.DefaultTimeout();

        string[] expected = ["short", .. Enumerable.Range(0, 40).Where(i => i % 3 != 0).Select(i => $"long{i:D2}"), "last"];
        Assert.Equal(expected, order);
    }

    [LinuxFact]
    public async Task LoopWakesLate_DeadlinesOfTwoLengthsAllDue_TheyComeInDueOrderNotRingOrder()
    {
        using EpollLoop loop = NewLoop();
        var order = new ConcurrentQueue<string>();
        using var release = new ManualResetEventSlim();
        var blocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(() =>
        {
            blocked.SetResult();
            release.Wait(TimeSpan.FromSeconds(10));
        });
        await blocked.Task.DefaultTimeout();

        // The longer length gets the first ring, but its deadline is due after the shorter one's.
        var later = new RecordingTarget("later", order);
        var sooner = new RecordingTarget("sooner", order);
        loop.AddDeadline(later, TimeSpan.FromMilliseconds(200));
        loop.AddDeadline(sooner, TimeSpan.FromMilliseconds(20));
        await Task.Delay(400);
        release.Set();

        await later.Came.Task.DefaultTimeout();
        await sooner.Came.Task.DefaultTimeout();
        Assert.Equal(["sooner", "later"], order);
    }

    [LinuxFact]
    public async Task LoopAsleepUntilALaterDeadline_AnEarlierOneOfAnotherLengthIsAdded_ItComesOnTime()
    {
        using EpollLoop loop = NewLoop();
        var later = new RecordingTarget("later");
        var sooner = new RecordingTarget("sooner");
        long laterTicket = loop.AddDeadline(later, TimeSpan.FromSeconds(30));
        await Task.Delay(50); // the loop is now asleep until the 30 s deadline

        loop.AddDeadline(sooner, TimeSpan.FromMilliseconds(50));

        // Without a wake-up the loop would sleep on for half a minute.
        await sooner.Came.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(loop.RemoveDeadline(laterTicket, later));
    }

    [LinuxFact]
    public async Task DeadlineTargetThrows_ItIsLogged_LaterDeadlinesStillCome()
    {
        var logger = new CapturingLoggerFactory();
        using var loop = new EpollLoop(LoopName, 2048, logger.CreateLogger("loop"));
        var after = new RecordingTarget("after");
        loop.AddDeadline(new ThrowingTarget(), TimeSpan.FromMilliseconds(10));
        loop.AddDeadline(after, TimeSpan.FromMilliseconds(20));

        await after.Came.Task.DefaultTimeout();
        Assert.Contains(logger.Lines, line => line.Contains("deadline bug", StringComparison.Ordinal));
    }

    private static EpollLoop NewLoop() => new(LoopName, 2048, NullLogger.Instance);

    /// <summary>A fake clock that moves on by <see cref="AdvanceAtNextChange"/> just before a timer of its own is next set.</summary>
    private sealed class ClockMovingAsTheTimerIsSet : FakeTimeProvider
    {
        private long _advanceTicks;

        public TimeSpan AdvanceAtNextChange
        {
            get => TimeSpan.FromTicks(Interlocked.Read(ref _advanceTicks));
            set => Interlocked.Exchange(ref _advanceTicks, value.Ticks);
        }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            new MovingTimer(this, base.CreateTimer(callback, state, dueTime, period));

        private sealed class MovingTimer(ClockMovingAsTheTimerIsSet clock, ITimer inner) : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                long advance = Interlocked.Exchange(ref clock._advanceTicks, 0);
                if (advance > 0)
                {
                    clock.Advance(TimeSpan.FromTicks(advance));
                }

                return inner.Change(dueTime, period);
            }

            public void Dispose() => inner.Dispose();

            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }

    private sealed class RecordingTarget(string name, ConcurrentQueue<string>? order = null) : IEpollDeadlineTarget
    {
        public TaskCompletionSource Came { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string? ThreadName { get; private set; }

        // Order lists a target each time it comes, so a deadline that came twice shows there.
        public void OnDeadline()
        {
            ThreadName = Thread.CurrentThread.Name;
            order?.Enqueue(name);
            Came.TrySetResult();
        }
    }

    private sealed class ThrowingTarget : IEpollDeadlineTarget
    {
        public void OnDeadline() => throw new InvalidOperationException("deadline bug");
    }
}
