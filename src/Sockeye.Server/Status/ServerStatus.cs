namespace Sockeye.Server.Status;

/// <summary>What a server is doing now, for a status page or an operator's script (<see cref="SockeyeServer.GetStatus"/>).</summary>
/// <param name="Time">When the snapshot was taken.</param>
/// <param name="StartedAt">When the server started; null before it has.</param>
/// <param name="Ready">Whether every listener accepts and the server is not draining (what <c>/readyz</c> answers).</param>
/// <param name="Draining">Whether the server is stopping: it accepts nothing new and waits for open tunnels.</param>
/// <param name="Listeners">The listeners, and whether each accepts.</param>
/// <param name="ActiveSessions">Sessions open now, in any phase.</param>
/// <param name="Sessions">Open sessions by command and phase; groups with none are left out.</param>
/// <param name="BytesUp">Payload relayed toward destinations since start, open sessions' bytes so far included.</param>
/// <param name="BytesDown">Payload relayed toward clients since start, likewise.</param>
/// <param name="Users">Each user who has logged in since start: sessions and bytes, most bytes first.</param>
/// <param name="TopClients">The busiest client addresses over the open sessions and those that ended in the last ten minutes.</param>
/// <param name="OtherClients">What the clients beyond the per-minute bound of the client table did, added up.</param>
/// <param name="Throughput">Throughput every ten seconds over the last ten minutes, oldest first.</param>
/// <param name="RefusalCount">Refusals since start.</param>
/// <param name="RecentRefusals">The last refusals, newest first.</param>
/// <param name="SharedLimits">
/// The per-user limits across instances (<c>limits.shared</c>): <c>off</c>, <c>shared</c>, or <c>local fallback: </c>
/// and why (Redis unreachable or slow: this instance enforces its own limits until Redis answers again).
/// </param>
public sealed record ServerStatus(
    DateTimeOffset Time,
    DateTimeOffset? StartedAt,
    bool Ready,
    bool Draining,
    IReadOnlyList<ListenerStatus> Listeners,
    int ActiveSessions,
    IReadOnlyList<SessionGroup> Sessions,
    long BytesUp,
    long BytesDown,
    IReadOnlyList<UserActivity> Users,
    IReadOnlyList<ClientActivity> TopClients,
    ClientActivity OtherClients,
    IReadOnlyList<ThroughputSample> Throughput,
    long RefusalCount,
    IReadOnlyList<Refusal> RecentRefusals,
    string SharedLimits = "off");

/// <summary>One listener.</summary>
/// <param name="EndPoint">The address and port it is bound to, as <c>HOST:PORT</c> or <c>[IPv6]:PORT</c>.</param>
/// <param name="Accepting">Whether it accepts clients.</param>
public sealed record ListenerStatus(string EndPoint, bool Accepting);

/// <summary>Open sessions with one command in one phase.</summary>
/// <param name="Command"><c>connect</c>, <c>bind</c>, <c>udp_associate</c>, or <c>none</c> before the request.</param>
/// <param name="Phase"><c>greeting</c>, <c>authentication</c>, <c>request</c>, <c>connecting</c>, <c>awaiting_peer</c>, <c>relaying</c>, <c>proxy_header</c> (a PROXY protocol listener waiting for the balancer's header), or <c>gssapi</c> (RFC 1961 context and protection level).</param>
/// <param name="Count">How many.</param>
public sealed record SessionGroup(string Command, string Phase, int Count);

/// <summary>One user's sessions and bytes since start.</summary>
/// <param name="Name">The user name.</param>
/// <param name="Sessions">Sessions since start, open ones included.</param>
/// <param name="Active">Sessions open now.</param>
/// <param name="BytesUp">Payload relayed toward destinations.</param>
/// <param name="BytesDown">Payload relayed toward the user.</param>
public sealed record UserActivity(string Name, long Sessions, long Active, long BytesUp, long BytesDown)
{
    /// <summary>Bytes both ways.</summary>
    public long TotalBytes => BytesUp + BytesDown;
}

/// <summary>One client address's sessions and bytes: its open sessions and those that ended in the last ten minutes.</summary>
/// <param name="Address">The client's IP address, or <c>others</c> for the clients beyond the table's bound.</param>
/// <param name="Sessions">Sessions, open ones included.</param>
/// <param name="Active">Sessions open now.</param>
/// <param name="BytesUp">Payload relayed toward destinations.</param>
/// <param name="BytesDown">Payload relayed toward the client.</param>
public sealed record ClientActivity(string Address, long Sessions, long Active, long BytesUp, long BytesDown)
{
    /// <summary>Bytes both ways.</summary>
    public long TotalBytes => BytesUp + BytesDown;
}

/// <summary>Throughput over one sampling interval.</summary>
/// <param name="Time">The end of the interval.</param>
/// <param name="UpBytesPerSecond">Payload toward destinations, per second.</param>
/// <param name="DownBytesPerSecond">Payload toward clients, per second.</param>
/// <param name="ActiveSessions">Sessions open at the end of the interval.</param>
public sealed record ThroughputSample(DateTimeOffset Time, long UpBytesPerSecond, long DownBytesPerSecond, int ActiveSessions);

/// <summary>A client the server turned away.</summary>
/// <param name="Time">When.</param>
/// <param name="Kind">Why, broadly.</param>
/// <param name="Client">The client's IP address.</param>
/// <param name="User">The user name it gave, when it gave one (escaped for display).</param>
/// <param name="Detail">Why, precisely: the rule, the limit, the method offered, what was malformed.</param>
public sealed record Refusal(DateTimeOffset Time, RefusalKind Kind, string? Client, string? User, string Detail);

/// <summary>Why a client was turned away.</summary>
public enum RefusalKind
{
    /// <summary>An access rule denied the request or its destination.</summary>
    Rule,

    /// <summary>A session cap (total, per client address, per user) or the descriptor budget was reached.</summary>
    Limit,

    /// <summary>A login failed.</summary>
    Authentication,

    /// <summary>The client's address is banned after too many failed logins.</summary>
    Ban,

    /// <summary>The client offered no method the server accepts.</summary>
    Method,

    /// <summary>The client sent something that is not SOCKS5 (another protocol, or malformed bytes).</summary>
    Protocol,
}
