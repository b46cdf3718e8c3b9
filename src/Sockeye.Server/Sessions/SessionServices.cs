using Microsoft.Extensions.Logging;
using Sockeye.Server.Authentication;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Limits;
using Sockeye.Server.Limits.Shared;
using Sockeye.Server.Transport;
using Sockeye.Server.Rules;

namespace Sockeye.Server.Sessions;

/// <summary>
/// What every session of one server shares: the settings in force, the engine, the limits, the login throttle, clocks
/// and loggers.
/// </summary>
internal sealed class SessionServices
{
    private readonly ILogger _serverLogger;
    private readonly LogGate _descriptorsExhausted;
    private readonly DescriptorBudget _descriptors;

    // An engine may size buffers for it when it starts (the event loops' UDP buffers do): a restart-only setting.
    private readonly int _maxDatagramBytes;
    private SessionSettings _settings;

    // hostAddresses: the host's own addresses, for the built-in rules; the server keeps them current. descriptors: what
    // sessions may hold of the process's open-file limit.
    public SessionServices(SockeyeServerOptions options, UserDirectory users, IHostResolver resolver, TimeProvider timeProvider, ILoggerFactory loggerFactory,
        HostAddresses hostAddresses, DescriptorBudget descriptors)
    {
        _descriptors = descriptors;
        _maxDatagramBytes = options.Udp.MaxDatagramBytes;
        TimeProvider = timeProvider;
        Engine = TransportEngine.Create(options, descriptors, timeProvider, loggerFactory);
        Dns = new DnsCache(resolver, options.DnsCacheTtl, timeProvider);
        Limiter = new SessionLimiter(options.Limits, descriptors);
        _serverLogger = loggerFactory.CreateLogger("Sockeye.Server");
        SharedLimits = options.Limits.Shared.Redis is null ? null : new RedisSharedLimits(options.Limits.Shared, timeProvider, _serverLogger);
        Bandwidth = new BandwidthLimiter(options.Limits, timeProvider, SharedLimits);
        Throttle = new LoginThrottle(SessionSettings.CopyOf(options.Authentication), timeProvider);
        Accounting = new SessionAccounting(timeProvider);
        _settings = CreateSettings(options, users, new AccessPolicy(options.GetEffectiveRules(hostAddresses)));
        _descriptorsExhausted = new LogGate(timeProvider, LogGate.DefaultInterval);
        UdpRelayPorts = new UdpRelayPorts(UdpStatistics, _serverLogger, timeProvider);
        SessionLogger = loggerFactory.CreateLogger("Sockeye.Session");
        Notices = new ClientNotices(SessionLogger, timeProvider);
        AccessLogger = loggerFactory.CreateLogger(Diagnostics.AccessLog.Category);
    }

    /// <summary>
    /// The settings a session starting now works with (accounts, rules, timeouts, the commands' settings). A reload
    /// replaces them as a whole; a session keeps those it started with.
    /// </summary>
    public SessionSettings Settings => Volatile.Read(ref _settings);

    /// <summary>Resolved destination names, shared by every CONNECT and UDP association of the server.</summary>
    public DnsCache Dns { get; }

    public UdpStatistics UdpStatistics { get; } = new();

    /// <summary>The ports of <c>udp.portRange</c> held by associations, shared by every association of the server across reloads.</summary>
    public UdpRelayPorts UdpRelayPorts { get; }

    /// <summary>The server's instruments (meter <c>Sockeye.Server</c>).</summary>
    public SockeyeMetrics Metrics { get; } = new();

    /// <summary>Bytes by command, user and client, and the recent refusals: what the metrics and the status report read.</summary>
    public SessionAccounting Accounting { get; }

    public SessionLimiter Limiter { get; }

    /// <summary>
    /// Where the per-user session cap and bandwidth are shared across instances (<c>limits.shared</c>); null when each
    /// instance has its own. Set at start: a reload does not change it.
    /// </summary>
    public ISharedLimits? SharedLimits { get; }

    /// <summary>
    /// The settings of <paramref name="options"/> as sessions take them, with <paramref name="users"/> and
    /// <paramref name="policy"/> built from them. Nothing is put in force: that is <see cref="Apply"/>.
    /// </summary>
    public SessionSettings CreateSettings(SockeyeServerOptions options, UserDirectory users, AccessPolicy policy)
    {
        var connect = new ConnectCommand(Engine, Dns, options.ConnectTimeout, SessionSettings.CopyOf(options.Outbound), TimeProvider, _descriptors, _serverLogger);
        var bind = new BindCommand(Engine, SessionSettings.CopyOf(options.Bind), Dns, TimeProvider);
        return new SessionSettings(options, users, policy, connect, bind, _maxDatagramBytes);
    }

    /// <summary>
    /// Puts <paramref name="settings"/> in force for sessions that start from now on, and the shared settings of
    /// <paramref name="options"/> (session caps, bandwidth rates, login throttling, DNS cache lifetime) for every
    /// decision from now on; the counts, buckets, failures and cached answers so far stay.
    /// </summary>
    public void Apply(SockeyeServerOptions options, SessionSettings settings)
    {
        Limiter.Reconfigure(options.Limits);
        Bandwidth.Reconfigure(options.Limits);
        Throttle.Reconfigure(SessionSettings.CopyOf(options.Authentication));
        Dns.Ttl = options.DnsCacheTtl;
        Volatile.Write(ref _settings, settings);
    }

    /// <summary>
    /// Per-session and per-user rate limits; the per-user buckets are shared by every session of the server, and with
    /// <see cref="SharedLimits"/> fed from those of every instance.
    /// </summary>
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
