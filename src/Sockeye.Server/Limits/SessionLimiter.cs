using System.Collections.Concurrent;
using System.Net;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Limits;

/// <summary>
/// Counts open sessions globally, per client address and per user, against <see cref="LimitsOptions"/>, and the
/// descriptors they hold against the <see cref="DescriptorBudget"/>. A connection takes one descriptor when accepted; a
/// session takes its slots and the rest of its descriptors once its request is known, and gives them back when it ends.
/// </summary>
/// <remarks>
/// The caps can change while sessions are open (<see cref="Reconfigure"/>, on a reload); the counts cannot, so every
/// session is counted per address and per user whether or not a cap applies. A cap set by a reload then finds the
/// sessions already open counted, and a session releases exactly what it took whatever the caps are by then.
/// </remarks>
internal sealed class SessionLimiter
{
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private readonly ConcurrentDictionary<string, int> _perUser = new(StringComparer.Ordinal);
    private Caps _caps;
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
        Descriptors = descriptors;
        _caps = Caps.For(options, descriptors);
    }

    /// <summary>The descriptors sessions may hold, and how many they hold now.</summary>
    public DescriptorBudget Descriptors { get; }

    /// <summary>Configured limits lowered to what the open-file limit allows: the setting, its value, and the value in force.</summary>
    public IReadOnlyList<(string Setting, int Configured, int Effective)> Lowered => Volatile.Read(ref _caps).Lowered;

    /// <summary>Handshakes in progress at once (0: no cap).</summary>
    public int MaxHandshakes => Volatile.Read(ref _caps).MaxHandshakes;

    /// <summary>Sessions at once (0: no cap).</summary>
    public int MaxSessions => Volatile.Read(ref _caps).MaxSessions;

    /// <summary>Sessions one user may hold at once (0: no cap); with shared limits, on all instances together.</summary>
    public int MaxSessionsPerUser => Volatile.Read(ref _caps).MaxSessionsPerUser;

    /// <summary>
    /// Puts the caps of <paramref name="options"/> in force for every admission from now on, lowered to the descriptor
    /// budget as at creation. The counts stay: sessions already over a lowered cap are not closed, but no new one is
    /// admitted until enough of them have ended.
    /// </summary>
    public void Reconfigure(LimitsOptions options) => Volatile.Write(ref _caps, Caps.For(options, Descriptors));

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

    /// <summary>Requests refused because a session cap was reached.</summary>
    public long RejectedSessions => Volatile.Read(ref _rejectedSessions);

    /// <summary>Unfinished handshakes closed to make room for newer clients.</summary>
    public long EvictedHandshakes => Volatile.Read(ref _evictedHandshakes);

    /// <summary>Counts a new handshake; <see langword="true"/> when that puts the server over its handshake cap.</summary>
    public bool EnterHandshake()
    {
        int cap = Volatile.Read(ref _caps).MaxHandshakes;
        return Interlocked.Increment(ref _handshakes) > cap && cap > 0;
    }

    public void LeaveHandshake() => Interlocked.Decrement(ref _handshakes);

    public void CountEviction() => Interlocked.Increment(ref _evictedHandshakes);

    /// <summary>Counts a request refused at a cap counted elsewhere (the per-user cap across instances).</summary>
    public void CountRejection() => Interlocked.Increment(ref _rejectedSessions);

    /// <summary>
    /// Takes a session slot for <paramref name="client"/> and <paramref name="user"/> (null when anonymous), and the
    /// descriptors the session will hold beyond its connection's (<paramref name="descriptors"/> in all); false, and
    /// nothing taken, at a cap or when the descriptor budget lacks them (then <paramref name="outOfDescriptors"/>).
    /// </summary>
    public bool TryAcquire(IPAddress client, string? user, int descriptors, out bool outOfDescriptors)
    {
        Caps caps = Volatile.Read(ref _caps);
        int extra = descriptors - DescriptorBudget.HandshakeDescriptors;
        outOfDescriptors = !Descriptors.TryTake(extra);
        if (outOfDescriptors)
        {
            return Reject();
        }

        if (!TryTake(ref _sessions, caps.MaxSessions))
        {
            Descriptors.Give(extra);
            return Reject();
        }

        if (!TryTake(_perAddress, client, caps.MaxSessionsPerClientAddress))
        {
            Interlocked.Decrement(ref _sessions);
            Descriptors.Give(extra);
            return Reject();
        }

        if (user is not null && !TryTake(_perUser, user, caps.MaxSessionsPerUser))
        {
            Give(_perAddress, client);
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
        Give(_perAddress, client);
        if (user is not null)
        {
            Give(_perUser, user);
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
        while (true)
        {
            int current = counters.GetOrAdd(key, 0);
            if (cap > 0 && current >= cap)
            {
                return false;
            }

            if (counters.TryUpdate(key, current + 1, current))
            {
                return true;
            }
        }
    }

    private static void Give<TKey>(ConcurrentDictionary<TKey, int> counters, TKey key)
        where TKey : notnull
    {
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

    /// <summary>The caps in force, replaced as a whole so that one admission never mixes two configurations.</summary>
    private sealed class Caps
    {
        private Caps(int maxHandshakes, int maxSessions, int maxSessionsPerClientAddress, int maxSessionsPerUser,
            List<(string Setting, int Configured, int Effective)> lowered)
        {
            MaxHandshakes = maxHandshakes;
            MaxSessions = maxSessions;
            MaxSessionsPerClientAddress = maxSessionsPerClientAddress;
            MaxSessionsPerUser = maxSessionsPerUser;
            Lowered = lowered;
        }

        public int MaxHandshakes { get; }

        public int MaxSessions { get; }

        public int MaxSessionsPerClientAddress { get; }

        public int MaxSessionsPerUser { get; }

        public List<(string Setting, int Configured, int Effective)> Lowered { get; }

        /// <summary>
        /// The caps of <paramref name="options"/>, sessions and handshakes at the lower of the configured limit and what
        /// <paramref name="descriptors"/> has room for: a configured limit the descriptors cannot honour is lowered (and
        /// listed in <see cref="Lowered"/>), not trusted.
        /// </summary>
        public static Caps For(LimitsOptions options, DescriptorBudget descriptors)
        {
            var lowered = new List<(string Setting, int Configured, int Effective)>();
            int maxHandshakes = Lower(nameof(LimitsOptions.MaxHandshakes), options.MaxHandshakes, descriptors.HandshakeCeiling, lowered);
            int maxSessions = Lower(nameof(LimitsOptions.MaxSessions), options.MaxSessions, descriptors.TunnelCeiling, lowered);
            return new Caps(maxHandshakes, maxSessions, options.MaxSessionsPerClientAddress, options.MaxSessionsPerUser, lowered);
        }

        private static int Lower(string setting, int configured, long ceiling, List<(string Setting, int Configured, int Effective)> lowered)
        {
            if (ceiling == long.MaxValue || (configured > 0 && configured <= ceiling))
            {
                return configured;
            }

            int effective = (int)Math.Min(ceiling, int.MaxValue);
            if (configured > 0)
            {
                lowered.Add((setting, configured, effective));
            }

            // An unset limit (0) gets the ceiling too: "no cap" cannot mean more than the descriptors allow.
            return effective;
        }
    }
}
