using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Sockeye.Server.Limits;
using Sockeye.Server.Interop;

namespace Sockeye.Server.Relay;

/// <summary>
/// The Linux fast path: bytes go socket → pipe → socket with splice(2), never copied into user space. Readiness still
/// comes from the portable zero-byte receive (which .NET implements as a one-byte peek), and a full sink falls back to
/// an ordinary awaited send of what the pipe holds, so backpressure and cancellation work exactly as in the copy path.
/// </summary>
internal sealed partial class TcpRelay
{
    private async Task<DirectionResult> SpliceAsync(Socket source, Socket sink, bool upstream)
    {
        SplicePipePool pool = _pipes!;
        (int ReadEnd, int WriteEnd) pipe = default;
        bool hasPipe = false;

        // Set while the pipe may hold bytes not yet sent: such a pipe is closed, never returned to the pool.
        bool pipeDirty = false;
        bool lastSpliceFilledPipe = false;
        BandwidthPacer? pacer = upstream ? _uploadPacer : _downloadPacer;
        try
        {
            while (true)
            {
                if (!lastSpliceFilledPipe)
                {
                    ValueTask<int> dataAvailable = source.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                    if (!dataAvailable.IsCompleted && hasPipe)
                    {
                        hasPipe = false;
                        pool.Return(pipe);
                    }

                    await dataAvailable.ConfigureAwait(false);
                }

                if (!hasPipe)
                {
                    if (!pool.TryRent(out pipe, out _))
                    {
                        // Out of descriptors for a pipe: this direction carries on the portable way.
                        return await CopyAsync(source, sink, upstream).ConfigureAwait(false);
                    }

                    hasPipe = true;
                }

                int allowed = pool.PipeSize;
                if (pacer is not null)
                {
                    // A paced splice moves at most what was granted: a whole pipe at a low rate would be seconds of burst.
                    while ((allowed = pacer.TryTake(pool.PipeSize, out TimeSpan wait)) == 0)
                    {
                        // Forced to yield: the relay goes on from the thread pool, never inline in the timer's callback (a timer
                        // thread, or a test clock's Advance, must not end up moving a tunnel's bytes).
                        await Task.Delay(wait, TimeProvider, _cancellationToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                    }
                }

                long moved = SpliceBetween(source, pipe.WriteEnd, toSocket: false, allowed, out int errno);
                pacer?.Refund(moved > 0 ? allowed - (int)moved : allowed);
                if (moved == 0)
                {
                    return ForwardEof(upstream);
                }

                if (moved < 0)
                {
                    if (errno == Errno.EAGAIN)
                    {
                        // Drained: now wait for readiness.
                        lastSpliceFilledPipe = false;
                        continue;
                    }

                    return Ended(RelayDirectionEnd.ReadFailed, Errno.ToSocketError(errno));
                }

                MarkActivity();
                pipeDirty = true;
                long pending = moved;
                while (pending > 0)
                {
                    long sent = SpliceBetween(sink, pipe.ReadEnd, toSocket: true, (int)pending, out errno);
                    if (sent > 0)
                    {
                        pending -= sent;
                        continue;
                    }

                    if (errno != Errno.EAGAIN)
                    {
                        return Ended(RelayDirectionEnd.WriteFailed, Errno.ToSocketError(errno));
                    }

                    // The sink's buffer is full. There is no portable "wait until writable", but an awaited send is one:
                    // move what the pipe holds into a pooled buffer and let SendAsync wait for room.
                    SocketError sendError = await DrainPipeBySendAsync(pipe.ReadEnd, sink, (int)pending).ConfigureAwait(false);
                    if (sendError != SocketError.Success)
                    {
                        return Ended(RelayDirectionEnd.WriteFailed, sendError);
                    }

                    pending = 0;
                }

                pipeDirty = false;
                CountDelivered(upstream, moved);

                // Unlike a buffered read, trying again costs no buffer: a non-blocking splice on a drained socket just
                // returns EAGAIN. That saves the readiness peek on every chunk of a busy stream.
                lastSpliceFilledPipe = true;
            }
        }
        catch (SocketException e)
        {
            return Ended(RelayDirectionEnd.ReadFailed, e.SocketErrorCode);
        }
        catch (OperationCanceledException)
        {
            return Canceled;
        }
        catch (ObjectDisposedException)
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

    /// <summary>One splice between a socket and a pipe end, holding a reference on the socket's handle for the call.</summary>
    private static long SpliceBetween(Socket socket, int pipeEnd, bool toSocket, int length, out int errno)
    {
        SafeHandle handle = socket.SafeHandle;
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            long result = toSocket ? LinuxSplice.Splice(pipeEnd, fd, length) : LinuxSplice.Splice(fd, pipeEnd, length);
            errno = result < 0 ? Libc.LastError : 0;
            return result;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private static async ValueTask<SocketError> DrainPipeBySendAsync(int pipeReadEnd, Socket sink, int length)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            int filled = 0;
            while (filled < length)
            {
                long read = LinuxSplice.Read(pipeReadEnd, buffer.AsSpan(filled, length - filled));
                if (read <= 0)
                {
                    // A pipe we filled ourselves cannot run dry early; treat it as a broken relay.
                    return SocketError.SocketError;
                }

                filled += (int)read;
            }

            for (int sent = 0; sent < filled;)
            {
                try
                {
                    sent += await sink.SendAsync(buffer.AsMemory(sent, filled - sent), SocketFlags.None).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    return e.SocketErrorCode;
                }
            }

            return SocketError.Success;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
