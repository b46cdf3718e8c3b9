using System.Buffers;
using System.Net.Sockets;
using Sockeye.Server.Limits;

namespace Sockeye.Server.Transport;

/// <summary>
/// A relay written against <see cref="TunnelSocket"/> alone, for tunnels whose bytes must pass through the server's
/// hands on their way: a client protected by GSSAPI (<see cref="GssapiTunnelSocket"/>), whose every message is
/// unwrapped or wrapped, cannot use an engine's zero-copy relay. Works over either engine.
/// </summary>
/// <remarks>
/// Same rules as the engines' relays: half-close, backpressure (a direction reads again only once what it read was
/// sent), no buffer while idle (a zero-byte read first), paced by the session's tokens when a rate limit applies. An
/// abort cancels the directions' pending calls and leaves the sockets open, so that after a failure the session can let
/// the end that did not fail have what was already sent to it before it passes the reset on.
/// </remarks>
internal sealed class TunnelSocketRelay : TunnelRelay
{
    private readonly TunnelSocket _client;
    private readonly TunnelSocket _target;
    private readonly int _bufferSize;
    private readonly BandwidthPacer? _uploadPacer;
    private readonly BandwidthPacer? _downloadPacer;
    private CancellationTokenSource? _abort;

    // bandwidth: null when no rate limit applies.
    public TunnelSocketRelay(TunnelSocket client, TunnelSocket target, int bufferSize, TimeProvider timeProvider, SessionBandwidth? bandwidth)
        : base(timeProvider)
    {
        _client = client;
        _target = target;
        _bufferSize = bufferSize;
        _uploadPacer = bandwidth?.Upload;
        _downloadPacer = bandwidth?.Download;
    }

    protected override (Task<DirectionResult> Upstream, Task<DirectionResult> Downstream) StartDirections(ref CancellationToken cancellationToken)
    {
        _abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cancellationToken = _abort.Token;
        return (CopyAsync(_client, _target, upstream: true, _abort.Token), CopyAsync(_target, _client, upstream: false, _abort.Token));
    }

    protected override void AbortDirections()
    {
        try
        {
            _abort?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Ignored: the relay has just completed.
        }
    }

    protected override void ShutdownSink(bool upstream) => (upstream ? _target : _client).ShutdownSend();

    protected override void OnRelayEnded() => _abort?.Dispose();

    private async Task<DirectionResult> CopyAsync(TunnelSocket source, TunnelSocket sink, bool upstream, CancellationToken cancellationToken)
    {
        byte[]? buffer = null;
        BandwidthPacer? pacer = upstream ? _uploadPacer : _downloadPacer;
        try
        {
            while (true)
            {
                ValueTask<int> dataAvailable = source.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
                if (!dataAvailable.IsCompleted && buffer is not null)
                {
                    byte[] idle = buffer;
                    buffer = null;
                    ArrayPool<byte>.Shared.Return(idle);
                }

                await dataAvailable.ConfigureAwait(false);
                buffer ??= ArrayPool<byte>.Shared.Rent(_bufferSize);
                int allowed = buffer.Length;
                if (pacer is not null)
                {
                    while ((allowed = pacer.TryTake(buffer.Length, out TimeSpan wait)) == 0)
                    {
                        await Task.Delay(wait, TimeProvider, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                    }
                }

                int read = await source.ReceiveAsync(buffer.AsMemory(0, allowed), cancellationToken).ConfigureAwait(false);
                pacer?.Refund(allowed - read);
                if (read == 0)
                {
                    return ForwardEof(upstream);
                }

                MarkActivity();
                try
                {
                    await sink.SendAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    return Ended(RelayDirectionEnd.WriteFailed, e.SocketErrorCode);
                }

                CountDelivered(upstream, read);
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
