using System.Diagnostics;
using System.Diagnostics.Metrics;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;
using Sockeye.Server.Limits.Shared;
using Sockeye.Server.Sessions;

namespace Sockeye.Server.Diagnostics;

/// <summary>
/// The server's metrics, on a <see cref="System.Diagnostics.Metrics.Meter"/> named <see cref="MeterName"/>: what
/// <c>dotnet-counters</c>, OpenTelemetry or any <see cref="MeterListener"/> can collect. One per server.
/// </summary>
/// <remarks>
/// Everything is recorded once per session, when it ends, or read from counters the server keeps anyway, never per
/// packet or datagram; tags come from fixed tables, so recording allocates nothing. With no listener attached, a
/// recording is a check of a flag.
/// </remarks>
internal sealed class SockeyeMetrics : IDisposable
{
    /// <summary>The meter's name, to give to a collector.</summary>
    public const string MeterName = "Sockeye.Server";

    private static readonly string[] ReplyNames =
    [
        "succeeded", "general_failure", "not_allowed", "network_unreachable", "host_unreachable", "connection_refused",
        "ttl_expired", "command_not_supported", "address_type_not_supported",
    ];

    private readonly Counter<long> _sessions;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _handshakeDuration;
    private readonly Histogram<double> _connectDuration;
    private readonly Counter<long> _authentications;
    private readonly Counter<long> _ruleDenials;

    public SockeyeMetrics()
    {
        Meter = new Meter(MeterName, typeof(SockeyeMetrics).Assembly.GetName().Version?.ToString(3));
        _sessions = Meter.CreateCounter<long>("sockeye.sessions", "{session}",
            "Sessions that ended, by command, reply code and why they closed.");
        _duration = Meter.CreateHistogram<double>("sockeye.session.duration", "s",
            "How long sessions lasted, from accept to close, by command.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.01, 0.1, 1, 10, 60, 600, 3600] });
        _handshakeDuration = Meter.CreateHistogram<double>("sockeye.handshake.duration", "s",
            "From accept to a complete request: greeting, authentication and request, login checks included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.001, 0.01, 0.1, 1, 10] });
        _connectDuration = Meter.CreateHistogram<double>("sockeye.connect.duration", "s",
            "CONNECT's resolve and connect to the destination, by the reply it led to.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.001, 0.01, 0.1, 1, 10] });
        _authentications = Meter.CreateCounter<long>("sockeye.authentications", "{login}",
            "RFC 1929 and GSSAPI logins, by outcome: succeeded, failed, or refused unchecked because the address is banned.");
        _ruleDenials = Meter.CreateCounter<long>("sockeye.rule.denials", "{request}",
            "Access-rule denials, by the rule that denied: of a request, or of a destination checked after it (an address a name resolved to, a BIND peer, a UDP destination when first seen).");
    }

    /// <summary>Records how long a handshake took, once its request is complete.</summary>
    public void HandshakeCompleted(TimeSpan duration) => _handshakeDuration.Record(duration.TotalSeconds);

    /// <summary>Records how long a CONNECT's resolve and connect took, and the reply it led to.</summary>
    public void ConnectCompleted(TimeSpan duration, Socks5ReplyCode reply) =>
        _connectDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("sockeye.reply", ReplyName(reply)));

    /// <summary>Counts a login: <c>succeeded</c>, <c>failed</c> or <c>banned</c>.</summary>
    public void LoginConcluded(string outcome) => _authentications.Add(1, new KeyValuePair<string, object?>("sockeye.outcome", outcome));

    /// <summary>Counts a request denied by <paramref name="rule"/> (its name, or <c>rule N</c>; <c>none</c> when no rule matched).</summary>
    public void RuleDenied(string rule) => _ruleDenials.Add(1, new KeyValuePair<string, object?>("sockeye.rule", rule));

    /// <summary>Whether anyone collects rule denials: the rule's label is then worth making.</summary>
    public bool CountsRuleDenials => _ruleDenials.Enabled;

    /// <summary>The meter all of this server's instruments belong to.</summary>
    public Meter Meter { get; }

    /// <summary>
    /// Adds the instruments that read state the server keeps: relayed bytes, open sessions, refusals at limits,
    /// datagrams, loop faults; with <paramref name="perUser"/>, each user's sessions and bytes; with
    /// <paramref name="shared"/>, whether the per-user limits are shared now.
    /// </summary>
    public void Observe(SessionRegistry registry, SessionAccounting accounting, SessionLimiter limiter, UdpStatistics udp,
        Func<(long HandlerFaults, long FailedLoops)> eventLoopFaults, bool perUser, ISharedLimits? shared = null)
    {
        if (shared is not null)
        {
            // Only with limits.shared: a series of zeros from every instance that shares nothing would alarm no one usefully.
            Meter.CreateObservableGauge("sockeye.shared_limits.state", () => shared.IsShared ? 1 : 0, unit: null,
                "Whether the per-user limits are shared through Redis now (1), or this instance has fallen back to its own (0).");
        }

        Meter.CreateObservableCounter("sockeye.relay.bytes", () => RelayedBytes(accounting.RelayedBytes(registry)), "By",
            "Payload bytes relayed, live: by ended sessions, and so far by open ones (TCP tunnels, and UDP associations' datagram payloads), by direction (upload: client to destination) and command.");
        if (perUser)
        {
            Meter.CreateObservableCounter("sockeye.user.bytes", () => UserBytes(accounting.Users(registry)), "By",
                "Payload bytes relayed for each user, live, by direction (upload: client to destination).");
            Meter.CreateObservableCounter("sockeye.user.sessions", () => UserSessions(accounting.Users(registry)), "{session}",
                "Sessions of each user since start, open ones included.");
        }

        Meter.CreateObservableCounter("sockeye.eventloop.faults", () =>
        {
            (long handlerFaults, long failedLoops) = eventLoopFaults();
            return new[]
            {
                new Measurement<long>(handlerFaults, new KeyValuePair<string, object?>("sockeye.fault", "handler")),
                new Measurement<long>(failedLoops, new KeyValuePair<string, object?>("sockeye.fault", "loop")),
            };
        }, "{fault}", "Event-loop faults: a handler that threw (its socket's session closed), or a loop whose wait failed (every session on it closed).");
        Meter.CreateObservableUpDownCounter("sockeye.sessions.active", () => registry.Count, "{session}",
            "Sessions open now, negotiating or relaying.");
        Meter.CreateObservableCounter("sockeye.limit.rejections", () => new[]
        {
            new Measurement<long>(limiter.RejectedSessions, new KeyValuePair<string, object?>("sockeye.limit", "sessions")),
            new Measurement<long>(limiter.EvictedHandshakes, new KeyValuePair<string, object?>("sockeye.limit", "handshakes")),
            new Measurement<long>(limiter.RefusedConnections, new KeyValuePair<string, object?>("sockeye.limit", "descriptors")),
            new Measurement<long>(udp.PortRangeExhausted, new KeyValuePair<string, object?>("sockeye.limit", "udp_ports")),
        }, "{session}",
            "Requests refused at a session cap, handshakes evicted at the handshake cap, connections closed at accept for want of descriptors, and UDP associations refused with every port of udp.portRange taken.");
        Meter.CreateObservableCounter("sockeye.udp.datagrams", () => new[]
        {
            Datagrams(udp.ForwardedFromClients, "forwarded_to_destination"),
            Datagrams(udp.ForwardedToClients, "forwarded_to_client"),
            Datagrams(udp.DroppedForeignSource, "dropped_foreign_source"),
            Datagrams(udp.DroppedFragmented, "dropped_fragmented"),
            Datagrams(udp.DroppedMalformed, "dropped_malformed"),
            Datagrams(udp.DroppedUnroutable, "dropped_unroutable"),
            Datagrams(udp.DroppedDenied, "dropped_denied"),
            Datagrams(udp.DroppedOverRate, "dropped_over_rate"),
        }, "{datagram}", "UDP ASSOCIATE datagrams, by what the relay did with them.");
    }

    /// <summary>
    /// Records a session that ended. <paramref name="protocol"/> is the one its client spoke (None before its first byte);
    /// <paramref name="command"/> is null for one that never made a request.
    /// </summary>
    public void SessionEnded(ListenerProtocols protocol, Socks5Command? command, Socks5ReplyCode reply, SessionCloseReason closeReason, TimeSpan duration)
    {
        if (!_sessions.Enabled && !_duration.Enabled)
        {
            return;
        }

        string commandName = CommandName(command);
        var commandTag = new KeyValuePair<string, object?>("sockeye.command", commandName);
        _sessions.Add(1, new TagList
        {
            commandTag,
            { "sockeye.reply", command is null ? "none" : ReplyName(reply) },
            { "sockeye.close_reason", CloseReasonNames[(int)closeReason] },
            { "sockeye.protocol", ProtocolName(protocol) },
        });
        _duration.Record(duration.TotalSeconds, commandTag);
    }

    /// <summary>
    /// The bytes relayed since start (<see cref="SessionAccounting.RelayedBytes"/>): the ended sessions' totals, and what
    /// each open session has relayed so far. A two-hour download shows as it goes.
    /// </summary>
    private static List<Measurement<long>> RelayedBytes(long[] totals)
    {
        var measurements = new List<Measurement<long>>(totals.Length);
        for (int command = 0; command < CommandNames.Length; command++)
        {
            var commandTag = new KeyValuePair<string, object?>("sockeye.command", CommandNames[command]);
            for (int direction = 0; direction < 2; direction++)
            {
                long value = totals[(command * 2) + direction];
                if (value != 0)
                {
                    measurements.Add(new Measurement<long>(value, commandTag,
                        new KeyValuePair<string, object?>("sockeye.direction", direction == 0 ? "upload" : "download")));
                }
            }
        }

        return measurements;
    }

    private static List<Measurement<long>> UserBytes(List<Status.UserActivity> users)
    {
        var measurements = new List<Measurement<long>>(users.Count * 2);
        foreach (Status.UserActivity user in users)
        {
            var userTag = new KeyValuePair<string, object?>("sockeye.user", user.Name);
            measurements.Add(new Measurement<long>(user.BytesUp, userTag, new KeyValuePair<string, object?>("sockeye.direction", "upload")));
            measurements.Add(new Measurement<long>(user.BytesDown, userTag, new KeyValuePair<string, object?>("sockeye.direction", "download")));
        }

        return measurements;
    }

    private static List<Measurement<long>> UserSessions(List<Status.UserActivity> users)
    {
        var measurements = new List<Measurement<long>>(users.Count);
        foreach (Status.UserActivity user in users)
        {
            measurements.Add(new Measurement<long>(user.Sessions, new KeyValuePair<string, object?>("sockeye.user", user.Name)));
        }

        return measurements;
    }

    public void Dispose() => Meter.Dispose();

    private static Measurement<long> Datagrams(long count, string outcome) =>
        new(count, new KeyValuePair<string, object?>("sockeye.outcome", outcome));

    private static readonly string[] CommandNames = SessionAccounting.CommandNames;

    private static string CommandName(Socks5Command? command) => CommandNames[CommandIndex(command)];

    private static int CommandIndex(Socks5Command? command) => SessionAccounting.CommandIndex(command);

    private static string ReplyName(Socks5ReplyCode reply) => (int)reply < ReplyNames.Length ? ReplyNames[(int)reply] : "other";

    private static string ProtocolName(ListenerProtocols protocol) => protocol switch
    {
        ListenerProtocols.Socks5 => "socks5",
        ListenerProtocols.Socks4 => "socks4",
        ListenerProtocols.Http => "http",
        _ => "none",
    };

    // snake_case of each SessionCloseReason, by value: tag values from a table, not from Enum.ToString() per session.
    private static readonly string[] CloseReasonNames = BuildCloseReasonNames();

    private static string[] BuildCloseReasonNames()
    {
        SessionCloseReason[] reasons = Enum.GetValues<SessionCloseReason>();
        var names = new string[reasons.Length];
        foreach (SessionCloseReason reason in reasons)
        {
            Debug.Assert((int)reason < names.Length);
            names[(int)reason] = SnakeCase(reason.ToString());
        }

        return names;
    }

    private static string SnakeCase(string name)
    {
        var text = new System.Text.StringBuilder(name.Length + 4);
        foreach (char c in name)
        {
            if (char.IsUpper(c) && text.Length > 0)
            {
                text.Append('_');
            }

            text.Append(char.ToLowerInvariant(c));
        }

        return text.ToString();
    }
}
