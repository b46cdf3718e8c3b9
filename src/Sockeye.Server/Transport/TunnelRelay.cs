using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace Sockeye.Server.Transport;

/// <summary>
/// What every tunnel relay shares, whatever moves its bytes: the two directions, their byte counts and last activity,
/// half-close (the first FIN is passed on at once), one failed direction taking the other down, and one awaitable outcome.
/// </summary>
/// <remarks>
/// Built for the idle tunnel's footprint: the two directions are the only state machines, and the relay completes its
/// <see cref="ValueTask{TResult}"/> itself rather than through a coordinating async method and
/// <see cref="Task.WhenAny(Task, Task)"/>, which would be two more objects per tunnel.
/// </remarks>
internal abstract class TunnelRelay : IValueTaskSource<RelayOutcome>
{
    private readonly TimeProvider _timeProvider;
    private long _lastActivityTimestamp;
    private long _bytesUp;
    private long _bytesDown;
    private int _directionsAtEof;
    private int _directionsEnded;
    private int _aborted;
    private CancellationTokenRegistration _abortRegistration;
    private Task<DirectionResult>? _upstream;
    private Task<DirectionResult>? _downstream;
    private Task<DirectionResult>? _firstToEnd;
    private ManualResetValueTaskSourceCore<RelayOutcome> _completion;

    protected TunnelRelay(TimeProvider timeProvider)
    {
        _timeProvider = timeProvider;
        _lastActivityTimestamp = timeProvider.GetTimestamp();
    }

    /// <summary>The <see cref="TimeProvider.GetTimestamp"/> of the last read in either direction.</summary>
    public long LastActivityTimestamp => Volatile.Read(ref _lastActivityTimestamp);

    public long BytesUp => Volatile.Read(ref _bytesUp);

    public long BytesDown => Volatile.Read(ref _bytesDown);

    protected TimeProvider TimeProvider => _timeProvider;

    protected bool IsAborted => Volatile.Read(ref _aborted) == 1;

    /// <summary>
    /// Relays until both directions end, or until <paramref name="cancellationToken"/> aborts the tunnel. The caller
    /// closes both sockets as soon as this completes: that close is what delivers the FIN of the direction that ended last.
    /// Await the result once.
    /// </summary>
    public ValueTask<RelayOutcome> RunAsync(CancellationToken cancellationToken)
    {
        (_upstream, _downstream) = StartDirections(ref cancellationToken);

        // Registered after both directions exist: an abort that runs at once (an already canceled token) finds them.
        _abortRegistration = cancellationToken.UnsafeRegister(static state => ((TunnelRelay)state!).Abort(), this);

        Action onDirectionEnded = OnDirectionEnded;
        _upstream.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(onDirectionEnded);
        _downstream.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(onDirectionEnded);
        return new ValueTask<RelayOutcome>(this, _completion.Version);
    }

    /// <summary>Starts both directions; may replace the token the abort is registered on (a paced relay links its own).</summary>
    protected abstract (Task<DirectionResult> Upstream, Task<DirectionResult> Downstream) StartDirections(ref CancellationToken cancellationToken);

    /// <summary>Ends whatever either direction is waiting for, so that both report <see cref="RelayDirectionEnd.Canceled"/>.</summary>
    protected abstract void AbortDirections();

    /// <summary>
    /// A direction failed (one end reset): ends the other direction. By default as <see cref="AbortDirections"/> does;
    /// an engine whose abort closes the sockets must leave the end that did not fail open here, for the session to let
    /// the bytes already sent to it be delivered before it passes the reset on.
    /// </summary>
    protected virtual void AbortDirectionsAfterFailure() => AbortDirections();

    /// <summary>Sends FIN to the sink of a direction that reached EOF.</summary>
    protected abstract void ShutdownSink(bool upstream);

    /// <summary>Runs once both directions have ended, before the outcome is published.</summary>
    protected virtual void OnRelayEnded()
    {
    }

    /// <summary>Ends the tunnel from outside. Idempotent, and a no-op once a failed direction has ended it.</summary>
    private void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) == 0)
        {
            AbortDirections();
        }
    }

    /// <summary>Ends the other direction after one failed. Idempotent, and a no-op once the tunnel was aborted from outside.</summary>
    private void AbortAfterFailure()
    {
        if (Interlocked.Exchange(ref _aborted, 1) == 0)
        {
            AbortDirectionsAfterFailure();
        }
    }

    /// <summary>
    /// Runs once per direction. A failed direction takes the other one down with it; a clean EOF leaves the other running
    /// (half-close). The second call completes the relay.
    /// </summary>
    /// <remarks>
    /// The two calls may run at the same moment on two threads (the runtime relay's directions end on thread-pool
    /// threads). So each publishes the direction that ended first before it counts itself: whichever call counts second
    /// then always finds it. Publishing after the count let the second call read it before the first had written it,
    /// a null dereference on a thread-pool thread that ended the process.
    /// </remarks>
    private void OnDirectionEnded()
    {
        Task<DirectionResult> upstream = _upstream!;
        Task<DirectionResult> downstream = _downstream!;
        Task<DirectionResult> ended = upstream.IsCompleted ? upstream : downstream;
        Task<DirectionResult> first = Interlocked.CompareExchange(ref _firstToEnd, ended, null) ?? ended;
        if (Interlocked.Increment(ref _directionsEnded) == 1)
        {
            if (!first.IsCompletedSuccessfully || first.Result.End != RelayDirectionEnd.Eof)
            {
                AbortAfterFailure();
            }

            return;
        }

        _abortRegistration.Unregister();
        OnRelayEnded();
        if ((upstream.Exception ?? downstream.Exception)?.InnerException is { } fault)
        {
            // A bug, not a network event: the session logs it as a fault.
            _completion.SetException(fault);
            return;
        }

        DirectionResult firstResult = first.Result;
        DirectionResult up = upstream.Result;
        DirectionResult down = downstream.Result;
        SocketError error = firstResult.Error != SocketError.Success ? firstResult.Error
            : up.Error != SocketError.Success ? up.Error : down.Error;
        _completion.SetResult(new RelayOutcome(up.End, down.End, error, BytesUp, BytesDown));
    }

    RelayOutcome IValueTaskSource<RelayOutcome>.GetResult(short token) => _completion.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<RelayOutcome>.GetStatus(short token) => _completion.GetStatus(token);

    void IValueTaskSource<RelayOutcome>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _completion.OnCompleted(continuation, state, token, flags);

    /// <summary>
    /// How a direction ended through <paramref name="end"/> with <paramref name="error"/>, unless the tunnel was aborted:
    /// then the failure is the abort's doing, and the direction was canceled.
    /// </summary>
    protected DirectionResult Ended(RelayDirectionEnd end, SocketError error) =>
        IsAborted ? Canceled : new DirectionResult(end, error);

    /// <summary>How a direction ends when the tunnel was aborted.</summary>
    protected static DirectionResult Canceled => new(RelayDirectionEnd.Canceled, SocketError.OperationAborted);

    /// <summary>
    /// Passes a FIN on and reports the direction's clean end. The second direction to end skips the shutdown: the relay
    /// is then over and the session closes both sockets at once, which sends the same FIN, one system call fewer per tunnel.
    /// </summary>
    protected DirectionResult ForwardEof(bool upstream)
    {
        if (Interlocked.Increment(ref _directionsAtEof) == 1)
        {
            ShutdownSink(upstream);
        }

        return new DirectionResult(RelayDirectionEnd.Eof, SocketError.Success);
    }

    /// <summary>Notes that a direction read data now.</summary>
    protected void MarkActivity() => Volatile.Write(ref _lastActivityTimestamp, _timeProvider.GetTimestamp());

    /// <summary>Counts bytes a direction delivered.</summary>
    protected void CountDelivered(bool upstream, long bytes)
    {
        if (upstream)
        {
            Volatile.Write(ref _bytesUp, _bytesUp + bytes);
        }
        else
        {
            Volatile.Write(ref _bytesDown, _bytesDown + bytes);
        }
    }

    protected readonly record struct DirectionResult(RelayDirectionEnd End, SocketError Error);
}
