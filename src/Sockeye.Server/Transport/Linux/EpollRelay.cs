using System.Buffers;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Sockeye.Server.Interop;

namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// The relay of two <see cref="EpollTunnelSocket"/>s: socket → pipe → socket with splice(2), each direction going on
/// where its socket's readiness lands, on the event loop's thread, with no hand-off to the thread pool.
/// <list type="bullet">
/// <item>Readiness is the system call's own answer: a direction splices until EAGAIN, then returns its pipe to the pool
/// and waits for the next edge, so an idle tunnel holds no pipe and no buffer, and a busy one makes no extra call to learn
/// that data is there.</item>
/// <item>A full sink is waited for as such (EPOLLOUT), with the bytes left in the pipe: backpressure without a copy.</item>
/// <item>Fairness: edge-triggered readiness never tells a busy direction to stop, so after a pipe's worth it lets the
/// loop's other descriptors have their turn.</item>
/// <item>When no pipe can be had (out of descriptors) a direction copies through a pooled buffer instead.</item>
/// </list>
/// Rate limits are not served here yet: the engine hands a paced session to the runtime's sockets.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class EpollRelay : TunnelRelay
{
    private readonly EpollTunnelSocket _client;
    private readonly EpollTunnelSocket _target;
    private readonly SplicePipePool _pipes;
    private readonly int _copyBufferBytes;

    public EpollRelay(EpollTunnelSocket client, EpollTunnelSocket target, SplicePipePool pipes, int copyBufferBytes, TimeProvider timeProvider)
        : base(timeProvider)
    {
        _client = client;
        _target = target;
        _pipes = pipes;
        _copyBufferBytes = copyBufferBytes;
    }

    protected override (Task<DirectionResult> Upstream, Task<DirectionResult> Downstream) StartDirections(ref CancellationToken cancellationToken) =>
        (SpliceAsync(_client, _target, upstream: true), SpliceAsync(_target, _client, upstream: false));

    /// <summary>Fails both sockets' waits; a direction busy on the loop stops at its next wait or turn.</summary>
    protected override void AbortDirections()
    {
        _client.CancelPending();
        _target.CancelPending();
    }

    protected override void ShutdownSink(bool upstream) => (upstream ? _target : _client).ShutdownSend();

    private async Task<DirectionResult> SpliceAsync(EpollTunnelSocket source, EpollTunnelSocket sink, bool upstream)
    {
        SplicePipePool pool = _pipes;
        (int ReadEnd, int WriteEnd) pipe = default;
        bool hasPipe = false;

        // Set while the pipe may hold bytes not yet sent: such a pipe is closed, never returned to the pool.
        bool pipeDirty = false;
        long movedThisTurn = 0;
        try
        {
            while (true)
            {
                if (!hasPipe)
                {
                    if (!pool.TryRent(out pipe, out _))
                    {
                        return await CopyAsync(source, sink, upstream).ConfigureAwait(false);
                    }

                    hasPipe = true;
                }

                source.ConsumeReadable();
                long moved = LinuxSplice.Splice(source.Descriptor, pipe.WriteEnd, pool.PipeSize);
                if (moved == 0)
                {
                    return ForwardEof(upstream);
                }

                if (moved < 0)
                {
                    int errno = Libc.LastError;
                    if (errno != Errno.EAGAIN)
                    {
                        return Ended(RelayDirectionEnd.ReadFailed, Errno.ToSocketError(errno));
                    }

                    // Drained: give the pipe back before waiting, so that an idle direction holds none.
                    hasPipe = false;
                    pool.Return(pipe);
                    movedThisTurn = 0;
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
        }
    }

    /// <summary>The fallback without a pipe: read into a pooled buffer, send it, and hold no buffer while waiting.</summary>
    private async Task<DirectionResult> CopyAsync(EpollTunnelSocket source, EpollTunnelSocket sink, bool upstream)
    {
        byte[]? buffer = null;
        long movedThisTurn = 0;
        try
        {
            while (true)
            {
                buffer ??= ArrayPool<byte>.Shared.Rent(_copyBufferBytes);
                source.ConsumeReadable();
                long read = RawSocket.Receive(source.Descriptor, buffer);
                if (read == 0)
                {
                    return ForwardEof(upstream);
                }

                if (read < 0)
                {
                    int errno = Libc.LastError;
                    if (errno != Errno.EAGAIN)
                    {
                        return Ended(RelayDirectionEnd.ReadFailed, Errno.ToSocketError(errno));
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
}
