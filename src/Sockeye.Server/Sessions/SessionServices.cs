using Microsoft.Extensions.Logging;
using Sockeye.Server.Authentication;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Limits;
using Sockeye.Server.Transport;
using Sockeye.Server.Rules;

namespace Sockeye.Server.Sessions;

/// <summary>What every session of one server shares: options, accounts, the CONNECT command, clocks and loggers.</summary>
internal sealed class SessionServices
{
    private readonly ILogger _serverLogger;
    private readonly LogGate _descriptorsExhausted;
    private SessionAccess _access;

    // hostAddresses: the host's own addresses, for the built-in rules; the server keeps them current. descriptors: what
    // sessions may hold of the process's open-file limit.
    public SessionServices(SockeyeServerOptions options, UserDirectory users, IHostResolver resolver, TimeProvider timeProvider, ILoggerFactory loggerFactory,
        HostAddresses hostAddresses, DescriptorBudget descriptors)
    {
        Options = options;
        Engine = TransportEngine.Create(options, descriptors, timeProvider, loggerFactory);
        Dns = new DnsCache(resolver, options.DnsCacheTtl, timeProvider);
        Connect = new ConnectCommand(Engine, Dns, options.ConnectTimeout, options.Outbound, timeProvider, descriptors);
        Bind = new BindCommand(Engine, options.Bind, Dns, timeProvider);
        Limiter = new SessionLimiter(options.Limits, descriptors);
        _access = new SessionAccess(users, new AccessPolicy(options.GetEffectiveRules(hostAddresses)));
        Bandwidth = new BandwidthLimiter(options.Limits, timeProvider);
        Throttle = new LoginThrottle(options.Authentication, timeProvider);
        TimeProvider = timeProvider;
        Accounting = new SessionAccounting(timeProvider);
        _serverLogger = loggerFactory.CreateLogger("Sockeye.Server");
        _descriptorsExhausted = new LogGate(timeProvider, LogGate.DefaultInterval);
        SessionLogger = loggerFactory.CreateLogger("Sockeye.Session");
        Notices = new ClientNotices(SessionLogger, timeProvider);
        AccessLogger = loggerFactory.CreateLogger(Diagnostics.AccessLog.Category);
    }

    public SockeyeServerOptions Options { get; }

    /// <summary>
    /// The accounts and access rules a session starting now works with. A reload replaces the pair as a whole; a session
    /// keeps the pair it started with, so that it never negotiates under one set and is checked against another.
    /// </summary>
    public SessionAccess Access => Volatile.Read(ref _access);

    public ConnectCommand Connect { get; }

    public BindCommand Bind { get; }

    /// <summary>Resolved destination names, shared by every CONNECT and UDP association of the server.</summary>
    public DnsCache Dns { get; }

    public UdpStatistics UdpStatistics { get; } = new();

    /// <summary>The server's instruments (meter <c>Sockeye.Server</c>).</summary>
    public SockeyeMetrics Metrics { get; } = new();

    /// <summary>Bytes by command, user and client, and the recent refusals: what the metrics and the status report read.</summary>
    public SessionAccounting Accounting { get; }

    public SessionLimiter Limiter { get; }

    /// <summary>Puts new accounts and rules in force for sessions that start from now on.</summary>
    public void ReplaceAccess(SessionAccess access) => Volatile.Write(ref _access, access);
    /// <summary>Per-session and per-user rate limits; the per-user buckets are shared by every session of the server.</summary>
    public BandwidthLimiter Bandwidth { get; }

    /// <summary>Failed logins per client address, shared by every session of the server.</summary>
    public LoginThrottle Throttle { get; }

    /// <summary>The engine under every session's sockets.</summary>
    public TransportEngine Engine { get; }

    public TimeProvider TimeProvider { get; }

    /// <summary>Logs that the descriptor budget refused a connection or a request: once per interval, with the count.</summary>
    public void ReportDescriptorsExhausted()
    {
        if (_descriptorsExhausted.TryReport(out long refused))
        {
            ServerLog.DescriptorsExhausted(_serverLogger, Limiter.Descriptors.InUse, Limiter.Descriptors.Capacity, refused);
        }
    }

    public ILogger SessionLogger { get; }

    /// <summary>Which turned-away handshakes are told at Information: the first from each address per minute.</summary>
    public ClientNotices Notices { get; }

    public ILogger AccessLogger { get; }
}

/// <summary>Accounts and access rules that are in force together (see <see cref="SessionServices.Access"/>).</summary>
/// <param name="Users">The accounts; none means clients connect without authentication.</param>
/// <param name="Policy">The access rules in force: the configured ones, or the built-in default.</param>
internal sealed record SessionAccess(UserDirectory Users, AccessPolicy Policy);
