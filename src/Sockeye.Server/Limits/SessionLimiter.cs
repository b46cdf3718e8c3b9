using System.Collections.Concurrent;
using System.Net;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Limits;

/// <summary>
/// Counts open sessions globally, per client address and per user, against <see cref="LimitsOptions"/>. A session takes
/// its slots once its request is known and gives them back when it ends.
/// </summary>
internal sealed class SessionLimiter
{
    private readonly LimitsOptions _options;
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private readonly ConcurrentDictionary<string, int> _perUser = new(StringComparer.Ordinal);
    private int _sessions;
    private int _handshakes;
    private long _rejectedSessions;
    private long _evictedHandshakes;

    public SessionLimiter(LimitsOptions options) => _options = options;

    /// <summary>Requests refused because a session cap was reached.</summary>
    public long RejectedSessions => Volatile.Read(ref _rejectedSessions);

    /// <summary>Unfinished handshakes closed to make room for newer clients.</summary>
    public long EvictedHandshakes => Volatile.Read(ref _evictedHandshakes);

    /// <summary>Counts a new handshake; <see langword="true"/> when that puts the server over its handshake cap.</summary>
    public bool EnterHandshake() => Interlocked.Increment(ref _handshakes) > _options.MaxHandshakes && _options.MaxHandshakes > 0;

    public void LeaveHandshake() => Interlocked.Decrement(ref _handshakes);

    public void CountEviction() => Interlocked.Increment(ref _evictedHandshakes);

    /// <summary>Takes a session slot for <paramref name="client"/> and <paramref name="user"/> (null when anonymous); false, and nothing taken, at a cap.</summary>
    public bool TryAcquire(IPAddress client, string? user)
    {
        if (!TryTake(ref _sessions, _options.MaxSessions))
        {
            return Reject();
        }

        if (!TryTake(_perAddress, client, _options.MaxSessionsPerClientAddress))
        {
            Interlocked.Decrement(ref _sessions);
            return Reject();
        }

        if (user is not null && !TryTake(_perUser, user, _options.MaxSessionsPerUser))
        {
            Give(_perAddress, client, _options.MaxSessionsPerClientAddress);
            Interlocked.Decrement(ref _sessions);
            return Reject();
        }

        return true;
    }

    /// <summary>Gives back what <see cref="TryAcquire"/> took.</summary>
    public void Release(IPAddress client, string? user)
    {
        Interlocked.Decrement(ref _sessions);
        Give(_perAddress, client, _options.MaxSessionsPerClientAddress);
        if (user is not null)
        {
            Give(_perUser, user, _options.MaxSessionsPerUser);
        }
    }

    private bool Reject()
    {
        Interlocked.Increment(ref _rejectedSessions);
        return false;
    }

    private static bool TryTake(ref int counter, int cap)
    {
        int now = Interlocked.Increment(ref counter);
        if (cap > 0 && now > cap)
        {
            Interlocked.Decrement(ref counter);
            return false;
        }

        return true;
    }

    private static bool TryTake<TKey>(ConcurrentDictionary<TKey, int> counters, TKey key, int cap)
        where TKey : notnull
    {
        if (cap <= 0)
        {
            return true;
        }

        while (true)
        {
            int current = counters.GetOrAdd(key, 0);
            if (current >= cap)
            {
                return false;
            }

            if (counters.TryUpdate(key, current + 1, current))
            {
                return true;
            }
        }
    }

    private static void Give<TKey>(ConcurrentDictionary<TKey, int> counters, TKey key, int cap)
        where TKey : notnull
    {
        if (cap <= 0)
        {
            return;
        }

        while (true)
        {
            int current = counters.GetOrAdd(key, 0);
            if (current <= 1)
            {
                // Remove the entry rather than keep a zero for every address ever seen.
                if (counters.TryRemove(new KeyValuePair<TKey, int>(key, current)))
                {
                    return;
                }
            }
            else if (counters.TryUpdate(key, current - 1, current))
            {
                return;
            }
        }
    }
}
