using System.Buffers;
using System.Net.Sockets;
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
internal sealed partial class TcpRelay
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
    /// closes both sockets as soon as this returns: that close is what delivers the FIN of the direction that ended last.
    /// </summary>
    public async Task<RelayOutcome> RunAsync(CancellationToken cancellationToken)
    {
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<DirectionResult> upstream = _pipes is null
            ? CopyAsync(_client, _target, upstream: true, abort.Token)
            : SpliceAsync(_client, _target, upstream: true, abort.Token);
        Task<DirectionResult> downstream = _pipes is null
            ? CopyAsync(_target, _client, upstream: false, abort.Token)
            : SpliceAsync(_target, _client, upstream: false, abort.Token);

        // A failed direction takes the other one down with it; a clean EOF leaves the other running (half-close).
        Task<DirectionResult> first = await Task.WhenAny(upstream, downstream).ConfigureAwait(false);
        DirectionResult firstResult = await first.ConfigureAwait(false);
        if (firstResult.End != RelayDirectionEnd.Eof)
        {
            await abort.CancelAsync().ConfigureAwait(false);
        }

        DirectionResult up = await upstream.ConfigureAwait(false);
        DirectionResult down = await downstream.ConfigureAwait(false);
        SocketError error = firstResult.Error != SocketError.Success ? firstResult.Error
            : up.Error != SocketError.Success ? up.Error : down.Error;
        return new RelayOutcome(up.End, down.End, error, BytesUp, BytesDown);
    }

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

    private async Task<DirectionResult> CopyAsync(Socket source, Socket sink, bool upstream, CancellationToken cancellationToken)
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
                    ValueTask<int> dataAvailable = source.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);
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
                        await Task.Delay(wait, _timeProvider, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                    }
                }

                int read = await source.ReceiveAsync(buffer.AsMemory(0, allowed), SocketFlags.None, cancellationToken).ConfigureAwait(false);
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
                        sent += await sink.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    }
                    catch (SocketException e)
                    {
                        return new DirectionResult(RelayDirectionEnd.WriteFailed, e.SocketErrorCode);
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
            return new DirectionResult(RelayDirectionEnd.ReadFailed, e.SocketErrorCode);
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
