using System.Threading.Tasks.Sources;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// One direction (read or write) of an edge-triggered descriptor: remembers an edge that came while nobody waited, and
/// completes the one waiter when an edge comes. The waiter's continuation runs inline on the thread that signals, which
/// for readiness is the event loop's, so a session's code runs where the event landed instead of behind a hand-off.
/// </summary>
/// <remarks>
/// The protocol with the owner: call <see cref="Consume"/> before each non-blocking system call, and
/// <see cref="WaitAsync"/> only after that call answered EAGAIN, or while <see cref="IsDrained"/>. An edge that comes between the two leaves the state at
/// ready, so the wait completes at once and the call is tried again; no edge is ever lost. Cancellation is terminal (the
/// descriptor is about to close) unless the wait says otherwise.
/// </remarks>
internal sealed class ReadinessWaiter : IValueTaskSource
{
    private const int Idle = 0;
    private const int Waiting = 1;
    private const int Ready = 2;
    private const int Canceled = 3;

    // Idle, and known to have nothing to read: the last read drained the descriptor and no edge has come since, so the
    // next read would answer EAGAIN (MarkDrained). An edge makes it Ready, as from Idle.
    private const int Drained = 4;

    private static readonly Action<object?> CancelCallback = static state => ((ReadinessWaiter)state!).Cancel();
    private static readonly Action<object?> InterruptCallback = static state => ((ReadinessWaiter)state!).Interrupt();

    private ManualResetValueTaskSourceCore<bool> _core;
    private CancellationTokenRegistration _registration;
    private int _state;

    /// <param name="drained">
    /// Start as known to have nothing to read (<see cref="IsDrained"/>): right for a socket registered edge-triggered,
    /// since registering a descriptor that already has data reports it as an edge.
    /// </param>
    public ReadinessWaiter(bool drained = false) => _state = drained ? Drained : Idle;

    /// <summary>
    /// Whether the descriptor is known to have nothing to read: a read has drained it (<see cref="MarkDrained"/>) and no
    /// edge has come since. The owner may then wait at once instead of making a call that would answer EAGAIN.
    /// </summary>
    public bool IsDrained => Volatile.Read(ref _state) == Drained;

    /// <summary>
    /// Notes that the read just made (after <see cref="Consume"/>) drained the descriptor. An edge that came since then
    /// wins: the state stays ready.
    /// </summary>
    public void MarkDrained() => Interlocked.CompareExchange(ref _state, Drained, Idle);

    /// <summary>Whether <see cref="Cancel"/> has run: every later wait fails at once.</summary>
    public bool IsCanceled => Volatile.Read(ref _state) == Canceled;

    /// <summary>
    /// Forgets an edge already seen (or that the descriptor was drained), before a system call that will find out for
    /// itself.
    /// </summary>
    public void Consume()
    {
        // An edge racing with this leaves the state ready (the CAS fails), as it would have come after it.
        int state = Volatile.Read(ref _state);
        if (state is Ready or Drained)
        {
            Interlocked.CompareExchange(ref _state, Idle, state);
        }
    }

    /// <summary>
    /// Completes when the next edge comes, or at once if one came since <see cref="Consume"/>. Throws
    /// <see cref="OperationCanceledException"/> once canceled, by <see cref="Cancel"/> or by <paramref name="cancellationToken"/>,
    /// which fails every later wait too.
    /// </summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken = default) => WaitCoreAsync(cancelIsTerminal: true, cancellationToken);

    /// <summary>
    /// As <see cref="WaitAsync(CancellationToken)"/>, but the token's cancellation ends only this wait: the next one
    /// works as if it had never been.
    /// </summary>
    public ValueTask WaitInterruptiblyAsync(CancellationToken cancellationToken) => WaitCoreAsync(cancelIsTerminal: false, cancellationToken);

    private ValueTask WaitCoreAsync(bool cancelIsTerminal, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            // Even with an edge in hand: a caller that was canceled must not go on as if nothing happened.
            if (cancelIsTerminal)
            {
                Cancel();
            }

            return ValueTask.FromException(new OperationCanceledException(cancellationToken));
        }

        // Reset before publishing Waiting: from then on the signalling thread may complete the core at any moment.
        _core.Reset();
        int state = Volatile.Read(ref _state);
        while (true)
        {
            switch (state)
            {
                case Ready:
                    return ValueTask.CompletedTask;
                case Canceled:
                    return ValueTask.FromException(new OperationCanceledException());
            }

            int seen = Interlocked.CompareExchange(ref _state, Waiting, state);
            if (seen == state)
            {
                break;
            }

            state = seen;
        }

        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(cancelIsTerminal ? CancelCallback : InterruptCallback, this);
        }

        return new ValueTask(this, _core.Version);
    }

    /// <summary>An edge: completes the waiter, inline on this thread, or remembers the edge for the next wait.</summary>
    public void Signal()
    {
        int state = Volatile.Read(ref _state);
        while (state != Canceled)
        {
            int seen = Interlocked.CompareExchange(ref _state, Ready, state);
            if (seen == state)
            {
                if (state == Waiting)
                {
                    _core.SetResult(true);
                }

                return;
            }

            state = seen;
        }
    }

    /// <summary>Fails the waiter, if any, and every later wait. Its continuation runs on the thread pool, never in the caller.</summary>
    public void Cancel()
    {
        if (Interlocked.Exchange(ref _state, Canceled) == Waiting)
        {
            _core.RunContinuationsAsynchronously = true;
            _core.SetException(new OperationCanceledException());
        }
    }

    /// <summary>
    /// Fails the waiter, if any, and leaves the state idle: an edge that comes later is remembered as usual, and the next
    /// wait works. Its continuation runs on the thread pool.
    /// </summary>
    private void Interrupt()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
        {
            _core.RunContinuationsAsynchronously = true;
            _core.SetException(new OperationCanceledException());
        }
    }

    void IValueTaskSource.GetResult(short token)
    {
        _registration.Dispose();
        _registration = default;
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            // The core keeps its last continuation until reset: an idle tunnel would keep the finished state machine of
            // whatever waited last (a connect's, 152 bytes) alive for its whole life. After an interrupted wait, the next
            // one completes inline on the loop again.
            _core.Reset();
            _core.RunContinuationsAsynchronously = false;
        }
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
