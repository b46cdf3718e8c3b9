using System.Buffers;
using System.Net.Sockets;
using Sockeye.Server.Limits;

namespace Sockeye.Server.Transport.Portable;

/// <summary>
/// The portable engine's relay: copies bytes both ways between a client and its destination until both directions end.
/// <list type="bullet">
/// <item>Half-close: when one side sends FIN, the other side's sending half is shut down and the other direction goes on.</item>
/// <item>Backpressure: a direction reads again only after everything it read was sent, so it never holds more than one buffer.</item>
/// <item>Idle tunnels hold no buffer: each pass starts with a zero-byte read, and the buffer goes back to the pool
/// before waiting (YARP's <c>StreamCopier</c>, Kestrel's <c>WaitForDataBeforeAllocatingBuffer</c>).</item>
/// <item>Rate limits: a paced direction takes tokens once data is waiting and moves at most what it was granted (a short
/// read gives the rest back). An unlimited tunnel has no pacer and runs the same path as before, without a single extra await.</item>
/// </list>
/// </summary>
internal sealed class TcpRelay : TunnelRelay
{
    private readonly Socket _client;
    private readonly Socket _target;
    private readonly int _bufferSize;
    private readonly BandwidthPacer? _uploadPacer;
    private readonly BandwidthPacer? _downloadPacer;
    private CancellationToken _cancellationToken;

    // Only for a paced tunnel: its waits for tokens must end when the tunnel is aborted, and a wait is not a socket call.
    private CancellationTokenSource? _pacingAbort;

    // bandwidth: null when no rate limit applies.
    public TcpRelay(Socket client, Socket target, int bufferSize, TimeProvider timeProvider, SessionBandwidth? bandwidth = null)
        : base(timeProvider)
    {
        _uploadPacer = bandwidth?.Upload;
        _downloadPacer = bandwidth?.Download;
        _client = client;
        _target = target;
        _bufferSize = bufferSize;
    }

    /// <remarks>
    /// The directions' socket calls carry no cancellation token: each pending call with a cancelable token would keep a
    /// registration node alive, about 200 bytes of an idle tunnel. Aborting closes both sockets instead, which ends any
    /// pending call, and the directions report that as <see cref="RelayDirectionEnd.Canceled"/>.
    /// </remarks>
    protected override (Task<DirectionResult> Upstream, Task<DirectionResult> Downstream) StartDirections(ref CancellationToken cancellationToken)
    {
        if (_uploadPacer is not null || _downloadPacer is not null)
        {
            _pacingAbort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cancellationToken = _pacingAbort.Token;
        }

        _cancellationToken = cancellationToken;
        return (CopyAsync(_client, _target, upstream: true), CopyAsync(_target, _client, upstream: false));
    }

    /// <summary>Closes both sockets with RST, ending whatever either direction is waiting for.</summary>
    protected override void AbortDirections()
    {
        SocketErrors.Abort(_client);
        SocketErrors.Abort(_target);
        CancelPacing();
    }

    /// <summary>
    /// Shuts down both sockets' receiving halves rather than resetting them: the failed end's is moot, and on the end
    /// that did not fail it ends the other direction's pending read (as an EOF) while its sending half keeps the bytes
    /// already sent, which a reset here would destroy before a slow reader has them. A pending send cannot outlast
    /// this: each direction sends to the end the other reads from, so it is the failed end's, and fails with it.
    /// </summary>
    protected override void AbortDirectionsAfterFailure()
    {
        SocketErrors.TryShutdown(_client, SocketShutdown.Receive);
        SocketErrors.TryShutdown(_target, SocketShutdown.Receive);
        CancelPacing();
    }

    /// <summary>Ends a paced direction's wait for tokens.</summary>
    private void CancelPacing()
    {
        try
        {
            _pacingAbort?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Ignored: the relay has just completed.
        }
    }

    protected override void ShutdownSink(bool upstream) => SocketErrors.TryShutdown(upstream ? _target : _client, SocketShutdown.Send);

    protected override void OnRelayEnded() => _pacingAbort?.Dispose();

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
                        await Task.Delay(wait, TimeProvider, _cancellationToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                    }
                }

                int read = await source.ReceiveAsync(buffer.AsMemory(0, allowed), SocketFlags.None).ConfigureAwait(false);
                pacer?.Refund(allowed - read);
                if (read == 0)
                {
                    return ForwardEof(upstream);
                }

                MarkActivity();

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

                CountDelivered(upstream, read);
                lastReadFilledBuffer = read == allowed;
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
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
