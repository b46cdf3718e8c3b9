using System.Collections.Concurrent;
using System.Net;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Limits;

/// <summary>
/// Counts open sessions globally, per client address and per user, against <see cref="LimitsOptions"/>, and the
/// descriptors they hold against the <see cref="DescriptorBudget"/>. A connection takes one descriptor when accepted; a
/// session takes its slots and the rest of its descriptors once its request is known, and gives them back when it ends.
/// </summary>
internal sealed class SessionLimiter
{
    private readonly LimitsOptions _options;
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private readonly ConcurrentDictionary<string, int> _perUser = new(StringComparer.Ordinal);
    private readonly int _maxSessions;
    private readonly int _maxHandshakes;
    private int _sessions;
    private int _handshakes;
    private long _rejectedSessions;
    private long _evictedHandshakes;
    private long _refusedConnections;

    public SessionLimiter(LimitsOptions options)
        : this(options, DescriptorBudget.Unlimited)
    {
    }

    /// <summary>
    /// Caps sessions and handshakes at the lower of the configured limit and what <paramref name="descriptors"/> has room
    /// for: a configured limit the descriptors cannot honour is lowered (<see cref="Lowered"/> says which), not trusted.
    /// </summary>
    public SessionLimiter(LimitsOptions options, DescriptorBudget descriptors)
    {
        _options = options;
        Descriptors = descriptors;
        _maxHandshakes = Lower(nameof(LimitsOptions.MaxHandshakes), options.MaxHandshakes, descriptors.HandshakeCeiling);
        _maxSessions = Lower(nameof(LimitsOptions.MaxSessions), options.MaxSessions, descriptors.TunnelCeiling);
    }

    /// <summary>The descriptors sessions may hold, and how many they hold now.</summary>
    public DescriptorBudget Descriptors { get; }

    /// <summary>Configured limits lowered to what the open-file limit allows: the setting, its value, and the value in force.</summary>
    public List<(string Setting, int Configured, int Effective)> Lowered { get; } = [];

    /// <summary>Handshakes in progress at once (0: no cap).</summary>
    public int MaxHandshakes => _maxHandshakes;

    /// <summary>Sessions at once (0: no cap).</summary>
    public int MaxSessions => _maxSessions;

    /// <summary>Connections closed right after accept because the descriptor budget was spent.</summary>
    public long RefusedConnections => Interlocked.Read(ref _refusedConnections);

    /// <summary>
    /// Takes the descriptor of a connection just accepted; <see langword="false"/> when the budget is spent, and the
    /// connection must be closed at once.
    /// </summary>
    public bool TryAdmitConnection()
    {
        if (Descriptors.TryTake(DescriptorBudget.HandshakeDescriptors))
        {
            return true;
        }

        Interlocked.Increment(ref _refusedConnections);
        return false;
    }

    /// <summary>Gives back what <see cref="TryAdmitConnection"/> took, once the connection is closed.</summary>
    public void ReleaseConnection() => Descriptors.Give(DescriptorBudget.HandshakeDescriptors);

    private int Lower(string setting, int configured, long ceiling)
    {
        if (ceiling == long.MaxValue || (configured > 0 && configured <= ceiling))
        {
            return configured;
        }

        int effective = (int)Math.Min(ceiling, int.MaxValue);
        if (configured > 0)
        {
            Lowered.Add((setting, configured, effective));
        }

        // An unset limit (0) gets the ceiling too: "no cap" cannot mean more than the descriptors allow.
        return effective;
    }

    /// <summary>Requests refused because a session cap was reached.</summary>
    public long RejectedSessions => Volatile.Read(ref _rejectedSessions);

    /// <summary>Unfinished handshakes closed to make room for newer clients.</summary>
    public long EvictedHandshakes => Volatile.Read(ref _evictedHandshakes);

    /// <summary>Counts a new handshake; <see langword="true"/> when that puts the server over its handshake cap.</summary>
    public bool EnterHandshake() => Interlocked.Increment(ref _handshakes) > _maxHandshakes && _maxHandshakes > 0;

    public void LeaveHandshake() => Interlocked.Decrement(ref _handshakes);

    public void CountEviction() => Interlocked.Increment(ref _evictedHandshakes);

    /// <summary>
    /// Takes a session slot for <paramref name="client"/> and <paramref name="user"/> (null when anonymous), and the
    /// descriptors the session will hold beyond its connection's (<paramref name="descriptors"/> in all); false, and
    /// nothing taken, at a cap or when the descriptor budget lacks them (then <paramref name="outOfDescriptors"/>).
    /// </summary>
    public bool TryAcquire(IPAddress client, string? user, int descriptors, out bool outOfDescriptors)
    {
        int extra = descriptors - DescriptorBudget.HandshakeDescriptors;
        outOfDescriptors = !Descriptors.TryTake(extra);
        if (outOfDescriptors)
        {
            return Reject();
        }

        if (!TryTake(ref _sessions, _maxSessions))
        {
            Descriptors.Give(extra);
            return Reject();
        }

        if (!TryTake(_perAddress, client, _options.MaxSessionsPerClientAddress))
        {
            Interlocked.Decrement(ref _sessions);
            Descriptors.Give(extra);
            return Reject();
        }

        if (user is not null && !TryTake(_perUser, user, _options.MaxSessionsPerUser))
        {
            Give(_perAddress, client, _options.MaxSessionsPerClientAddress);
            Interlocked.Decrement(ref _sessions);
            Descriptors.Give(extra);
            return Reject();
        }

        return true;
    }

    /// <summary>Gives back what <see cref="TryAcquire"/> took, once the session's descriptors are closed.</summary>
    public void Release(IPAddress client, string? user, int descriptors)
    {
        Descriptors.Give(descriptors - DescriptorBudget.HandshakeDescriptors);
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
