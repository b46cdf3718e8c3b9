using Sockeye.Server.Configuration;

namespace Sockeye.Server.Limits;

/// <summary>
/// Hands each session its bandwidth pacers: a fresh bucket per direction for the per-session rate, and the buckets its
/// user shares with the user's other sessions for the per-user rate. One per server.
/// </summary>
/// <remarks>
/// User buckets are created with the user's first session. After the last one they are kept until they have refilled
/// (a tenth of a second of the rate, longer after a datagram that overdrew them): dropping them at once would let a user
/// who closes and reopens sessions start each one with a fresh burst, and so move more than the rate. Once full, a
/// bucket is worth no more than a new one, and it is dropped the next time the table is used. So the table holds the
/// users with sessions open and those that closed their last one within about that long.
/// </remarks>
internal sealed class BandwidthLimiter
{
    private readonly long _sessionRate;
    private readonly long _userRate;
    private readonly TimeProvider _timeProvider;
    private readonly Dictionary<string, UserBuckets> _users = new(StringComparer.Ordinal);

    // Users whose last session ended, oldest first; an entry whose user came back (or was already dropped) is skipped.
    private readonly Queue<(string User, UserBuckets Buckets)> _idle = new();

    public BandwidthLimiter(LimitsOptions options, TimeProvider timeProvider)
    {
        _sessionRate = options.SessionBytesPerSecond;
        _userRate = options.UserBytesPerSecond;
        _timeProvider = timeProvider;
    }

    /// <summary>Users that have buckets now, after dropping the idle ones that have refilled (for tests and diagnostics).</summary>
    public int UserCount
    {
        get
        {
            lock (_users)
            {
                DropRefilled();
                return _users.Count;
            }
        }
    }

    /// <summary>
    /// The pacers for a session of <paramref name="user"/> (<see langword="null"/> when anonymous), or <see langword="null"/>
    /// when no limit applies: an unlimited tunnel then runs exactly the unpaced relay.
    /// </summary>
    public SessionBandwidth? Acquire(string? user)
    {
        bool perUser = user is not null && _userRate > 0;
        if (_sessionRate <= 0 && !perUser)
        {
            return null;
        }

        TokenBucket? userUp = null;
        TokenBucket? userDown = null;
        if (perUser)
        {
            lock (_users)
            {
                DropRefilled();
                if (!_users.TryGetValue(user!, out UserBuckets? buckets))
                {
                    buckets = new UserBuckets(new TokenBucket(_userRate, _timeProvider), new TokenBucket(_userRate, _timeProvider));
                    _users.Add(user!, buckets);
                }

                buckets.Sessions++;
                userUp = buckets.Upload;
                userDown = buckets.Download;
            }
        }

        TokenBucket? sessionUp = _sessionRate > 0 ? new TokenBucket(_sessionRate, _timeProvider) : null;
        TokenBucket? sessionDown = _sessionRate > 0 ? new TokenBucket(_sessionRate, _timeProvider) : null;
        return new SessionBandwidth(new BandwidthPacer(sessionUp, userUp), new BandwidthPacer(sessionDown, userDown), perUser ? user : null);
    }

    /// <summary>Ends a session's hold on its user's buckets; after the last session they wait to refill (see remarks).</summary>
    public void Release(SessionBandwidth bandwidth)
    {
        if (bandwidth.User is not { } user)
        {
            return;
        }

        lock (_users)
        {
            if (_users.TryGetValue(user, out UserBuckets? buckets) && --buckets.Sessions == 0)
            {
                _idle.Enqueue((user, buckets));
            }

            DropRefilled();
        }
    }

    /// <summary>Drops idle users from the front of the queue whose buckets are full again; called under the lock.</summary>
    private void DropRefilled()
    {
        while (_idle.TryPeek(out (string User, UserBuckets Buckets) entry))
        {
            bool current = _users.TryGetValue(entry.User, out UserBuckets? buckets) && ReferenceEquals(buckets, entry.Buckets);
            if (current && entry.Buckets.Sessions == 0)
            {
                if (!entry.Buckets.Upload.IsFull || !entry.Buckets.Download.IsFull)
                {
                    // Later entries went idle later: they are no fuller than this one, give or take an overdraft.
                    return;
                }

                _users.Remove(entry.User);
            }

            _idle.Dequeue();
        }
    }

    private sealed class UserBuckets(TokenBucket upload, TokenBucket download)
    {
        public TokenBucket Upload { get; } = upload;

        public TokenBucket Download { get; } = download;

        public int Sessions { get; set; }
    }
}
