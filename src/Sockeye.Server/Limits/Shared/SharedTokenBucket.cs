namespace Sockeye.Server.Limits.Shared;

/// <summary>
/// One user's bytes in one direction on this instance, drawn from the bucket every instance shares for them
/// (<c>limits.shared</c>). A relay takes from a local stock, synchronously, as from a <see cref="TokenBucket"/>; when the
/// stock runs low, one asynchronous draw brings a chunk (up to the shared bucket's whole burst, a tenth of a second of the
/// rate). A relay that finds the stock empty is told to wait a few milliseconds, as for a refill, and asks again: no
/// relay, and no event loop, ever waits on Redis, and no read costs a round trip.
/// </summary>
/// <remarks>
/// The shared bucket is the limit: every byte any instance moves was granted by it, so all instances together move at
/// most its burst plus the rate over any window, as one instance does with a local bucket. A stock left over when the
/// user's last session here ends is dropped with the bucket: the instances then move a little less, never more. While
/// the limits are local (Redis unreachable or slow), this is the instance's own <see cref="TokenBucket"/> at the full
/// rate, as without shared limits; the stock waits for Redis's return.
/// </remarks>
internal sealed class SharedTokenBucket : IByteBucket
{
    /// <summary>The direction client → destination, in the shared bucket's name.</summary>
    public const string Upload = "up";

    /// <summary>The direction destination → client.</summary>
    public const string Download = "down";

    // While a draw is on its way, an empty stock is asked again this often: a round trip takes well under it on a LAN,
    // and a draw brings up to 100 ms of the rate.
    private static readonly TimeSpan DrawPending = TimeSpan.FromMilliseconds(5);

    private readonly Lock _lock = new();
    private readonly ISharedLimits _shared;
    private readonly string _bucket;
    private readonly TokenBucket _local;
    private readonly TimeProvider _timeProvider;
    private readonly long _chunk;

    // Bytes drawn and not yet moved; below zero after a charge (bytes that moved without waiting), repaid by draws.
    private long _stock;
    private bool _drawing;

    // While the shared bucket is empty: when it will hold a chunk's quarter again (a timestamp); no draw before.
    private long _nextDraw;

    public SharedTokenBucket(ISharedLimits shared, string user, string direction, long bytesPerSecond, TimeProvider timeProvider)
    {
        _shared = shared;
        _bucket = user + ":" + direction;
        _local = new TokenBucket(bytesPerSecond, timeProvider);
        _timeProvider = timeProvider;
        _chunk = CapacityFor(bytesPerSecond);
        Rate = bytesPerSecond;
    }

    public long Rate { get; }

    /// <summary>
    /// The shared bucket's burst, and the most one draw asks for: a tenth of a second of the rate, as a local bucket's
    /// (<see cref="TokenBucket"/> says why).
    /// </summary>
    public static long CapacityFor(long bytesPerSecond) => Math.Max(1, bytesPerSecond / 10);

    /// <summary>The stock is worth nothing to a new bucket's owner, so only the local bucket decides.</summary>
    public bool IsFull => _local.IsFull;

    public int TryTake(int wanted, out TimeSpan wait)
    {
        if (!_shared.IsShared)
        {
            return _local.TryTake(wanted, out wait);
        }

        long now = _timeProvider.GetTimestamp();
        int granted;
        bool draw;
        lock (_lock)
        {
            granted = (int)Math.Clamp(_stock, 0, wanted);
            _stock -= granted;
            draw = TryBeginDraw(now);
            wait = granted > 0 ? TimeSpan.Zero
                : _drawing ? DrawPending
                : TimeSpan.FromTicks(Math.Max(DrawPending.Ticks, (long)((_nextDraw - now) * ((double)TimeSpan.TicksPerSecond / _timeProvider.TimestampFrequency))));
        }

        if (draw)
        {
            _ = DrawAsync();
        }

        return granted;
    }

    public bool TryTakeAll(int count)
    {
        if (!_shared.IsShared)
        {
            return _local.TryTakeAll(count);
        }

        long now = _timeProvider.GetTimestamp();
        bool taken = false;
        bool draw;
        lock (_lock)
        {
            // A datagram larger than a chunk passes on a chunk's stock, into debt, as with a local bucket.
            if (_stock >= Math.Min(count, _chunk))
            {
                _stock -= count;
                taken = true;
            }

            draw = TryBeginDraw(now);
        }

        if (draw)
        {
            _ = DrawAsync();
        }

        return taken;
    }

    public void Charge(int count)
    {
        if (!_shared.IsShared)
        {
            _local.Charge(count);
            return;
        }

        lock (_lock)
        {
            _stock -= count;
        }
    }

    public void Refund(int count)
    {
        if (!_shared.IsShared)
        {
            _local.Refund(count);
            return;
        }

        lock (_lock)
        {
            _stock += count;
        }
    }

    // Called under the lock. The next chunk is asked for once the stock is down to half a chunk, so that a busy relay
    // rarely finds it empty: one draw at a time, and none while the shared bucket is known to be empty.
    private bool TryBeginDraw(long now)
    {
        if (_drawing || _stock >= _chunk / 2 || now < _nextDraw)
        {
            return false;
        }

        _drawing = true;
        return true;
    }

    private async Task DrawAsync()
    {
        long granted = 0;
        TimeSpan retryAfter = TimeSpan.Zero;
        try
        {
            (granted, retryAfter) = await _shared.DrawBandwidthAsync(_bucket, Rate, _chunk).ConfigureAwait(false);
        }
        finally
        {
            long now = _timeProvider.GetTimestamp();
            lock (_lock)
            {
                _stock += granted;
                _drawing = false;
                if (granted == 0)
                {
                    _nextDraw = now + (long)(retryAfter.TotalSeconds * _timeProvider.TimestampFrequency);
                }
            }
        }
    }
}
