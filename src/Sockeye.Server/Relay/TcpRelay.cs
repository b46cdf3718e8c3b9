using System.Buffers;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using Sockeye.Server.Limits;

namespace Sockeye.Server.Relay;

/// <summary>
/// Copies bytes both ways between a client and its destination until both directions end.
/// <list type="bullet">
/// <item>Half-close: when one side sends FIN, the other side's sending half is shut down and the other direction goes on.</item>
/// <item>Backpressure: a direction reads again only after everything it read was sent, so it never holds more than one buffer.</item>
/// <item>Idle tunnels hold no buffer: each pass starts with a zero-byte read, and the buffer goes back to the pool
/// before waiting (YARP's <c>StreamCopier</c>, Kestrel's <c>WaitForDataBeforeAllocatingBuffer</c>).</item>
/// <item>Rate limits: a paced direction takes tokens once data is waiting and moves at most what it was granted (a short
/// read gives the rest back). An unlimited tunnel has no pacer and runs the same path as before, without a single extra await.</item>
/// </list>
/// </summary>
internal sealed partial class TcpRelay : IValueTaskSource<RelayOutcome>
{
    private readonly Socket _client;
    private readonly Socket _target;
    private readonly int _bufferSize;
    private readonly TimeProvider _timeProvider;
    private readonly SplicePipePool? _pipes;
    private readonly BandwidthPacer? _uploadPacer;
    private readonly BandwidthPacer? _downloadPacer;
    private long _lastActivityTimestamp;
    private long _bytesUp;
    private long _bytesDown;
    private int _directionsAtEof;
    private int _directionsEnded;
    private int _aborted;
    private CancellationToken _cancellationToken;

    // Only for a paced tunnel: its waits for tokens must end when the tunnel is aborted, and a wait is not a socket call.
    private CancellationTokenSource? _pacingAbort;
    private CancellationTokenRegistration _abortRegistration;
    private Task<DirectionResult>? _upstream;
    private Task<DirectionResult>? _downstream;
    private Task<DirectionResult>? _firstToEnd;
    private ManualResetValueTaskSourceCore<RelayOutcome> _completion;

    // pipes: for the Linux splice path; null copies through pooled buffers. bandwidth: null when no rate limit applies.
    public TcpRelay(Socket client, Socket target, int bufferSize, TimeProvider timeProvider, SplicePipePool? pipes, SessionBandwidth? bandwidth = null)
    {
        _pipes = pipes;
        _uploadPacer = bandwidth?.Upload;
        _downloadPacer = bandwidth?.Download;
        _client = client;
        _target = target;
        _bufferSize = bufferSize;
        _timeProvider = timeProvider;
        _lastActivityTimestamp = timeProvider.GetTimestamp();
    }

    /// <summary>The <see cref="TimeProvider.GetTimestamp"/> of the last read in either direction.</summary>
    public long LastActivityTimestamp => Volatile.Read(ref _lastActivityTimestamp);

    public long BytesUp => Volatile.Read(ref _bytesUp);

    public long BytesDown => Volatile.Read(ref _bytesDown);

    /// <summary>
    /// Relays until both directions end, or until <paramref name="cancellationToken"/> aborts the tunnel. The caller
    /// closes both sockets as soon as this completes: that close is what delivers the FIN of the direction that ended last.
    /// Await the result once.
    /// </summary>
    /// <remarks>
    /// Built for the idle tunnel's footprint: the two directions are the only state machines, and their socket calls carry
    /// no cancellation token. Each pending call with a cancelable token would keep a registration node alive, and a
    /// coordinating async method with <see cref="Task.WhenAny(Task, Task)"/> another two objects; together about 600 bytes
    /// of the 4 KB an idle tunnel costs. Aborting closes both sockets instead, which ends any pending call, and the
    /// directions report that as <see cref="RelayDirectionEnd.Canceled"/>.
    /// </remarks>
    public ValueTask<RelayOutcome> RunAsync(CancellationToken cancellationToken)
    {
        if (_uploadPacer is not null || _downloadPacer is not null)
        {
            _pacingAbort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cancellationToken = _pacingAbort.Token;
        }

        _cancellationToken = cancellationToken;
        _upstream = _pipes is null
            ? CopyAsync(_client, _target, upstream: true)
            : SpliceAsync(_client, _target, upstream: true);
        _downstream = _pipes is null
            ? CopyAsync(_target, _client, upstream: false)
            : SpliceAsync(_target, _client, upstream: false);

        // Registered after both directions exist: an abort that runs at once (an already canceled token) finds them.
        _abortRegistration = cancellationToken.UnsafeRegister(static state => ((TcpRelay)state!).Abort(), this);

        Action onDirectionEnded = OnDirectionEnded;
        _upstream.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(onDirectionEnded);
        _downstream.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(onDirectionEnded);
        return new ValueTask<RelayOutcome>(this, _completion.Version);
    }

    /// <summary>Closes both sockets with RST, ending whatever either direction is waiting for. Idempotent.</summary>
    private void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) == 0)
        {
            SocketErrors.Abort(_client);
            SocketErrors.Abort(_target);
            try
            {
                _pacingAbort?.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Ignored: the relay has just completed.
            }
        }
    }

    private bool IsAborted => Volatile.Read(ref _aborted) == 1;

    /// <summary>
    /// Runs once per direction. A failed direction takes the other one down with it; a clean EOF leaves the other running
    /// (half-close). The second call completes the relay.
    /// </summary>
    private void OnDirectionEnded()
    {
        Task<DirectionResult> upstream = _upstream!;
        Task<DirectionResult> downstream = _downstream!;
        if (Interlocked.Increment(ref _directionsEnded) == 1)
        {
            Task<DirectionResult> first = upstream.IsCompleted ? upstream : downstream;
            _firstToEnd = first;
            if (!first.IsCompletedSuccessfully || first.Result.End != RelayDirectionEnd.Eof)
            {
                Abort();
            }

            return;
        }

        _abortRegistration.Unregister();
        _pacingAbort?.Dispose();
        if ((upstream.Exception ?? downstream.Exception)?.InnerException is { } fault)
        {
            // A bug, not a network event: the session logs it as a fault.
            _completion.SetException(fault);
            return;
        }

        DirectionResult firstResult = _firstToEnd!.Result;
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
    private DirectionResult Ended(RelayDirectionEnd end, SocketError error) =>
        IsAborted ? new DirectionResult(RelayDirectionEnd.Canceled, SocketError.OperationAborted) : new DirectionResult(end, error);

    /// <summary>
    /// Passes a FIN on to <paramref name="sink"/>. The second direction to end skips the shutdown: the relay is then over
    /// and the session closes both sockets at once, which sends the same FIN, one system call fewer per tunnel.
    /// </summary>
    private void ForwardEof(Socket sink)
    {
        if (Interlocked.Increment(ref _directionsAtEof) == 1)
        {
            SocketErrors.TryShutdown(sink, SocketShutdown.Send);
        }
    }

    private async Task<DirectionResult> CopyAsync(Socket source, Socket sink, bool upstream)
    {
        byte[]? buffer = null;
        bool lastReadFilledBuffer = false;
        BandwidthPacer? pacer = upstream ? _uploadPacer : _downloadPacer;
        try
        {
            while (true)
            {
                // After a read that filled the buffer more data is almost surely waiting: skip the zero-byte read. Not
                // when paced: the tokens are taken before the read, and a read that then waited for data would hold
                // tokens the user's other sessions could use.
                if (!lastReadFilledBuffer || pacer is not null)
                {
                    ValueTask<int> dataAvailable = source.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                    if (!dataAvailable.IsCompleted && buffer is not null)
                    {
                        byte[] idle = buffer;
                        buffer = null;
                        ArrayPool<byte>.Shared.Return(idle);
                    }

                    await dataAvailable.ConfigureAwait(false);
                }

                buffer ??= ArrayPool<byte>.Shared.Rent(_bufferSize);
                int allowed = buffer.Length;
                if (pacer is not null)
                {
                    // Inline, like the sends below: a helper awaiting the delay would box its state machine per wait.
                    while ((allowed = pacer.TryTake(buffer.Length, out TimeSpan wait)) == 0)
                    {
                        // Forced to yield: the relay goes on from the thread pool, never inline in the timer's callback (a timer
                        // thread, or a test clock's Advance, must not end up moving a tunnel's bytes).
                        await Task.Delay(wait, _timeProvider, _cancellationToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                    }
                }

                int read = await source.ReceiveAsync(buffer.AsMemory(0, allowed), SocketFlags.None).ConfigureAwait(false);
                pacer?.Refund(allowed - read);
                if (read == 0)
                {
                    ForwardEof(sink);
                    return new DirectionResult(RelayDirectionEnd.Eof, SocketError.Success);
                }

                Volatile.Write(ref _lastActivityTimestamp, _timeProvider.GetTimestamp());

                // Sent inline rather than through SendAllAsync: a call per chunk would box its state machine each time
                // a send completes asynchronously (and always, in a Debug build).
                for (int sent = 0; sent < read;)
                {
                    try
                    {
                        sent += await sink.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None).ConfigureAwait(false);
                    }
                    catch (SocketException e)
                    {
                        return Ended(RelayDirectionEnd.WriteFailed, e.SocketErrorCode);
                    }
                }

                if (upstream)
                {
                    Volatile.Write(ref _bytesUp, _bytesUp + read);
                }
                else
                {
                    Volatile.Write(ref _bytesDown, _bytesDown + read);
                }

                lastReadFilledBuffer = read == allowed;
            }
        }
        catch (SocketException e)
        {
            return Ended(RelayDirectionEnd.ReadFailed, e.SocketErrorCode);
        }
        catch (OperationCanceledException)
        {
            return new DirectionResult(RelayDirectionEnd.Canceled, SocketError.OperationAborted);
        }
        catch (ObjectDisposedException)
        {
            return new DirectionResult(RelayDirectionEnd.Canceled, SocketError.OperationAborted);
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Sends every byte, returning an error instead of throwing so the caller knows which side failed.</summary>
    internal static async ValueTask<SocketError> SendAllAsync(Socket sink, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        try
        {
            while (!data.IsEmpty)
            {
                int sent = await sink.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                data = data[sent..];
            }

            return SocketError.Success;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
    }

    private readonly record struct DirectionResult(RelayDirectionEnd End, SocketError Error);
}
