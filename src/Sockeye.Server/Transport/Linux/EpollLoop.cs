using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Interop;
using static Sockeye.Server.Interop.Libc;


namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// Something that reads a socket when the kernel says it is readable, on an <see cref="EpollLoop"/>'s thread.
/// </summary>
internal interface IReadinessHandler
{
    /// <summary>
    /// Reads what the socket has, without blocking, and returns. <paramref name="scratch"/> is the loop's own buffer,
    /// valid only during this call, and pinned for the loop's life (so its address may be handed to the kernel). The socket stays registered level-triggered, so a handler that leaves data behind
    /// (to be fair to the loop's other sockets) is called again.
    /// </summary>
    void OnReadable(Span<byte> scratch);

    /// <summary>
    /// The socket was taken off the loop because its handler threw or the loop failed: nothing will call
    /// <see cref="OnReadable"/> again, so whatever relies on it must end.
    /// </summary>
    void OnRemovedAfterFault();
}

/// <summary>Something registered on an <see cref="EpollLoop"/>: told of its descriptor's events on the loop's thread.</summary>
internal interface IEpollEventTarget
{
    /// <summary>Handles <paramref name="events"/> (epoll flags); <paramref name="scratch"/> is the loop's buffer, valid during the call.</summary>
    void OnEvents(uint events, Span<byte> scratch);

    /// <summary>
    /// Called when <see cref="OnEvents"/> threw, or when the whole loop failed: the target is off the loop and must end
    /// what waits on it.
    /// </summary>
    void OnRemovedAfterFault();
}

/// <summary>
/// One thread waiting in epoll_wait(2) for descriptors that nothing else waits on, running each one's handler on that
/// thread as soon as it is ready, and running work posted to it (<see cref="Post"/>, <see cref="Yield"/>) and deadlines
/// that came (<see cref="AddDeadline"/>) in between.
/// </summary>
/// <remarks>
/// The runtime's own socket engine also waits in epoll, but it hands every completion from its epoll thread to a
/// thread-pool worker, which on a busy core costs a context switch or two per wake-up. For UDP, where each datagram can
/// be a wake-up, that hand-off was most of the relay's cost (docs/performance-notes.md). Here the handler runs where the
/// wake-up lands. The sockets registered here must never be used with the runtime's asynchronous methods: they are read
/// and written with non-blocking system calls only (<see cref="RawDatagram"/>).
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed partial class EpollLoop : IDisposable
{
    /// <summary>Readable (or a pending connection, on a listener).</summary>
    public const uint EpollIn = 0x001;

    /// <summary>Writable (or a non-blocking connect has finished).</summary>
    public const uint EpollOut = 0x004;

    /// <summary>An error is pending; always reported.</summary>
    public const uint EpollErr = 0x008;

    /// <summary>Both directions are shut down; always reported.</summary>
    public const uint EpollHup = 0x010;

    /// <summary>The peer shut down its sending half (sent FIN).</summary>
    public const uint EpollRdHup = 0x2000;

    /// <summary>Report changes only (edge-triggered): the owner reads or writes until EAGAIN before waiting again.</summary>
    public const uint EpollEt = 1u << 31;

    private const int MaxEvents = 64;
    private const ulong WakeId = 0;

    // struct epoll_event is packed on x86-64 (12 bytes) and naturally aligned elsewhere (16 bytes).
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    // After handling events the loop may keep polling for a while (SockeyeServerOptions.EventLoopPoll) before it sleeps
    // in epoll_wait. A sleeping thread costs a wake-up of tens of microseconds on the next datagram, which is most of a
    // round trip on a fast path: measured (2026-11-25, pinned, through a UDP echo) one datagram at a time went from 110
    // to 42 µs at p50 with 50 µs or more of polling (25 µs was too short to catch the echo's answer). But a poll that
    // runs out costs its whole window, and a light steady load whose gaps are longer than the window paid that on every
    // gap, and a lone exchange whose gaps are short kept a core busy for work that costs a third of one asleep:
    // AdaptivePolling polls only while the loop is busy most of its time and nearly every recent gap ended within the
    // window. An idle loop never polls: the window opens only after events.

    [ThreadStatic]
    private static EpollLoop? t_current;

    private readonly EpollRegistrationTable _registrations = new();
    private readonly ConcurrentQueue<Action> _posted = new();

    // 1 once work was posted and not yet taken by RunPosted: read on every turn of the loop, where the queue's own IsEmpty
    // and Count cost about a thousand instructions a tunnel (a tunnel's loop turns about ten times). Set after the
    // enqueue, and cleared with a full fence before the queue is counted, so that no posted work is left behind.
    private int _postedPending;
    private readonly long _pollBeforeSleepTicks;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    // The epoll set and the eventfd that wakes the loop, closed by Dispose, or by the handles' finalizers for a loop
    // dropped undisposed (a failed one, its thread gone); _epoll and _wake are the copies the system calls use (Wake
    // alone takes a reference first).
    private readonly DescriptorHandle _epollHandle;
    private readonly DescriptorHandle _wakeHandle;
    private readonly int _epoll;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly byte[] _scratch;
    private long _emptyPolls;
    private AdaptivePolling _polling;
    private long _handlerFaults;
    private volatile bool _stopping;
    private volatile bool _failed;
    private volatile bool _failureInjected;
    private int _disposed;

    /// <summary>Starts the loop's thread.</summary>
    /// <param name="name">The thread's name.</param>
    /// <param name="scratchBytes">Size of the buffer handlers get: the largest thing one of them reads at once.</param>
    /// <param name="logger">Where a handler that throws is reported.</param>
    /// <param name="pollBeforeSleep">
    /// How long to keep polling after handling events before sleeping; <see cref="SockeyeServerOptions.DefaultEventLoopPoll"/>
    /// if not given, and <see cref="TimeSpan.Zero"/> to sleep at once.
    /// </param>
    /// <param name="timeProvider">The clock of the loop's deadlines; the system's if not given.</param>
    public EpollLoop(string name, int scratchBytes, ILogger logger, TimeSpan? pollBeforeSleep = null, TimeProvider? timeProvider = null)
    {
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        if (_time != TimeProvider.System)
        {
            _deadlineTimer = _time.CreateTimer(static loop => ((EpollLoop)loop!).Wake(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        _pollBeforeSleepTicks = (long)((pollBeforeSleep ?? SockeyeServerOptions.DefaultEventLoopPoll).TotalSeconds * Stopwatch.Frequency);
        _polling = new AdaptivePolling((uint)Environment.TickCount ^ (uint)RuntimeHelpers.GetHashCode(this));
        _scratch = GC.AllocateUninitializedArray<byte>(scratchBytes, pinned: true);
        _epoll = epoll_create1(OCloexec);
        if (_epoll < 0)
        {
            throw Failure("epoll_create1", Libc.LastError);
        }

        _epollHandle = new DescriptorHandle(_epoll);
        _wake = eventfd(0, OCloexec | ONonblock);
        _wakeHandle = new DescriptorHandle(_wake);
        if (_wake < 0 || Control(EpollCtlAdd, _wake, (int)EpollIn, WakeId) != 0)
        {
            int error = Libc.LastError;
            _epollHandle.Dispose();
            _wakeHandle.Dispose();
            throw Failure("eventfd", error);
        }

        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.UnsafeStart();
    }

    /// <summary>How many sockets are registered now.</summary>
    public int Count => _registrations.Count;

    /// <summary>
    /// How many times the loop polled for events within its polling window and found none (for tests and diagnostics):
    /// always 0 when it sleeps as soon as it runs out of events.
    /// </summary>
    public long EmptyPolls => Volatile.Read(ref _emptyPolls);

    /// <summary>
    /// Whether the loop polls through the gaps between its events now (for tests and diagnostics): it does while it is
    /// busy and nearly every recent gap ended within the window (<see cref="AdaptivePolling"/>), and never without a
    /// window.
    /// </summary>
    /// <remarks>A plain read of the loop thread's state: a caller on another thread sees it a moment late at most.</remarks>
    public bool IsPollingBetweenEvents => _pollBeforeSleepTicks > 0 && _polling.IsPolling;

    /// <summary>
    /// Whether the loop's recent batches often held several events (<see cref="AdaptivePolling.IsConcurrent"/>): many
    /// sessions at once, rather than one exchange at a time. Read on the loop's thread; elsewhere, a moment late.
    /// </summary>
    public bool HasConcurrentLoad => _polling.IsConcurrent;

    /// <summary>
    /// Whether the loop spent most of its recent time handling events rather than waiting for them
    /// (<see cref="AdaptivePolling.IsBusy"/>): only a busy loop polls.
    /// </summary>
    public bool IsBusy => _polling.IsBusy;

    /// <summary>
    /// Whether the loop has failed (epoll_wait failed other than by a signal): its thread is gone, every socket that was on
    /// it has been told (<see cref="IEpollEventTarget.OnRemovedAfterFault"/>), work posted to it runs on the thread pool,
    /// and it takes no new sockets. The server replaces such a loop.
    /// </summary>
    public bool IsFailed => _failed;

    /// <summary>Handlers and posted work that threw on this loop (each one logged as event 1008).</summary>
    public long HandlerFaults => Interlocked.Read(ref _handlerFaults);

    /// <summary>Whether the calling thread is this loop's.</summary>
    public bool IsCurrent => t_current == this;

    /// <summary>Whether the calling thread is any event loop's: code there must not block, or compute for long.</summary>
    public static bool IsOnLoopThread => t_current is not null;

    /// <summary>
    /// Watches the descriptor <paramref name="fd"/> for <paramref name="events"/> and calls <paramref name="target"/> on
    /// the loop's thread with what happened, until <see cref="Unregister"/>. Returns the registration's id.
    /// </summary>
    public ulong Register(int fd, IEpollEventTarget target, uint events)
    {
        ThrowIfNotAccepting();
        ulong id = _registrations.Add(target);
        if (Control(EpollCtlAdd, fd, (int)events, id) != 0)
        {
            int error = Libc.LastError;
            _registrations.Remove(id);
            throw Failure("epoll_ctl", error);
        }

        return id;
    }

    /// <summary>Changes the events watched for a descriptor; 0 pauses it. Returns 0 or the errno.</summary>
    public int Modify(ulong id, int fd, uint events) =>
        Control(EpollCtlMod, fd, (int)events, id) == 0 ? 0 : Libc.LastError;

    /// <summary>
    /// Stops the events of registration <paramref name="id"/>. With <paramref name="descriptorClosing"/> the epoll_ctl
    /// call is skipped: closing the descriptor takes it out of every epoll set. An event already fetched for it is dropped.
    /// </summary>
    public void Unregister(ulong id, int fd, bool descriptorClosing)
    {
        _registrations.Remove(id);
        if (!descriptorClosing)
        {
            _ = Control(EpollCtlDel, fd, 0, id);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the loop's thread after the events it is handling now: from another thread, as soon
    /// as the loop wakes; from the loop itself, after every other ready descriptor has had its turn.
    /// </summary>
    public void Post(Action work)
    {
        _posted.Enqueue(work);
        Volatile.Write(ref _postedPending, 1);
        if (_failed)
        {
            // No thread will run it here: the work (a session's continuation, a socket's close) goes on elsewhere.
            HandPostedToThreadPool();
        }
        else if (!IsCurrent)
        {
            Wake();
        }
    }

    /// <summary>Makes the loop fail as if epoll_wait had (for tests of what a failed loop does to its sockets).</summary>
    internal void InjectFailure()
    {
        _failureInjected = true;
        Wake();
    }

    private void ThrowIfNotAccepting()
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (_failed)
        {
            throw new IOException("The event loop has failed and takes no new sockets.");
        }
    }

    /// <summary>
    /// <c>await loop.Yield()</c> continues on the loop's thread after the other ready descriptors had their turn: how a
    /// busy tunnel leaves room for the others when edge-triggered readiness would not ask it to stop.
    /// </summary>
    public YieldAwaitable Yield() => new(this);

    /// <summary>
    /// Watches <paramref name="socket"/> for readability and calls <paramref name="handler"/> on the loop's thread while
    /// it is readable, until the returned registration is disposed (which must happen before the socket is).
    /// </summary>
    public EpollRegistration Register(Socket socket, IReadinessHandler handler)
    {
        ThrowIfNotAccepting();
        ulong id = _registrations.Add(null);
        var registration = new EpollRegistration(this, socket, handler, id);
        _registrations.Publish(id, registration);
        int error = registration.Control(EpollCtlAdd, (int)EpollIn);
        if (error != 0)
        {
            _registrations.Remove(id);
            throw Failure("epoll_ctl", error);
        }

        return registration;
    }

    /// <summary>Stops the thread and closes the epoll set. Registrations still open are dropped, their sockets untouched.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping = true;
        Wake();
        if (Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }

        _deadlineTimer?.Dispose();
        _registrations.RemoveAll();
        _epollHandle.Dispose();
        _wakeHandle.Dispose();
    }

    /// <remarks>
    /// Unlike the loop's other calls, this one comes from any thread at any moment, even as or after the loop is
    /// disposed (a BIND listener disposed after the server stopped posts its close): so it holds a reference on the
    /// eventfd's handle, which keeps the descriptor open, and its number from being given to another, until the write is
    /// done. A disposed loop has nothing to wake. One reference per post from another thread, never per relayed byte.
    /// </remarks>
    private unsafe void Wake()
    {
        if (_wakeHandle.IsClosed)
        {
            return;
        }

        bool referenced = false;
        try
        {
            _wakeHandle.DangerousAddRef(ref referenced);

            // A lost wake-up would leave the loop asleep with work waiting: a signal's interruption is retried.
            ulong one = 1;
            while (write(_wake, &one, sizeof(ulong)) < 0 && Libc.LastError == Errno.EINTR)
            {
            }
        }
        catch (ObjectDisposedException)
        {
            // Disposed since the check above: nothing to wake.
        }
        finally
        {
            if (referenced)
            {
                _wakeHandle.DangerousRelease();
            }
        }
    }

    private static IOException Failure(string call, int errno) => new($"{call} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

    internal void Forget(ulong id) => _registrations.Remove(id);

    internal int Control(int operation, int descriptor, int events, ulong id)
    {
        Span<byte> epollEvent = stackalloc byte[16];
        epollEvent.Clear();
        MemoryMarshal.Write(epollEvent, (uint)events);
        MemoryMarshal.Write(epollEvent[DataOffset..], id);
        unsafe
        {
            fixed (byte* pointer = epollEvent)
            {
                return epoll_ctl(_epoll, operation, descriptor, operation == EpollCtlDel ? null : pointer);
            }
        }
    }

    private unsafe void Run()
    {
        t_current = this;
        byte* events = stackalloc byte[MaxEvents * 16];
        // Non-zero while the loop polls through a gap: when the window closes.
        long pollUntil = 0;

        // When the loop last finished handling a batch: from there to the next batch it waited (polling or asleep).
        long lastBatchEnd = Stopwatch.GetTimestamp();
        while (!_stopping)
        {
            bool workWaiting = Volatile.Read(ref _postedPending) != 0;
            int count = epoll_wait(_epoll, events, MaxEvents, pollUntil == 0 && !workWaiting ? MillisecondsToNextDeadline() : 0);
            if (count < 0 || _failureInjected)
            {
                int errno = count < 0 ? Libc.LastError : 0;
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                // Only a bad epoll descriptor fails here, which would be a bug in this class: stop rather than spin, and
                // close what was on the loop rather than leave it hanging.
                Fail(errno == 0 ? new IOException("epoll_wait failed (injected by a test)") : Failure("epoll_wait", errno));
                return;
            }

            if (count == 0 && !workWaiting)
            {
                // Polling, or a deadline came: let any other thread that is ready on this core run between polls.
                if (pollUntil != 0)
                {
                    _emptyPolls++;
                    if (Stopwatch.GetTimestamp() >= pollUntil)
                    {
                        pollUntil = 0;
                        _polling.OnPolled(foundWork: false);
                    }
                }

                RunDueDeadlines();
                Thread.Yield();
                continue;
            }

            if (pollUntil != 0)
            {
                pollUntil = 0;
                _polling.OnPolled(foundWork: true);
            }

            long batchStart = Stopwatch.GetTimestamp();
            int socketEvents = count;
            for (int i = 0; i < count && !_stopping; i++)
            {
                uint flags = *(uint*)(events + (i * EventSize));
                ulong id = *(ulong*)(events + (i * EventSize) + DataOffset);
                if (id == WakeId)
                {
                    socketEvents--;
                    ulong drained;
                    _ = read(_wake, &drained, sizeof(ulong));
                    continue;
                }

                // A registration removed while its event was already in this batch is simply not found.
                if (_registrations.Find(id) is { } target)
                {
                    Dispatch(id, target, flags);
                }
            }

            RunPosted();
            RunDueDeadlines();
            long batchEnd = Stopwatch.GetTimestamp();
            if (socketEvents > 0)
            {
                _polling.OnBatch(socketEvents, busyTicks: batchEnd - batchStart, waitedTicks: batchStart - lastBatchEnd);
            }

            lastBatchEnd = batchEnd;
            if (_pollBeforeSleepTicks > 0 && _polling.ShouldPoll())
            {
                pollUntil = batchEnd + _pollBeforeSleepTicks;
            }
        }
    }

    /// <summary>
    /// The loop cannot wait any more: every socket on it is told (its waits fail, so its session closes at once), work
    /// posted to it goes to the thread pool, and the failure is logged with the count (event 1009).
    /// </summary>
    private void Fail(Exception failure)
    {
        _failed = true;
        List<IEpollEventTarget> removed = _registrations.RemoveAll();
        int sockets = removed.Count;
        foreach (IEpollEventTarget target in removed)
        {
            try
            {
                target.OnRemovedAfterFault();
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref _handlerFaults);
                ServerLog.EventLoopHandlerFailed(_logger, e);
            }
        }

        RunEveryDeadlineAfterFault();
        ServerLog.EventLoopWaitFailed(_logger, sockets, failure);
        HandPostedToThreadPool();
    }

    private void HandPostedToThreadPool()
    {
        while (_posted.TryDequeue(out Action? work))
        {
            ThreadPool.UnsafeQueueUserWorkItem(static state =>
            {
                try
                {
                    state.Work();
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref state.Loop._handlerFaults);
                    ServerLog.EventLoopHandlerFailed(state.Loop._logger, e);
                }
            }, (Loop: this, Work: work), preferLocal: false);
        }
    }

    /// <summary>Runs what was posted before this turn; what that work posts again waits for the next turn.</summary>
    private void RunPosted()
    {
        if (Volatile.Read(ref _postedPending) == 0 || Interlocked.Exchange(ref _postedPending, 0) == 0)
        {
            return;
        }

        for (int pending = _posted.Count; pending > 0 && !_stopping && _posted.TryDequeue(out Action? work); pending--)
        {
            try
            {
                work();
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref _handlerFaults);
                ServerLog.EventLoopHandlerFailed(_logger, e);
            }
        }
    }

    private void Dispatch(ulong id, IEpollEventTarget target, uint flags)
    {
        try
        {
            target.OnEvents(flags, _scratch);
        }
        catch (Exception e)
        {
            // A handler must not throw; if one does, it leaves the loop so that the others keep being served.
            Interlocked.Increment(ref _handlerFaults);
            ServerLog.EventLoopHandlerFailed(_logger, e);
            _registrations.Remove(id);
            target.OnRemovedAfterFault();
        }
    }
}

/// <summary>What <see cref="EpollLoop.Yield"/> returns: awaiting it continues on the loop's thread, in a later turn.</summary>
[SupportedOSPlatform("linux")]
internal readonly struct YieldAwaitable(EpollLoop loop) : ICriticalNotifyCompletion
{
    public YieldAwaitable GetAwaiter() => this;

    public bool IsCompleted => false;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) => loop.Post(continuation);

    public void UnsafeOnCompleted(Action continuation) => loop.Post(continuation);
}

/// <summary>A socket's place on an <see cref="EpollLoop"/>. Disposing it takes the socket off the loop.</summary>
[SupportedOSPlatform("linux")]
internal sealed class EpollRegistration : IDisposable, IEpollEventTarget
{

    private readonly EpollLoop _loop;
    private readonly Socket _socket;
    private readonly ulong _id;
    private int _disposed;

    internal EpollRegistration(EpollLoop loop, Socket socket, IReadinessHandler handler, ulong id)
    {
        _loop = loop;
        _socket = socket;
        Handler = handler;
        _id = id;
    }

    internal IReadinessHandler Handler { get; }

    void IEpollEventTarget.OnEvents(uint events, Span<byte> scratch) => Handler.OnReadable(scratch);

    void IEpollEventTarget.OnRemovedAfterFault()
    {
        Dispose();
        Handler.OnRemovedAfterFault();
    }

    /// <summary>Stops calling the handler until <see cref="Resume"/>; what arrives meanwhile waits in the socket's buffer.</summary>
    public void Pause() => _ = Control(EpollCtlMod, 0);

    /// <summary>Calls the handler again whenever the socket is readable.</summary>
    public void Resume() => _ = Control(EpollCtlMod, (int)EpollLoop.EpollIn);

    /// <summary>Takes the socket off the loop. The handler may still be running on the loop's thread when this returns.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _loop.Forget(_id);
        _ = Control(EpollCtlDel, 0);
    }

    /// <summary>epoll_ctl(2) for this socket: 0, or the errno. A closed socket counts as done (closing left every epoll set).</summary>
    internal int Control(int operation, int events)
    {
        if (operation != EpollCtlDel && Volatile.Read(ref _disposed) != 0)
        {
            return 0;
        }

        SafeHandle? handle = SocketHandles.TryAddRef(_socket);
        if (handle is null)
        {
            return 0;
        }

        try
        {
            int result = _loop.Control(operation, (int)handle.DangerousGetHandle(), events, _id);
            return result == 0 ? 0 : Libc.LastError;
        }
        finally
        {
            handle.DangerousRelease();
        }
    }
}
