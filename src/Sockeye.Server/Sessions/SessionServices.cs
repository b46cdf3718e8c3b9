using Microsoft.Extensions.Logging;
using Sockeye.Server.Authentication;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Limits;
using Sockeye.Server.Relay;
using Sockeye.Server.Rules;

namespace Sockeye.Server.Sessions;

/// <summary>What every session of one server shares: options, accounts, the CONNECT command, clocks and loggers.</summary>
internal sealed class SessionServices
{
    // 1 MiB, the default /proc/sys/fs/pipe-max-size: with 64 KiB pipes one stream moved 1.3 GB/s at 0.6 CPU s/GiB,
    // with 1 MiB 1.8 GB/s at 0.36 (bench/Sockeye.Bench, pinned, 2026-11-25). The kernel fills pipe pages only as data
    // arrives, and only busy directions hold a pipe.
    private const int SplicePipeBytes = 1 << 20;

    private readonly EpollLoop?[]? _tcpLoops;
    private readonly EpollLoop?[]? _udpLoops;
    private readonly int _udpLoopScratchBytes;
    private readonly ILogger? _loopLogger;
    private readonly ILogger _serverLogger;
    private readonly LogGate _descriptorsExhausted;
    private int _nextUdpLoop;
    private int _nextTcpLoop;
    private long _retiredLoopHandlerFaults;
    private long _failedLoops;
    private SessionAccess _access;
    private bool _loopsStopped;

    // hostAddresses: the host's own addresses, for the built-in rules; the server keeps them current. descriptors: what
    // sessions may hold of the process's open-file limit.
    public SessionServices(SockeyeServerOptions options, UserDirectory users, IHostResolver resolver, TimeProvider timeProvider, ILoggerFactory loggerFactory,
        HostAddresses hostAddresses, DescriptorBudget descriptors)
    {
        Options = options;
        Dns = new DnsCache(resolver, options.DnsCacheTtl, timeProvider);
        Connect = new ConnectCommand(Dns, options.ConnectTimeout, options.Outbound, timeProvider, descriptors);
        Bind = new BindCommand(options.Bind, Dns, timeProvider);
        Limiter = new SessionLimiter(options.Limits, descriptors);
        _access = new SessionAccess(users, new AccessPolicy(options.GetEffectiveRules(hostAddresses)));
        Bandwidth = new BandwidthLimiter(options.Limits, timeProvider);
        Throttle = new LoginThrottle(options.Authentication, timeProvider);
        bool splice = options.RelayMode == RelayMode.Splice || (options.RelayMode == RelayMode.Auto && OperatingSystem.IsLinux());
        Pipes = splice && OperatingSystem.IsLinux() ? new SplicePipePool(SplicePipeBytes, descriptors.SplicePipes) : null;
        if (splice && OperatingSystem.IsLinux())
        {
            _udpLoops = new EpollLoop?[Environment.ProcessorCount];
            _tcpLoops = new EpollLoop?[Environment.ProcessorCount];
            _udpLoopScratchBytes = Math.Max(Protocol.Socks5.Socks5Limits.MaxUdpHeaderLength, UdpAssociation.ReplyHeaderRoom) + options.Udp.MaxDatagramBytes;
            _loopLogger = loggerFactory.CreateLogger("Sockeye.Server");
        }

        TimeProvider = timeProvider;
        _serverLogger = loggerFactory.CreateLogger("Sockeye.Server");
        _descriptorsExhausted = new LogGate(timeProvider, LogGate.DefaultInterval);
        SessionLogger = loggerFactory.CreateLogger("Sockeye.Session");
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

    public SessionLimiter Limiter { get; }

    /// <summary>Puts new accounts and rules in force for sessions that start from now on.</summary>
    public void ReplaceAccess(SessionAccess access) => Volatile.Write(ref _access, access);
    /// <summary>Per-session and per-user rate limits; the per-user buckets are shared by every session of the server.</summary>
    public BandwidthLimiter Bandwidth { get; }

    /// <summary>Failed logins per client address, shared by every session of the server.</summary>
    public LoginThrottle Throttle { get; }

    /// <summary>Pipes for the splice relay; <see langword="null"/> when tunnels copy through buffers.</summary>
    public SplicePipePool? Pipes { get; }

    /// <summary>
    /// The event loop for the next UDP association, started on first use, one per core in turn; <see langword="null"/>
    /// off Linux or in copy mode, where associations await their receives instead.
    /// </summary>
    public EpollLoop? NextUdpLoop() => NextLoop(_udpLoops, ref _nextUdpLoop, "udp", _udpLoopScratchBytes);

    /// <summary>
    /// The event loop for the next TCP connection (accepted, or a listener's), started on first use, one per core in turn;
    /// <see langword="null"/> off Linux or in copy mode, where sessions run on the runtime's sockets and thread pool.
    /// </summary>
    public EpollLoop? NextTcpLoop() => NextLoop(_tcpLoops, ref _nextTcpLoop, "tcp", scratchBytes: 1);

    private EpollLoop? NextLoop(EpollLoop?[]? loops, ref int next, string kind, int scratchBytes)
    {
        if (loops is null || !OperatingSystem.IsLinux())
        {
            return null;
        }

        int index = (int)((uint)Interlocked.Increment(ref next) % (uint)loops.Length);
        lock (loops)
        {
            ObjectDisposedException.ThrowIf(_loopsStopped, this);
            if (loops[index] is { IsFailed: true } failed)
            {
                // Its sessions are closed and its thread gone: a new loop takes its place, and its faults stay counted.
                Interlocked.Add(ref _retiredLoopHandlerFaults, failed.HandlerFaults);
                Interlocked.Increment(ref _failedLoops);
                failed.Dispose();
                loops[index] = null;
            }

            return loops[index] ??= new EpollLoop($"sockeye-{kind}-{index}", scratchBytes, _loopLogger!, Options.EventLoopPoll, TimeProvider);
        }
    }

    /// <summary>
    /// Faults of the event loops since the server started: handlers (and posted work) that threw, and loops that failed
    /// outright. A failed loop counts once it has been noticed and replaced, or now if it is still in place.
    /// </summary>
    public (long HandlerFaults, long FailedLoops) EventLoopFaults
    {
        get
        {
            long handlerFaults = Interlocked.Read(ref _retiredLoopHandlerFaults);
            long failedLoops = Interlocked.Read(ref _failedLoops);
            if (!OperatingSystem.IsLinux())
            {
                return (handlerFaults, failedLoops);
            }

            foreach (EpollLoop?[]? loops in (ReadOnlySpan<EpollLoop?[]?>)[_udpLoops, _tcpLoops])
            {
                if (loops is null)
                {
                    continue;
                }

                lock (loops)
                {
                    foreach (EpollLoop? loop in loops)
                    {
                        handlerFaults += loop?.HandlerFaults ?? 0;
                        failedLoops += loop is { IsFailed: true } ? 1 : 0;
                    }
                }
            }

            return (handlerFaults, failedLoops);
        }
    }

    /// <summary>Makes the event loop of <paramref name="kind"/> ("tcp" or "udp") at <paramref name="index"/> fail (for tests); false when there is none.</summary>
    internal bool InjectEventLoopFailure(string kind, int index)
    {
        EpollLoop?[]? loops = kind == "udp" ? _udpLoops : _tcpLoops;
        if (loops is null || !OperatingSystem.IsLinux())
        {
            return false;
        }

        lock (loops)
        {
            if (loops[index] is not { } loop)
            {
                return false;
            }

            loop.InjectFailure();
            return true;
        }
    }

    /// <summary>Sockets of UDP associations registered on the event loops now (for tests and diagnostics).</summary>
    public int UdpSocketsOnEventLoops => CountRegistered(_udpLoops);

    /// <summary>TCP sockets (listeners, clients, destinations) registered on the event loops now (for tests and diagnostics).</summary>
    public int TcpSocketsOnEventLoops => CountRegistered(_tcpLoops);

    private static int CountRegistered(EpollLoop?[]? loops)
    {
        if (loops is null || !OperatingSystem.IsLinux())
        {
            return 0;
        }

        lock (loops)
        {
            int count = 0;
            foreach (EpollLoop? loop in loops)
            {
                count += loop?.Count ?? 0;
            }

            return count;
        }
    }

    /// <summary>Stops the event loops; called once every session has ended and every listener is closed.</summary>
    public void StopEventLoops()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        foreach (EpollLoop?[]? loops in (ReadOnlySpan<EpollLoop?[]?>)[_udpLoops, _tcpLoops])
        {
            if (loops is null)
            {
                continue;
            }

            lock (loops)
            {
                _loopsStopped = true;
                foreach (EpollLoop? loop in loops)
                {
                    loop?.Dispose();
                }
            }
        }
    }

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

    public ILogger AccessLogger { get; }
}

/// <summary>Accounts and access rules that are in force together (see <see cref="SessionServices.Access"/>).</summary>
/// <param name="Users">The accounts; none means clients connect without authentication.</param>
/// <param name="Policy">The access rules in force: the configured ones, or the built-in default.</param>
internal sealed record SessionAccess(UserDirectory Users, AccessPolicy Policy);
