using System.Buffers;
using System.Net.Sockets;
using System.Numerics;
using System.Runtime.Versioning;
using System.Threading.Tasks.Sources;
using Sockeye.Server.Interop;
using Sockeye.Server.Limits;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// The relay of two <see cref="EpollTunnelSocket"/>s: small messages copied, bulk socket → pipe → socket with splice(2),
/// each direction going on where its socket's readiness lands, on the event loop's thread, with no hand-off to the
/// thread pool.
/// <list type="bullet">
/// <item>Small messages are copied: a direction starts by reading into its thread's buffer (<see cref="SmallReadBytes"/>)
/// and sending what it read, two system calls per message where splicing takes two and a third for EAGAIN, and no pipe.
/// A read shorter than asked drained the socket, so the direction waits for the next edge at once (unless the peer's FIN
/// may be queued behind the data, <see cref="EpollTunnelSocket.HasHungUp"/>); the socket remembers it
/// (<see cref="EpollTunnelSocket.IsReadDrained"/>), so a direction starts with a wait, not a read, when the handshake's
/// last read drained the client or the destination has sent nothing yet. The first read that fills the buffer, or a
/// sink that pushes back, makes it splice; a splicing turn (reads until EAGAIN) that moved less than the buffer makes it
/// copy again.</item>
/// <item>Readiness is the system call's own answer: a splicing direction splices until EAGAIN, then returns its pipe to
/// the pool and waits for the next edge, so an idle tunnel holds no pipe and no buffer, and a busy one makes no extra
/// call to learn that data is there.</item>
/// <item>A full sink is waited for as such (EPOLLOUT), with the bytes left in the pipe: backpressure without a copy.</item>
/// <item>Fairness: edge-triggered readiness never tells a busy direction to stop, so after a pipe's worth it lets the
/// loop's other descriptors have their turn.</item>
/// <item>When no pipe can be had (out of descriptors) a direction copies through a pooled buffer instead.</item>
/// <item>Rate limits: a paced direction takes tokens before each splice (or read) and moves at most what it was granted,
/// giving back what it did not move; with none granted it waits on a deadline of its source's loop
/// (<see cref="PacingWaiter"/>), holding no pipe, no buffer and no tokens. An unlimited tunnel has no waiter and runs the
/// same path as before, without a single extra await.</item>
/// </list>
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class EpollRelay : TunnelRelay
{
    /// <summary>
    /// The most a copying direction reads at once: a read that fills it is taken for the start of a bulk transfer, and the
    /// direction splices until a splicing turn moves less than this.
    /// </summary>
    internal const int SmallReadBytes = 16 * 1024;

    // The buffer copying directions read into on this thread: one per loop thread (and per pool thread that starts a
    // relay), never held across an await, so an idle tunnel holds none.
    [ThreadStatic]
    private static byte[]? t_smallReads;

    private readonly EpollTunnelSocket _client;
    private readonly EpollTunnelSocket _target;
    private readonly SplicePipePool _pipes;
    private readonly int _copyBufferBytes;

    // Only for a paced tunnel, one per direction.
    private readonly PacingWaiter? _uploadPacing;
    private readonly PacingWaiter? _downloadPacing;

    /// <param name="client">The client's socket.</param>
    /// <param name="target">The destination's socket.</param>
    /// <param name="pipes">Where busy directions rent their pipe.</param>
    /// <param name="copyBufferBytes">The buffer a direction copies through when no pipe can be had.</param>
    /// <param name="timeProvider">The clock of the relay's activity timestamps.</param>
    /// <param name="bandwidth">The session's pacers; <see langword="null"/> when no rate limit applies.</param>
    public EpollRelay(EpollTunnelSocket client, EpollTunnelSocket target, SplicePipePool pipes, int copyBufferBytes, TimeProvider timeProvider,
        SessionBandwidth? bandwidth = null)
        : base(timeProvider)
    {
        _client = client;
        _target = target;
        _pipes = pipes;
        _copyBufferBytes = copyBufferBytes;
        if (bandwidth is not null)
        {
            _uploadPacing = new PacingWaiter(bandwidth.Upload, client.Loop);
            _downloadPacing = new PacingWaiter(bandwidth.Download, target.Loop);
        }
    }

    protected override (Task<DirectionResult> Upstream, Task<DirectionResult> Downstream) StartDirections(ref CancellationToken cancellationToken) =>
        (SpliceAsync(_client, _target, _uploadPacing, upstream: true), SpliceAsync(_target, _client, _downloadPacing, upstream: false));

    /// <summary>
    /// Fails both sockets' waits and both waits for tokens; a direction busy on the loop stops at its next wait or turn.
    /// </summary>
    protected override void AbortDirections()
    {
        _client.CancelPending();
        _target.CancelPending();
        _uploadPacing?.Cancel();
        _downloadPacing?.Cancel();
    }

    protected override void ShutdownSink(bool upstream) => (upstream ? _target : _client).ShutdownSend();

    /// <summary>
    /// Whether a socket's waits were failed while the direction waited for tokens, which only a failed loop does without
    /// aborting the tunnel: the direction ends rather than go on splicing with no loop to wait on.
    /// </summary>
    private static bool SocketsFailed(EpollTunnelSocket source, EpollTunnelSocket sink) => source.IsCanceled || sink.IsCanceled;

    /// <param name="source">Where the direction reads.</param>
    /// <param name="sink">Where it writes.</param>
    /// <param name="pacing">The direction's pacer and wait for tokens; <see langword="null"/> when it is not paced.</param>
    /// <param name="upstream">Whether this is the client → destination direction.</param>
    private async Task<DirectionResult> SpliceAsync(EpollTunnelSocket source, EpollTunnelSocket sink, PacingWaiter? pacing, bool upstream)
    {
        SplicePipePool pool = _pipes;
        (int ReadEnd, int WriteEnd) pipe = default;
        bool hasPipe = false;

        // Set while the pipe may hold bytes not yet sent: such a pipe is closed, never returned to the pool.
        bool pipeDirty = false;
        long movedThisTurn = 0;

        // Small messages are copied (SmallReadBytes): a read that fills the buffer or a sink that pushes back switch the
        // direction to splicing, and a splicing turn (reads until EAGAIN) that moved less than the buffer back to copying.
        bool copying = true;
        long movedSinceWait = 0;
        byte[]? unsent = null;
        try
        {
            while (true)
            {
                if (copying)
                {
                    if (source.IsReadDrained)
                    {
                        // The last read (the handshake's, or this direction's) took everything: wait, then read.
                        await source.WaitReadableAsync().ConfigureAwait(false);
                    }

                    int asked = SmallReadBytes;
                    if (pacing is not null)
                    {
                        asked = pacing.Pacer.TryTake(asked, out TimeSpan wait);
                        if (asked == 0)
                        {
                            await pacing.WaitAsync(wait).ConfigureAwait(false);
                            if (SocketsFailed(source, sink))
                            {
                                return Canceled;
                            }

                            continue;
                        }
                    }

                    long read = ReadAndSend(source, sink, asked, out int copyErrno, out unsent, out int unsentLength);
                    pacing?.Pacer.Refund(read > 0 ? asked - (int)read : asked);
                    if (read == 0)
                    {
                        return ForwardEof(upstream);
                    }

                    if (read < 0)
                    {
                        if (copyErrno != Errno.EAGAIN)
                        {
                            return Ended(RelayDirectionEnd.ReadFailed, Errno.ToSocketError(copyErrno));
                        }

                        await source.WaitReadableAsync().ConfigureAwait(false);
                        continue;
                    }

                    MarkActivity();
                    if (copyErrno != 0)
                    {
                        return Ended(RelayDirectionEnd.WriteFailed, Errno.ToSocketError(copyErrno));
                    }

                    if (unsent is not null)
                    {
                        try
                        {
                            await sink.SendAsync(unsent.AsMemory(0, unsentLength), CancellationToken.None).ConfigureAwait(false);
                        }
                        catch (SocketException e)
                        {
                            return Ended(RelayDirectionEnd.WriteFailed, e.SocketErrorCode);
                        }

                        ArrayPool<byte>.Shared.Return(unsent);
                        unsent = null;
                        copying = false;
                    }

                    CountDelivered(upstream, read);
                    if (read == SmallReadBytes)
                    {
                        copying = false;
                        movedSinceWait = read;
                    }

                    continue;
                }

                if (!hasPipe)
                {
                    if (!pool.TryRent(out pipe, out _))
                    {
                        return await CopyAsync(source, sink, pacing, upstream).ConfigureAwait(false);
                    }

                    hasPipe = true;
                }

                int allowed = pool.PipeSize;
                if (pacing is not null)
                {
                    // Taken just before the splice, and what it does not move goes back at once: a direction waiting for
                    // data holds no tokens that the user's other sessions could use. After a wait for tokens the splice is
                    // tried again straight away, not after an edge: data may be waiting with no new edge to say so.
                    allowed = pacing.Pacer.TryTake(allowed, out TimeSpan wait);
                    if (allowed == 0)
                    {
                        hasPipe = false;
                        pool.Return(pipe);
                        movedThisTurn = 0;
                        await pacing.WaitAsync(wait).ConfigureAwait(false);
                        if (SocketsFailed(source, sink))
                        {
                            return Canceled;
                        }

                        continue;
                    }
                }

                source.ConsumeReadable();
                long moved = LinuxSplice.Splice(source.Descriptor, pipe.WriteEnd, allowed);

                // Read before anything else runs: any call into native code overwrites the thread's last error, and the
                // refund (a lock, which may have to wait) is not sure to make none.
                int readErrno = moved < 0 ? Libc.LastError : 0;
                pacing?.Pacer.Refund(moved > 0 ? allowed - (int)moved : allowed);
                if (moved == 0)
                {
                    return ForwardEof(upstream);
                }

                if (moved < 0)
                {
                    if (readErrno != Errno.EAGAIN)
                    {
                        return Ended(RelayDirectionEnd.ReadFailed, Errno.ToSocketError(readErrno));
                    }

                    // Drained: give the pipe back before waiting, so that an idle direction holds none.
                    hasPipe = false;
                    pool.Return(pipe);
                    movedThisTurn = 0;
                    copying = movedSinceWait < SmallReadBytes;
                    movedSinceWait = 0;
                    await source.WaitReadableAsync().ConfigureAwait(false);
                    continue;
                }

                MarkActivity();
                pipeDirty = true;
                for (long pending = moved; pending > 0;)
                {
                    sink.ConsumeWritable();
                    long sent = LinuxSplice.Splice(pipe.ReadEnd, sink.Descriptor, (int)pending);
                    if (sent > 0)
                    {
                        pending -= sent;
                        continue;
                    }

                    int errno = Libc.LastError;
                    if (errno != Errno.EAGAIN)
                    {
                        return Ended(RelayDirectionEnd.WriteFailed, Errno.ToSocketError(errno));
                    }

                    await sink.WaitWritableAsync().ConfigureAwait(false);
                }

                pipeDirty = false;
                CountDelivered(upstream, moved);
                movedThisTurn += moved;
                movedSinceWait += moved;
                if (movedThisTurn >= pool.PipeSize)
                {
                    movedThisTurn = 0;
                    await source.Loop.Yield();
                    if (IsAborted)
                    {
                        return Canceled;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            return Canceled;
        }
        finally
        {
            if (hasPipe)
            {
                pool.Release(pipe, mayHoldBytes: pipeDirty);
            }

            if (unsent is not null)
            {
                ArrayPool<byte>.Shared.Return(unsent);
            }
        }
    }

    /// <summary>
    /// One read of a copying direction, into this thread's small-read buffer, and the send of what it read.
    /// </summary>
    /// <returns>
    /// The bytes read: 0 at EOF, -1 when the read failed (<paramref name="errno"/>, EAGAIN included). After a read, a
    /// non-zero <paramref name="errno"/> is the send's failure; what the sink did not take (it answered EAGAIN) is copied
    /// to <paramref name="unsent"/>, a pooled buffer, because the thread's buffer is the next direction's as soon as this
    /// one awaits.
    /// </returns>
    private static long ReadAndSend(EpollTunnelSocket source, EpollTunnelSocket sink, int asked, out int errno, out byte[]? unsent, out int unsentLength)
    {
        byte[] buffer = t_smallReads ??= GC.AllocateUninitializedArray<byte>(SmallReadBytes, pinned: true);
        unsent = null;
        unsentLength = 0;
        source.ConsumeReadable();
        long read = RawSocket.Receive(source.Descriptor, buffer.AsSpan(0, asked));
        errno = read < 0 ? Libc.LastError : 0;
        source.NoteRead(read, asked);
        for (int offset = 0; read > 0 && offset < read;)
        {
            sink.ConsumeWritable();
            long sent = RawSocket.Send(sink.Descriptor, buffer.AsSpan(offset, (int)read - offset));
            if (sent > 0)
            {
                offset += (int)sent;
                continue;
            }

            int sendErrno = Libc.LastError;
            if (sendErrno != Errno.EAGAIN)
            {
                errno = sendErrno;
                break;
            }

            unsentLength = (int)read - offset;
            unsent = ArrayPool<byte>.Shared.Rent(unsentLength);
            buffer.AsSpan(offset, unsentLength).CopyTo(unsent);
            break;
        }

        return read;
    }

    /// <summary>
    /// The fallback without a pipe: read into a pooled buffer, send it, and hold no buffer while waiting, for data or
    /// for tokens.
    /// </summary>
    private async Task<DirectionResult> CopyAsync(EpollTunnelSocket source, EpollTunnelSocket sink, PacingWaiter? pacing, bool upstream)
    {
        byte[]? buffer = null;
        long movedThisTurn = 0;
        try
        {
            while (true)
            {
                buffer ??= ArrayPool<byte>.Shared.Rent(_copyBufferBytes);
                int allowed = buffer.Length;
                if (pacing is not null)
                {
                    allowed = pacing.Pacer.TryTake(allowed, out TimeSpan wait);
                    if (allowed == 0)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = null;
                        movedThisTurn = 0;
                        await pacing.WaitAsync(wait).ConfigureAwait(false);
                        if (SocketsFailed(source, sink))
                        {
                            return Canceled;
                        }

                        continue;
                    }
                }

                source.ConsumeReadable();
                long read = RawSocket.Receive(source.Descriptor, buffer.AsSpan(0, allowed));

                // Read before the refund, as in SpliceAsync.
                int readErrno = read < 0 ? Libc.LastError : 0;
                pacing?.Pacer.Refund(read > 0 ? allowed - (int)read : allowed);
                if (read == 0)
                {
                    return ForwardEof(upstream);
                }

                if (read < 0)
                {
                    if (readErrno != Errno.EAGAIN)
                    {
                        return Ended(RelayDirectionEnd.ReadFailed, Errno.ToSocketError(readErrno));
                    }

                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                    movedThisTurn = 0;
                    await source.WaitReadableAsync().ConfigureAwait(false);
                    continue;
                }

                MarkActivity();
                try
                {
                    await sink.SendAsync(buffer.AsMemory(0, (int)read), CancellationToken.None).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    return Ended(RelayDirectionEnd.WriteFailed, e.SocketErrorCode);
                }

                CountDelivered(upstream, read);
                movedThisTurn += read;
                if (movedThisTurn >= _pipes.PipeSize)
                {
                    movedThisTurn = 0;
                    await source.Loop.Yield();
                    if (IsAborted)
                    {
                        return Canceled;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            return Canceled;
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// One paced direction's pacer, and its wait for tokens: a deadline on the loop of the direction's source, whose
    /// <see cref="IEpollDeadlineTarget.OnDeadline"/> resumes the direction inline on the loop's thread, as a readiness edge
    /// does. Made only for a paced tunnel, one per direction, and reused for every wait: a wait allocates nothing.
    /// </summary>
    /// <remarks>
    /// A wait ends in one of two ways, whichever moves the state from <c>Waiting</c> first: its deadline
    /// (<c>Idle</c>, the direction goes on) or <see cref="Cancel"/> (<c>Canceled</c>, for good: the tunnel is aborted). The
    /// direction starts its waits from whatever thread it runs on, and the abort comes from any thread, so the ticket
    /// of a deadline being added may not be known yet to a cancellation; whichever of the two sees the other removes it.
    /// </remarks>
    [SupportedOSPlatform("linux")]
    private sealed class PacingWaiter : IEpollDeadlineTarget, IValueTaskSource
    {
        private const int Idle = 0;
        private const int Waiting = 1;
        private const int Canceled = 2;
        private const long NoTicket = -1;

        // The loop keeps a ring of deadlines per distinct length, and a wait computed to the tick would add one per wait.
        // So a wait is rounded up to a power of two of milliseconds (8 lengths at most), and a longer one (a bucket deep
        // in debt) is cut to the longest and asked for again. The rounding adds at most 64 ms and never overflows the
        // bucket (TokenBucket): at the end of the exact wait it holds a quarter of its burst, 75 ms of its rate short of full.
        private const int LongestWaitMilliseconds = 128;

        private readonly EpollLoop _loop;
        private ManualResetValueTaskSourceCore<bool> _completion;
        private long _ticket = NoTicket;
        private int _state;

        public PacingWaiter(BandwidthPacer pacer, EpollLoop loop)
        {
            Pacer = pacer;
            _loop = loop;
        }

        public BandwidthPacer Pacer { get; }

        /// <summary>
        /// Completes on the loop's thread once <paramref name="wait"/> (rounded up) has passed on the loop's clock; throws
        /// <see cref="OperationCanceledException"/> once <see cref="Cancel"/> has run. One wait at a time.
        /// </summary>
        public ValueTask WaitAsync(TimeSpan wait)
        {
            // Reset before publishing Waiting: from then on the deadline or the abort may complete it at any moment.
            _completion.Reset();
            if (Interlocked.CompareExchange(ref _state, Waiting, Idle) == Canceled)
            {
                return ValueTask.FromException(new OperationCanceledException());
            }

            long ticket = _loop.AddDeadline(this, DeadlineLength(wait));

            // Published with a full fence, then the state read: against Cancel's exchange of the state and then read of
            // the ticket, one of the two always sees the other.
            Interlocked.Exchange(ref _ticket, ticket);
            if (Volatile.Read(ref _state) == Canceled)
            {
                _loop.RemoveDeadline(ticket, this);
            }

            return new ValueTask(this, _completion.Version);
        }

        /// <summary>
        /// Fails the wait under way, if any, and every later one, and removes its deadline. The failed wait's continuation
        /// runs on the thread pool, never in the caller.
        /// </summary>
        public void Cancel()
        {
            if (Interlocked.Exchange(ref _state, Canceled) != Waiting)
            {
                return;
            }

            // A ticket of an earlier wait (this one's not published yet) removes nothing: that deadline came, and is gone.
            long ticket = Interlocked.Read(ref _ticket);
            if (ticket != NoTicket)
            {
                _loop.RemoveDeadline(ticket, this);
            }

            _completion.RunContinuationsAsynchronously = true;
            _completion.SetException(new OperationCanceledException());
        }

        /// <summary>The tokens should be there: the direction goes on, inline on the loop's thread.</summary>
        void IEpollDeadlineTarget.OnDeadline()
        {
            if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
            {
                _completion.SetResult(true);
            }
        }

        private static TimeSpan DeadlineLength(TimeSpan wait)
        {
            long milliseconds = Math.Clamp((long)Math.Ceiling(wait.TotalMilliseconds), 1, LongestWaitMilliseconds);
            return TimeSpan.FromMilliseconds(BitOperations.RoundUpToPowerOf2((ulong)milliseconds));
        }

        void IValueTaskSource.GetResult(short token) => _completion.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _completion.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _completion.OnCompleted(continuation, state, token, flags);
    }
}
