using System.Net;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Sessions;
using Sockeye.Server.Status;

namespace Sockeye.Server.Diagnostics;

/// <summary>
/// What the server has relayed, for whom and for which client, and what it turned away: the totals behind
/// <c>sockeye.relay.bytes</c>, the per-user counters and the status page. Everything is recorded once per session, when
/// it ends (or, for a refusal, when it is refused), never per read; a reading adds what each open session has relayed
/// so far from the counters its relay keeps anyway.
/// </summary>
/// <remarks>
/// <para>
/// A session's bytes move from the live reading into the ended totals under <see cref="_lock"/>, and a reading takes the
/// same lock, so no byte is counted twice or dropped between the two and no total ever goes back.
/// </para>
/// <para>
/// Every table is bounded whatever clients do. Users are the configured accounts (a name is recorded only once it has
/// logged in). Client addresses are kept per minute for <see cref="ClientWindow"/>, at most <see cref="MaxClientsPerMinute"/>
/// a minute, the rest added up as "others". Refusals are a ring of the last <see cref="MaxRefusals"/>, and throughput a
/// ring of <see cref="ThroughputSamples"/> samples.
/// </para>
/// </remarks>
internal sealed class SessionAccounting : IDisposable
{
    /// <summary>How far back the top clients look (ended sessions; open ones always count).</summary>
    public static readonly TimeSpan ClientWindow = TimeSpan.FromMinutes(10);

    /// <summary>Client addresses recorded per minute; the sessions of any beyond them are counted as "others".</summary>
    public const int MaxClientsPerMinute = 1024;

    /// <summary>Refusals remembered for the status page.</summary>
    public const int MaxRefusals = 64;

    /// <summary>How often the throughput is sampled.</summary>
    public static readonly TimeSpan ThroughputInterval = TimeSpan.FromSeconds(10);

    /// <summary>Samples kept: ten minutes' worth.</summary>
    public const int ThroughputSamples = 60;

    private const int ClientMinutes = 10;

    private readonly TimeProvider _timeProvider;
    private readonly Lock _lock = new();

    // Relayed bytes of ended sessions, by command (CommandIndex) and direction (upload at even indices).
    private readonly long[] _endedBytes = new long[CommandNames.Length * 2];
    private readonly Dictionary<string, UserTotals> _users = new(StringComparer.Ordinal);
    private readonly ClientMinute[] _clientMinutes = new ClientMinute[ClientMinutes];

    private readonly Lock _refusalsLock = new();
    private readonly RefusalRecord[] _refusals = new RefusalRecord[MaxRefusals];
    private long _refusalCount;

    private readonly Lock _throughputLock = new();
    private readonly ThroughputSample[] _throughput = new ThroughputSample[ThroughputSamples];
    private long _throughputCount;
    private (long Up, long Down) _lastTotals;
    private ITimer? _sampler;

    public SessionAccounting(TimeProvider timeProvider)
    {
        _timeProvider = timeProvider;
        for (int i = 0; i < _clientMinutes.Length; i++)
        {
            _clientMinutes[i] = new ClientMinute();
        }
    }

    /// <summary>Starts sampling the throughput of <paramref name="registry"/>'s sessions every <see cref="ThroughputInterval"/>.</summary>
    public void StartSampling(SessionRegistry registry)
    {
        _sampler ??= _timeProvider.CreateTimer(static state =>
        {
            var (accounting, sessions) = ((SessionAccounting, SessionRegistry))state!;
            accounting.Sample(sessions);
        }, (this, registry), ThroughputInterval, ThroughputInterval);
    }

    /// <summary>Moves an ended session's bytes into the totals: its command's, its user's and its client's.</summary>
    public void SessionEnded(Socks5Command? command, ProxySession session)
    {
        long up = session.BytesUp;
        long down = session.BytesDown;
        string? user = session.UserName;
        IPAddress? client = session.ClientAddressOrNull;
        long minute = CurrentMinute();
        lock (_lock)
        {
            if (up != 0 || down != 0)
            {
                int index = CommandIndex(command) * 2;
                _endedBytes[index] += up;
                _endedBytes[index + 1] += down;
            }

            session.BytesAccounted = true;
            if (user is not null)
            {
                if (!_users.TryGetValue(user, out UserTotals? totals))
                {
                    totals = new UserTotals();
                    _users.Add(user, totals);
                }

                totals.Sessions++;
                totals.BytesUp += up;
                totals.BytesDown += down;
            }

            if (client is not null)
            {
                ClientMinute bucket = _clientMinutes[minute % ClientMinutes];
                if (bucket.Minute != minute)
                {
                    bucket.Reset(minute);
                }

                bucket.Add(client, up, down);
            }
        }
    }

    /// <summary>Remembers a refusal for the status page (the last <see cref="MaxRefusals"/> are kept).</summary>
    public void Refused(RefusalKind kind, IPAddress? client, string? user, string detail)
    {
        var record = new RefusalRecord(_timeProvider.GetUtcNow(), kind, client, user, detail);
        lock (_refusalsLock)
        {
            _refusals[_refusalCount % MaxRefusals] = record;
            _refusalCount++;
        }
    }

    /// <summary>
    /// The relayed bytes since start by command and direction (upload at even indices, <see cref="CommandIndex"/>):
    /// ended sessions plus what each open one has relayed so far.
    /// </summary>
    public long[] RelayedBytes(SessionRegistry registry)
    {
        long[] totals = new long[_endedBytes.Length];
        lock (_lock)
        {
            _endedBytes.CopyTo(totals, 0);
            foreach (ProxySession session in registry.Sessions)
            {
                long up = session.BytesUp;
                long down = session.BytesDown;
                if ((up != 0 || down != 0) && !session.BytesAccounted)
                {
                    int index = CommandIndex(session.RelayingCommand) * 2;
                    totals[index] += up;
                    totals[index + 1] += down;
                }
            }
        }

        return totals;
    }

    /// <summary>Each user's sessions (ended and open) and bytes each way since start, open sessions' bytes so far included.</summary>
    public List<UserActivity> Users(SessionRegistry registry)
    {
        var live = new Dictionary<string, UserTotals>(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (KeyValuePair<string, UserTotals> entry in _users)
            {
                live[entry.Key] = entry.Value.Copy();
            }

            foreach (ProxySession session in registry.Sessions)
            {
                if (session.BytesAccounted || session.UserName is not { } user)
                {
                    continue;
                }

                if (!live.TryGetValue(user, out UserTotals? totals))
                {
                    totals = new UserTotals();
                    live.Add(user, totals);
                }

                totals.Active++;
                totals.BytesUp += session.BytesUp;
                totals.BytesDown += session.BytesDown;
            }
        }

        var users = new List<UserActivity>(live.Count);
        foreach (KeyValuePair<string, UserTotals> entry in live)
        {
            UserTotals totals = entry.Value;
            users.Add(new UserActivity(entry.Key, totals.Sessions + totals.Active, totals.Active, totals.BytesUp, totals.BytesDown));
        }

        users.Sort(static (a, b) => b.TotalBytes.CompareTo(a.TotalBytes) is int byBytes and not 0 ? byBytes : string.CompareOrdinal(a.Name, b.Name));
        return users;
    }

    /// <summary>
    /// The clients of the open sessions and of the sessions that ended in the last <see cref="ClientWindow"/>, most
    /// bytes first, at most <paramref name="count"/>; and the sessions and bytes of the clients left out as "others" by
    /// the per-minute bound.
    /// </summary>
    public (List<ClientActivity> Top, ClientActivity Others) Clients(SessionRegistry registry, int count)
    {
        long minute = CurrentMinute();
        var clients = new Dictionary<IPAddress, ClientTotals>();
        var others = new ClientTotals();
        lock (_lock)
        {
            foreach (ClientMinute bucket in _clientMinutes)
            {
                if (bucket.Minute > minute - ClientMinutes && bucket.Minute <= minute)
                {
                    bucket.AddTo(clients, ref others);
                }
            }

            foreach (ProxySession session in registry.Sessions)
            {
                if (session.BytesAccounted || session.ClientAddressOrNull is not { } address)
                {
                    continue;
                }

                ref ClientTotals totals = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(clients, address, out _);
                totals.Sessions++;
                totals.Active++;
                totals.BytesUp += session.BytesUp;
                totals.BytesDown += session.BytesDown;
            }
        }

        var top = new List<ClientActivity>(clients.Count);
        foreach (KeyValuePair<IPAddress, ClientTotals> entry in clients)
        {
            ClientTotals totals = entry.Value;
            top.Add(new ClientActivity(entry.Key.ToString(), totals.Sessions, totals.Active, totals.BytesUp, totals.BytesDown));
        }

        top.Sort(static (a, b) => b.TotalBytes.CompareTo(a.TotalBytes) is int byBytes and not 0 ? byBytes : b.Sessions.CompareTo(a.Sessions));
        if (top.Count > count)
        {
            top.RemoveRange(count, top.Count - count);
        }

        return (top, new ClientActivity("others", others.Sessions, 0, others.BytesUp, others.BytesDown));
    }

    /// <summary>The last refusals, newest first.</summary>
    public List<Refusal> RecentRefusals()
    {
        var refusals = new List<Refusal>(MaxRefusals);
        lock (_refusalsLock)
        {
            long first = Math.Max(0, _refusalCount - MaxRefusals);
            for (long i = _refusalCount - 1; i >= first; i--)
            {
                RefusalRecord record = _refusals[i % MaxRefusals];
                refusals.Add(new Refusal(record.Time, record.Kind, record.Client?.ToString(), record.User, record.Detail));
            }
        }

        return refusals;
    }

    /// <summary>Refusals since start.</summary>
    public long RefusalCount
    {
        get
        {
            lock (_refusalsLock)
            {
                return _refusalCount;
            }
        }
    }

    /// <summary>The throughput samples of the last ten minutes, oldest first.</summary>
    public List<ThroughputSample> Throughput()
    {
        lock (_throughputLock)
        {
            var samples = new List<ThroughputSample>(ThroughputSamples);
            for (long i = Math.Max(0, _throughputCount - ThroughputSamples); i < _throughputCount; i++)
            {
                samples.Add(_throughput[i % ThroughputSamples]);
            }

            return samples;
        }
    }

    /// <summary>Takes one throughput sample now (the timer's work; tests call it with a fake clock).</summary>
    internal void Sample(SessionRegistry registry)
    {
        long[] totals = RelayedBytes(registry);
        long up = 0;
        long down = 0;
        for (int i = 0; i < totals.Length; i += 2)
        {
            up += totals[i];
            down += totals[i + 1];
        }

        lock (_throughputLock)
        {
            // The first sample has nothing before it: it covers the bytes since start.
            double seconds = ThroughputInterval.TotalSeconds;
            var sample = new ThroughputSample(_timeProvider.GetUtcNow(), (long)((up - _lastTotals.Up) / seconds), (long)((down - _lastTotals.Down) / seconds), registry.Count);
            _lastTotals = (up, down);
            _throughput[_throughputCount % ThroughputSamples] = sample;
            _throughputCount++;
        }
    }

    public void Dispose() => _sampler?.Dispose();

    /// <summary>The commands' names in metrics and status reports, by <see cref="CommandIndex"/>.</summary>
    public static readonly string[] CommandNames = ["none", "connect", "bind", "udp_associate", "other"];

    /// <summary>The index of a command in the tables: none, connect, bind, udp_associate, other.</summary>
    public static int CommandIndex(Socks5Command? command) => command switch
    {
        null => 0,
        Socks5Command.Connect => 1,
        Socks5Command.Bind => 2,
        Socks5Command.UdpAssociate => 3,
        _ => 4,
    };

    private long CurrentMinute() => _timeProvider.GetUtcNow().ToUnixTimeSeconds() / 60;

    private sealed class UserTotals
    {
        public long Sessions;
        public long Active;
        public long BytesUp;
        public long BytesDown;

        public UserTotals Copy() => (UserTotals)MemberwiseClone();
    }

    private struct ClientTotals
    {
        public long Sessions;
        public long Active;
        public long BytesUp;
        public long BytesDown;
    }

    /// <summary>One minute's ended sessions by client address, bounded.</summary>
    private sealed class ClientMinute
    {
        private readonly Dictionary<IPAddress, ClientTotals> _clients = [];
        private ClientTotals _others;

        public long Minute { get; private set; } = -1;

        public void Reset(long minute)
        {
            Minute = minute;
            _clients.Clear();
            _others = default;
        }

        public void Add(IPAddress client, long up, long down)
        {
            if (_clients.Count >= MaxClientsPerMinute && !_clients.ContainsKey(client))
            {
                _others.Sessions++;
                _others.BytesUp += up;
                _others.BytesDown += down;
                return;
            }

            ref ClientTotals totals = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_clients, client, out _);
            totals.Sessions++;
            totals.BytesUp += up;
            totals.BytesDown += down;
        }

        public void AddTo(Dictionary<IPAddress, ClientTotals> clients, ref ClientTotals others)
        {
            foreach (KeyValuePair<IPAddress, ClientTotals> entry in _clients)
            {
                ref ClientTotals totals = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(clients, entry.Key, out _);
                totals.Sessions += entry.Value.Sessions;
                totals.BytesUp += entry.Value.BytesUp;
                totals.BytesDown += entry.Value.BytesDown;
            }

            others.Sessions += _others.Sessions;
            others.BytesUp += _others.BytesUp;
            others.BytesDown += _others.BytesDown;
        }
    }

    private readonly record struct RefusalRecord(DateTimeOffset Time, RefusalKind Kind, IPAddress? Client, string? User, string Detail);
}
