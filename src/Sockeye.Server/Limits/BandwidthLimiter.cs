using Sockeye.Server.Configuration;

namespace Sockeye.Server.Limits;

/// <summary>
/// Hands each session its bandwidth pacers: a fresh bucket per direction for the per-session rate, and the buckets its
/// user shares with the user's other sessions for the per-user rate. User buckets are created with the user's first
/// session and dropped with the last, so the table never holds more users than have sessions open. One per server.
/// </summary>
internal sealed class BandwidthLimiter
{
    private readonly long _sessionRate;
    private readonly long _userRate;
    private readonly TimeProvider _timeProvider;
    private readonly Dictionary<string, UserBuckets> _users = new(StringComparer.Ordinal);

    public BandwidthLimiter(LimitsOptions options, TimeProvider timeProvider)
    {
        _sessionRate = options.SessionBytesPerSecond;
        _userRate = options.UserBytesPerSecond;
        _timeProvider = timeProvider;
    }

    /// <summary>Users that have buckets now (for tests: the table must empty when their sessions end).</summary>
    public int UserCount
    {
        get
        {
            lock (_users)
            {
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

    /// <summary>Ends a session's hold on its user's buckets; the last session of a user drops them.</summary>
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
                _users.Remove(user);
            }
        }
    }

    private sealed class UserBuckets(TokenBucket upload, TokenBucket download)
    {
        public TokenBucket Upload { get; } = upload;

        public TokenBucket Download { get; } = download;

        public int Sessions { get; set; }
    }
}
