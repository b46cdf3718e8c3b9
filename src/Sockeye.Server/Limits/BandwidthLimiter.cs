using Sockeye.Server.Configuration;
using Sockeye.Server.Limits.Shared;

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
/// <para>
/// With shared limits (<c>limits.shared</c>), a user's buckets are fed from the one all instances share, in chunks
/// (<see cref="SharedTokenBucket"/>); the table and its lifetimes are the same.
/// </para>
/// <para>
/// A reload (<see cref="Reconfigure"/>) changes the rates for sessions that start after it; a session keeps the pacers
/// it started with. A user whose rate changed gets new buckets with the next session, shared by the sessions that start
/// from then on; those opened before keep sharing the old ones until they end. Until they have, the user's sessions
/// together may move the old rate and the new one.
/// </para>
/// </remarks>
internal sealed class BandwidthLimiter
{
    private readonly TimeProvider _timeProvider;

    // Where users' buckets are shared with other instances (limits.shared); null when each instance has its own.
    private readonly ISharedLimits? _shared;
    private Rates _rates;
    private readonly Dictionary<string, UserBuckets> _users = new(StringComparer.Ordinal);

    // Users whose last session ended, oldest first; an entry whose user came back (or was already dropped) is skipped.
    private readonly Queue<(string User, UserBuckets Buckets)> _idle = new();

    public BandwidthLimiter(LimitsOptions options, TimeProvider timeProvider, ISharedLimits? shared = null)
    {
        _rates = new Rates(options.SessionBytesPerSecond, options.UserBytesPerSecond);
        _timeProvider = timeProvider;
        _shared = shared;
    }

    /// <summary>Puts the rates of <paramref name="options"/> in force for sessions that start from now on (see remarks).</summary>
    public void Reconfigure(LimitsOptions options) => Volatile.Write(ref _rates, new Rates(options.SessionBytesPerSecond, options.UserBytesPerSecond));

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
        Rates rates = Volatile.Read(ref _rates);
        bool perUser = user is not null && rates.User > 0;
        if (rates.Session <= 0 && !perUser)
        {
            return null;
        }

        UserBuckets? shared = null;
        if (perUser)
        {
            lock (_users)
            {
                DropRefilled();
                if (!_users.TryGetValue(user!, out shared) || shared.Upload.Rate != rates.User)
                {
                    // New, or at a rate a reload changed: the sessions still on the old buckets release them by reference.
                    shared = _shared is null
                        ? new UserBuckets(new TokenBucket(rates.User, _timeProvider), new TokenBucket(rates.User, _timeProvider))
                        : new UserBuckets(
                            new SharedTokenBucket(_shared, user!, SharedTokenBucket.Upload, rates.User, _timeProvider),
                            new SharedTokenBucket(_shared, user!, SharedTokenBucket.Download, rates.User, _timeProvider));
                    _users[user!] = shared;
                }

                shared.Sessions++;
            }
        }

        TokenBucket? sessionUp = rates.Session > 0 ? new TokenBucket(rates.Session, _timeProvider) : null;
        TokenBucket? sessionDown = rates.Session > 0 ? new TokenBucket(rates.Session, _timeProvider) : null;
        return new SessionBandwidth(new BandwidthPacer(sessionUp, shared?.Upload), new BandwidthPacer(sessionDown, shared?.Download), perUser ? user : null, shared);
    }

    /// <summary>Ends a session's hold on its user's buckets; after the last session they wait to refill (see remarks).</summary>
    public void Release(SessionBandwidth bandwidth)
    {
        if (bandwidth.User is not { } user || bandwidth.UserBuckets is not { } buckets)
        {
            return;
        }

        lock (_users)
        {
            // Buckets a reload has replaced are out of the table already: they go with their last session.
            if (--buckets.Sessions == 0 && _users.TryGetValue(user, out UserBuckets? current) && ReferenceEquals(current, buckets))
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

    /// <summary>The rates in force, replaced as a whole.</summary>
    private sealed record Rates(long Session, long User);

    /// <summary>One user's shared buckets, and how many sessions hold them. Guarded by the table's lock.</summary>
    internal sealed class UserBuckets(IByteBucket upload, IByteBucket download)
    {
        public IByteBucket Upload { get; } = upload;

        public IByteBucket Download { get; } = download;

        public int Sessions { get; set; }
    }
}
