using System.Diagnostics;

namespace Sockeye.Server.Limits;

/// <summary>
/// A thread-safe token bucket of bytes on <see cref="TimeProvider"/> timestamps: it fills at <see cref="Rate"/> bytes per
/// second up to <see cref="Capacity"/>, and a relay takes from it before it moves bytes.
/// </summary>
/// <remarks>
/// The capacity is the burst a quiet tunnel may send at full speed, and so the whole error of the limit: over any window
/// of T seconds at most <c>Capacity + Rate × T</c> bytes pass. A tenth of a second of the rate keeps that within 1 % over
/// the 10 s the issue asks for (issue 7: "exact to within a few percent over 10 s"), while still being long enough that a
/// late timer (a few ms) never lets the bucket overflow and lose tokens a busy tunnel was waiting for. It is not rounded
/// up to a relay buffer: grants may be partial (a relay then reads or splices less), so a chunk floor is not needed, and
/// at low rates it would be the error (64 KiB at 100 KiB/s is 6 % over 10 s).
/// Tokens are a <see langword="double"/> so that refills of a few nanoseconds keep their fractions: a long would round
/// each refill down and lose bytes at high take rates.
/// </remarks>
internal sealed class TokenBucket : IByteBucket
{
    // A wake-up computed to the tick can find the bucket a rounding error short of a whole byte; that byte counts.
    private const double RoundingSlack = 1e-6;

    private readonly Lock _lock = new();
    private readonly TimeProvider _timeProvider;
    private readonly double _ratePerTick;
    private readonly double _capacity;
    private readonly double _minimumGrant;
    private double _tokens;
    private long _lastRefill;

    public TokenBucket(long bytesPerSecond, TimeProvider timeProvider)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerSecond);
        Rate = bytesPerSecond;
        _timeProvider = timeProvider;
        _ratePerTick = (double)bytesPerSecond / timeProvider.TimestampFrequency;
        _capacity = Math.Max(1, bytesPerSecond / 10);

        // An empty bucket is waited on until a quarter of the burst is back (25 ms of the rate): about 40 wake-ups a
        // second per direction, whatever the rate, rather than one per trickle of bytes.
        _minimumGrant = Math.Max(1, Math.Floor(_capacity / 4));
        _tokens = _capacity;
        _lastRefill = timeProvider.GetTimestamp();
    }

    /// <summary>Bytes per second.</summary>
    public long Rate { get; }

    /// <summary>The most bytes the bucket holds: the largest burst.</summary>
    public long Capacity => (long)_capacity;

    /// <summary>
    /// Takes <paramref name="count"/> bytes that have already moved, into debt if need be: later takes wait until the
    /// debt is paid back at the rate.
    /// </summary>
    public void Charge(int count)
    {
        long now = _timeProvider.GetTimestamp();
        lock (_lock)
        {
            Refill(now);
            _tokens -= count;
        }
    }

    /// <summary>Whether the bucket holds its whole burst now: forgetting it and making a new one would change nothing.</summary>
    public bool IsFull
    {
        get
        {
            long now = _timeProvider.GetTimestamp();
            lock (_lock)
            {
                Refill(now);
                return _tokens + RoundingSlack >= _capacity;
            }
        }
    }

    /// <summary>
    /// Grants up to <paramref name="wanted"/> bytes (at least one), or none; then <paramref name="wait"/> says how long
    /// until a worthwhile amount (a quarter of the burst, or <paramref name="wanted"/> if less) is available.
    /// </summary>
    public int TryTake(int wanted, out TimeSpan wait)
    {
        Debug.Assert(wanted > 0);
        long now = _timeProvider.GetTimestamp();
        lock (_lock)
        {
            Refill(now);
            double needed = Math.Min(wanted, _minimumGrant);
            double available = Math.Floor(_tokens + RoundingSlack);
            if (available >= needed)
            {
                int granted = (int)Math.Min(wanted, available);
                _tokens -= granted;
                wait = TimeSpan.Zero;
                return granted;
            }

            wait = TimeUntil(needed);
            return 0;
        }
    }

    /// <summary>
    /// For a datagram, all or nothing: takes <paramref name="count"/> bytes when the bucket holds that many (or a full
    /// burst, for a datagram larger than the burst, which may then leave the bucket in debt until the rate repays it).
    /// </summary>
    public bool TryTakeAll(int count)
    {
        long now = _timeProvider.GetTimestamp();
        lock (_lock)
        {
            Refill(now);
            if (_tokens + RoundingSlack < Math.Min(count, _capacity))
            {
                return false;
            }

            _tokens -= count;
            return true;
        }
    }

    /// <summary>Gives back bytes taken but not moved (a short read, a datagram the other bucket refused).</summary>
    public void Refund(int count)
    {
        lock (_lock)
        {
            _tokens = Math.Min(_capacity, _tokens + count);
        }
    }

    // The clock is read before the lock is taken: a TimeProvider may run timer callbacks when read (a test clock does),
    // and none of them must run inside the bucket. A reading older than the last refill (another thread read later and
    // got the lock first) adds nothing.
    private void Refill(long now)
    {
        long elapsed = now - _lastRefill;
        if (elapsed > 0)
        {
            _tokens = Math.Min(_capacity, _tokens + (elapsed * _ratePerTick));
            _lastRefill = now;
        }
    }

    private TimeSpan TimeUntil(double needed)
    {
        // Rounded up, so the wake-up never comes a tick before the tokens do.
        double seconds = (needed - _tokens) / (_ratePerTick * _timeProvider.TimestampFrequency);
        return TimeSpan.FromTicks(Math.Max(1, (long)Math.Ceiling(seconds * TimeSpan.TicksPerSecond)));
    }
}
