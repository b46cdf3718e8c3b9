using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Sockeye.Server.Transport.Linux;
using Sockeye.Testing;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Transport.Linux;

/// <summary>The event loop UDP associations run on, with real UDP sockets on loopback (Linux only: elsewhere each test is reported skipped).</summary>
[SupportedOSPlatform("linux")]
public sealed class EpollLoopTests
{
    [LinuxFact]
    public async Task Register_DatagramsArrive_HandlerReadsEachOnTheLoopThread()
    {
        using EpollLoop loop = NewLoop();
        using UdpPairSockets pair = UdpPair();
        var (receiver, sender) = pair;
        var handler = new CollectingHandler(receiver);
        using (loop.Register(receiver, handler))
        {
            for (int i = 0; i < 100; i++)
            {
                sender.SendTo([(byte)i], receiver.LocalEndPoint!);
            }

            await SocketTestExtensions.WaitUntilAsync(() => handler.Received.Count == 100);
        }

        Assert.Equal(Enumerable.Range(0, 100).Select(i => (byte)i), handler.Received);
        Assert.Equal(["test-loop"], handler.ThreadNames.Distinct());
        Assert.Equal(((IPEndPoint)sender.LocalEndPoint!).Serialize(), handler.LastSource);
    }

    [LinuxFact]
    public async Task Pause_DatagramsWaitInTheSocket_ResumeDeliversThem()
    {
        using EpollLoop loop = NewLoop();
        using UdpPairSockets pair = UdpPair();
        var (receiver, sender) = pair;
        var handler = new CollectingHandler(receiver);
        using EpollRegistration registration = loop.Register(receiver, handler);

        registration.Pause();
        sender.SendTo([1], receiver.LocalEndPoint!);
        await SocketTestExtensions.WaitUntilAsync(() => receiver.Available > 0);
        await AfterTheLoopHasSeenItAsync(loop);
        Assert.Empty(handler.Received);

        registration.Resume();
        await SocketTestExtensions.WaitUntilAsync(() => handler.Received.Count == 1);
    }

    [LinuxFact]
    public async Task DisposeRegistration_HandlerNotCalledAgain_SocketLeavesTheLoop()
    {
        using EpollLoop loop = NewLoop();
        using UdpPairSockets pair = UdpPair();
        var (receiver, sender) = pair;
        var handler = new CollectingHandler(receiver);
        EpollRegistration registration = loop.Register(receiver, handler);
        Assert.Equal(1, loop.Count);

        registration.Dispose();
        registration.Dispose();
        sender.SendTo([1], receiver.LocalEndPoint!);
        await SocketTestExtensions.WaitUntilAsync(() => receiver.Available > 0);
        await AfterTheLoopHasSeenItAsync(loop);

        Assert.Empty(handler.Received);
        Assert.Equal(0, loop.Count);
        Assert.Equal(1, receiver.Available);
    }

    [LinuxFact]
    public async Task HandlerThrows_ItsSocketLeavesTheLoopAndIsLogged_OtherSocketsAreStillServed()
    {
        var logs = new CapturingLoggerFactory();
        using EpollLoop loop = NewLoop(logs);
        using UdpPairSockets brokenPair = UdpPair();
        var (broken, brokenSender) = brokenPair;
        using UdpPairSockets healthyPair = UdpPair();
        var (healthy, healthySender) = healthyPair;
        var handler = new CollectingHandler(healthy);
        var thrower = new ThrowingHandler();
        using EpollRegistration failing = loop.Register(broken, thrower);
        using EpollRegistration working = loop.Register(healthy, handler);

        brokenSender.SendTo([1], broken.LocalEndPoint!);
        await SocketTestExtensions.WaitUntilAsync(() => logs.Lines.Any(line => line.Contains("[1008]", StringComparison.Ordinal)));
        healthySender.SendTo([2], healthy.LocalEndPoint!);

        await SocketTestExtensions.WaitUntilAsync(() => handler.Received.Count == 1);
        Assert.Equal(1, loop.Count);
        Assert.Equal((1, 0), (thrower.Removals, handler.Removals));
        Assert.Equal(1, loop.HandlerFaults);
        Assert.Single(logs.Lines, line => line.StartsWith("Error Sockeye.Server[1008]", StringComparison.Ordinal) && line.Contains("handler bug", StringComparison.Ordinal));
    }

    [LinuxFact]
    public async Task WaitFails_EverySocketIsToldAndLogged_PostedWorkStillRuns_RegisterRefused()
    {
        var logs = new CapturingLoggerFactory();
        using EpollLoop loop = NewLoop(logs);
        using UdpPairSockets first = UdpPair();
        using UdpPairSockets second = UdpPair();
        var handlers = new[] { new CollectingHandler(first.Receiver), new CollectingHandler(second.Receiver) };
        using EpollRegistration one = loop.Register(first.Receiver, handlers[0]);
        using EpollRegistration two = loop.Register(second.Receiver, handlers[1]);

        loop.InjectFailure();

        // The loop tells its sockets first, then logs what it told: wait for the line, not only for the sockets.
        await SocketTestExtensions.WaitUntilAsync(() => loop.IsFailed && handlers.All(h => Volatile.Read(ref h.Removals) == 1)
            && logs.Lines.Any(line => line.StartsWith("Critical Sockeye.Server[1009]", StringComparison.Ordinal)));
        Assert.Equal(0, loop.Count);
        Assert.Single(logs.Lines, line => line.StartsWith("Critical Sockeye.Server[1009]", StringComparison.Ordinal)
            && line.Contains("its 2 socket(s) were closed", StringComparison.Ordinal));

        // A continuation posted to a failed loop still runs (on the thread pool): nothing waits for it forever.
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(() => ran.SetResult());
        await ran.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Throws<IOException>(() => loop.Register(first.Sender, new CollectingHandler(first.Sender)));
    }

    [LinuxFact]
    public void Dispose_StopsTheThread_RegisterAfterwardsIsRefused()
    {
        EpollLoop loop = NewLoop();
        using UdpPairSockets pair = UdpPair();
        var (receiver, _) = pair;
        loop.Dispose();
        loop.Dispose();

        Assert.Throws<ObjectDisposedException>(() => loop.Register(receiver, new CollectingHandler(receiver)));
    }

    [LinuxFact]
    public void RawDatagram_NothingQueued_WouldBlock_ClosedSocket_Aborted()
    {
        UdpPairSockets pair = UdpPair();
        var (receiver, sender) = pair;
        using (sender)
        {
            var source = new SocketAddress(AddressFamily.InterNetwork);
            Assert.Equal(-1, RawDatagram.ReceiveFrom(receiver, new byte[16], source, out SocketError error));
            Assert.Equal(SocketError.WouldBlock, error);

            SocketAddress destination = ((IPEndPoint)receiver.LocalEndPoint!).Serialize();
            receiver.Dispose();
            Assert.Equal(-1, RawDatagram.ReceiveFrom(receiver, new byte[16], source, out error));
            Assert.Equal(SocketError.OperationAborted, error);
            Assert.False(RawDatagram.SendTo(receiver, [1], destination));
        }
    }

    [LinuxFact]
    public void RawDatagram_SendTo_ArrivesWithTheSendersAddress_LongerDatagramIsTruncated()
    {
        using UdpPairSockets pair = UdpPair();
        var (receiver, sender) = pair;
        Assert.True(RawDatagram.SendTo(sender, "hello"u8, ((IPEndPoint)receiver.LocalEndPoint!).Serialize()));
        var source = new SocketAddress(AddressFamily.InterNetwork);
        byte[] buffer = new byte[3];
        int received = -1;
        SocketError error = SocketError.WouldBlock;
        for (int attempt = 0; attempt < 100 && received < 0; attempt++)
        {
            received = RawDatagram.ReceiveFrom(receiver, buffer, source, out error);
            if (received < 0)
            {
                Thread.Sleep(10);
            }
        }

        Assert.Equal(SocketError.Success, error);
        Assert.Equal(3, received);
        Assert.Equal("hel"u8.ToArray(), buffer);
        Assert.Equal(((IPEndPoint)sender.LocalEndPoint!).Serialize(), source);
    }

    [LinuxTheory]
    [InlineData(0, false)]
    [InlineData(50_000, true)]
    public async Task PollBeforeSleep_AfterEvents_TheLoopPollsOnlyWithAWindow(int windowMicroseconds, bool polls)
    {
        using EpollLoop loop = NewLoop(pollBeforeSleep: TimeSpan.FromMicroseconds(windowMicroseconds));
        using UdpPairSockets pair = UdpPair();
        var (receiver, sender) = pair;
        var handler = new CollectingHandler(receiver);
        using (loop.Register(receiver, handler))
        {
            for (int i = 0; i < 5; i++)
            {
                sender.SendTo([(byte)i], receiver.LocalEndPoint!);
                await SocketTestExtensions.WaitUntilAsync(() => handler.Received.Count == i + 1);
            }

            if (polls)
            {
                // The loop polls right after handling a datagram, on its own thread: wait for it to have done so.
                await SocketTestExtensions.WaitUntilAsync(() => loop.EmptyPolls > 0);
            }
        }

        Assert.Equal(5, handler.Received.Count);
        if (!polls)
        {
            Assert.Equal(0, loop.EmptyPolls);
        }
    }

    [LinuxFact]
    public async Task PollBeforeSleep_GapsLongerThanTheWindow_StopThePolling_ShortGapsStartItAgain()
    {
        using EpollLoop loop = NewLoop(pollBeforeSleep: TimeSpan.FromMilliseconds(5));
        using UdpPairSockets pair = UdpPair();
        var (receiver, sender) = pair;
        // Each event keeps the loop busy longer than the gaps after it: only the gaps can stop the polling.
        var handler = new CollectingHandler(receiver) { WorkPerEvent = TimeSpan.FromMilliseconds(30) };
        using (loop.Register(receiver, handler))
        {
            Assert.True(loop.IsPollingBetweenEvents);

            // Datagrams 20 ms apart: every poll of 5 ms runs out, and after a few the loop sleeps between events.
            int sent = 0;
            for (int i = 0; i < 10; i++)
            {
                sender.SendTo([(byte)sent++], receiver.LocalEndPoint!);
                await SocketTestExtensions.WaitUntilAsync(() => handler.Received.Count == sent);
                await Task.Delay(20);
            }

            Assert.False(loop.IsPollingBetweenEvents);
            Assert.True(loop.IsBusy);

            // Datagrams about a millisecond apart, each a millisecond's work: the gaps the loop samples by polling end
            // within the window.
            handler.WorkPerEvent = TimeSpan.FromMilliseconds(1);
            for (int i = 0; i < 5_000 && !loop.IsPollingBetweenEvents; i++)
            {
                sender.SendTo([(byte)sent++], receiver.LocalEndPoint!);
                Thread.Sleep(1);
            }

            Assert.True(loop.IsPollingBetweenEvents);
            await SocketTestExtensions.WaitUntilAsync(() => handler.Received.Count == sent);
        }
    }

    [LinuxFact]
    public async Task PollBeforeSleep_ALoopMostlyWaiting_StopsPolling_ThoughEveryGapEndsWithinTheWindow()
    {
        // A window longer than any gap of this test (it waits in steps of 10 ms), and events that take no time: polling
        // would find every next event, but the loop would spend nearly all its time polling for it.
        using EpollLoop loop = NewLoop(pollBeforeSleep: TimeSpan.FromMilliseconds(100));
        using UdpPairSockets pair = UdpPair();
        var (receiver, sender) = pair;
        var handler = new CollectingHandler(receiver);
        using (loop.Register(receiver, handler))
        {
            Assert.True(loop.IsPollingBetweenEvents);
            int sent = 0;
            for (; sent < 200 && loop.IsPollingBetweenEvents; sent++)
            {
                sender.SendTo([(byte)sent], receiver.LocalEndPoint!);
                int expected = sent + 1;
                await SocketTestExtensions.WaitUntilAsync(() => handler.Received.Count == expected);
            }

            Assert.False(loop.IsPollingBetweenEvents);
            Assert.False(loop.IsBusy);

            // About 16 batches at a share of nearly 0 take it from busy to under 3/8.
            Assert.InRange(sent, 3, 40);

            // From now on the loop sleeps between events: its count of empty polls stands still.
            await Task.Delay(150);
            long emptyPolls = loop.EmptyPolls;
            for (int i = 0; i < 10; i++)
            {
                sender.SendTo([(byte)sent++], receiver.LocalEndPoint!);
                int expected = sent;
                await SocketTestExtensions.WaitUntilAsync(() => handler.Received.Count == expected);
            }

            Assert.Equal(emptyPolls, loop.EmptyPolls);
        }
    }

    [LinuxFact]
    public async Task PollBeforeSleep_BatchesOfSeveralEvents_StopThePolling_SingleEventsStartItAgain()
    {
        // A window longer than any gap of this test (it waits in steps of 10 ms): only the batches can stop the polling.
        using EpollLoop loop = NewLoop(pollBeforeSleep: TimeSpan.FromSeconds(2));
        var pairs = new UdpPairSockets[4];
        var handlers = new CollectingHandler[pairs.Length];
        var registrations = new EpollRegistration[pairs.Length];
        for (int i = 0; i < pairs.Length; i++)
        {
            pairs[i] = UdpPair();
            // Work that keeps the loop busy longer than the test's waits: only the batches can stop the polling.
            handlers[i] = new CollectingHandler(pairs[i].Receiver) { WorkPerEvent = TimeSpan.FromMilliseconds(30) };
            registrations[i] = loop.Register(pairs[i].Receiver, handlers[i]);
        }

        try
        {
            Assert.True(loop.IsPollingBetweenEvents);

            // Each round holds the loop in posted work while a datagram reaches every receiver, so that its next
            // epoll_wait returns all four in one batch: a concurrent load, which the loop serves by sleeping.
            int rounds = 0;
            for (; rounds < 200 && loop.IsPollingBetweenEvents; rounds++)
            {
                using var held = new ManualResetEventSlim();
                var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                loop.Post(() =>
                {
                    running.SetResult();
                    held.Wait(TimeSpan.FromSeconds(10));
                });
                await running.Task.DefaultTimeout();
                for (int i = 0; i < pairs.Length; i++)
                {
                    pairs[i].Sender.SendTo([(byte)rounds], pairs[i].Receiver.LocalEndPoint!);
                }

                held.Set();
                int expected = rounds + 1;
                await SocketTestExtensions.WaitUntilAsync(() => Array.TrueForAll(handlers, h => h.Received.Count == expected));
            }

            Assert.False(loop.IsPollingBetweenEvents);

            // About five rounds of four-event batches make the share of several-event batches reach 1/4.
            Assert.InRange(rounds, 3, 20);

            Assert.True(loop.HasConcurrentLoad);
            Assert.True(loop.IsBusy);

            // One datagram at a time: single-event batches bring the share under 1/8, and the loop polls again.
            int sent = 0;
            for (; sent < 200 && !loop.IsPollingBetweenEvents; sent++)
            {
                pairs[0].Sender.SendTo([(byte)sent], pairs[0].Receiver.LocalEndPoint!);
                int expected = rounds + sent + 1;
                await SocketTestExtensions.WaitUntilAsync(() => handlers[0].Received.Count == expected);
            }

            Assert.True(loop.IsPollingBetweenEvents);
        }
        finally
        {
            foreach (EpollRegistration registration in registrations)
            {
                registration.Dispose();
            }

            foreach (UdpPairSockets pair in pairs)
            {
                pair.Dispose();
            }
        }
    }

    [LinuxFact]
    public async Task PollBeforeSleep_WithoutAWindow_NeverPolls()
    {
        using EpollLoop loop = NewLoop(pollBeforeSleep: TimeSpan.Zero);
        using UdpPairSockets pair = UdpPair();
        var (receiver, sender) = pair;
        var handler = new CollectingHandler(receiver);
        using (loop.Register(receiver, handler))
        {
            sender.SendTo([1], receiver.LocalEndPoint!);
            await SocketTestExtensions.WaitUntilAsync(() => handler.Received.Count == 1);
            Assert.False(loop.IsPollingBetweenEvents);
        }
    }

    [LinuxFact]
    public async Task Post_FromOtherThreadsRacingTheLoop_AndFromTheLoopItself_RunsEveryWorkOnce()
    {
        using EpollLoop loop = NewLoop();
        const int Posters = 4;
        const int PostsEach = 20_000;
        const int Chain = 2_000;
        int ran = 0;
        int onLoop = 0;

        // Work posted by the loop to itself runs on a later turn: a chain of such posts is one per turn.
        void Link(int left)
        {
            Interlocked.Increment(ref onLoop);
            if (left > 1)
            {
                loop.Post(() => Link(left - 1));
            }
        }

        loop.Post(() => Link(Chain));
        Task[] posters = new Task[Posters];
        for (int p = 0; p < Posters; p++)
        {
            posters[p] = Task.Run(() =>
            {
                for (int i = 0; i < PostsEach; i++)
                {
                    loop.Post(() =>
                    {
                        Assert.True(loop.IsCurrent);
                        Interlocked.Increment(ref ran);
                    });
                }
            });
        }

        await Task.WhenAll(posters).DefaultTimeout();

        // Nothing is left in the queue behind a flag that says it is empty: the last posts run without any further one.
        await SocketTestExtensions.WaitUntilAsync(() => Volatile.Read(ref ran) == Posters * PostsEach && Volatile.Read(ref onLoop) == Chain);
        await AfterTheLoopHasSeenItAsync(loop);
        Assert.Equal(Posters * PostsEach, Volatile.Read(ref ran));
        Assert.Equal(Chain, Volatile.Read(ref onLoop));
        Assert.Equal(0, loop.HandlerFaults);
    }

    /// <summary>
    /// Returns once the loop has waited for events (and handled them) after this call: work posted now may run in the
    /// turn under way, after that turn's wait, so the second posted work is the one that proves a later wait.
    /// </summary>
    internal static async Task AfterTheLoopHasSeenItAsync(EpollLoop loop)
    {
        for (int turn = 0; turn < 2; turn++)
        {
            var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            loop.Post(ran.SetResult);
            await ran.Task.DefaultTimeout();
        }
    }

    private static EpollLoop NewLoop(CapturingLoggerFactory? logs = null, TimeSpan? pollBeforeSleep = null) =>
        new("test-loop", 2048, (logs ?? new CapturingLoggerFactory()).CreateLogger("Sockeye.Server"), pollBeforeSleep);

    private static UdpPairSockets UdpPair()
    {
        var receiver = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        receiver.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        sender.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new UdpPairSockets(receiver, sender);
    }

    private sealed record UdpPairSockets(Socket Receiver, Socket Sender) : IDisposable
    {
        public void Dispose()
        {
            Receiver.Dispose();
            Sender.Dispose();
        }
    }

    private sealed class CollectingHandler(Socket socket) : IReadinessHandler
    {
        private readonly SocketAddress _source = new(AddressFamily.InterNetwork);

        public ConcurrentQueue<byte> Received { get; } = new();

        public ConcurrentQueue<string?> ThreadNames { get; } = new();

        public SocketAddress? LastSource { get; private set; }

        /// <summary>How long each event keeps the loop's thread busy, as a session's real work would.</summary>
        public TimeSpan WorkPerEvent { get; set; }

        public void OnReadable(Span<byte> scratch)
        {
            ThreadNames.Enqueue(Thread.CurrentThread.Name);
            long workUntil = Stopwatch.GetTimestamp() + (long)(WorkPerEvent.TotalSeconds * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < workUntil)
            {
                Thread.SpinWait(20);
            }

            while (true)
            {
                int received = RawDatagram.ReceiveFrom(socket, scratch, _source, out _);
                if (received < 0)
                {
                    return;
                }

                Received.Enqueue(scratch[0]);
                LastSource = new SocketAddress(_source.Family, _source.Size);
                _source.Buffer.Span[.._source.Size].CopyTo(LastSource.Buffer.Span);
            }
        }

        public int Removals;

        public void OnRemovedAfterFault() => Interlocked.Increment(ref Removals);
    }

    private sealed class ThrowingHandler : IReadinessHandler
    {
        public int Removals;

        public void OnReadable(Span<byte> scratch) => throw new InvalidOperationException("handler bug");

        public void OnRemovedAfterFault() => Interlocked.Increment(ref Removals);
    }
}
