using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sockeye.Server.Authentication;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Limits;
using Sockeye.Server.Listening;
using Sockeye.Server.Rules;
using Sockeye.Server.Sessions;
using Sockeye.Server.Transport;

namespace Sockeye.Server;

/// <summary>
/// A SOCKS5 server: listens on the configured endpoints and serves each client until it leaves or the server stops.
/// Embeddable: several servers can run in one process, each with its own options.
/// </summary>
public sealed partial class SockeyeServer : IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly SessionServices _services;
    private readonly SessionRegistry _registry;
    private readonly HostAddresses _hostAddresses;
    private readonly ListenerSet _listeners;
    private readonly int _listenBacklog;

    // Serialises start, reloads and the start of stop, so that listeners are opened and closed by one of them at a time.
    private readonly Lock _lock = new();

    // The configuration in force; replaced by each reload, under _lock.
    private IReadOnlyList<IPEndPoint> _configuredListeners;

    // Whether the rules in force need the host's addresses (@host, or the built-in rules beyond loopback): then they are
    // listed and watched from the start, or from the reload that first needs them, until the server stops.
    private bool _usesHostAddresses;

    // The listeners (by configured endpoint) that read a PROXY protocol header, and from whom; replaced by each reload.
    private Dictionary<IPEndPoint, ProxyProtocolOptions> _proxyProtocol;
    private Dictionary<IPEndPoint, ListenerProtocols> _protocols;
    private TimeSpan _shutdownTimeout;
    private SettingValues _settingValues;
    private long _nextSessionId;
    private int _state; // 0 new, 1 started, 2 stopped
    private int _sharedLimitsStarted;

    /// <summary>Creates a server; nothing listens until <see cref="StartAsync"/>.</summary>
    /// <exception cref="OptionsValidationException">The options are invalid; the exception lists every problem.</exception>
    public SockeyeServer(SockeyeServerOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(options, loggerFactory, timeProvider, SystemHostResolver.Instance)
    {
    }

    /// <param name="options">What to serve.</param>
    /// <param name="loggerFactory">Where to log.</param>
    /// <param name="timeProvider">The clock of every timeout.</param>
    /// <param name="resolver">Resolves destination names.</param>
    /// <param name="hostAddressProvider">Where the built-in rules learn the host's own addresses; tests pass loopback ones.</param>
    /// <param name="descriptors">
    /// The descriptors sessions may hold; by default derived from this process's open-file limit when the server is created.
    /// </param>
    internal SockeyeServer(SockeyeServerOptions options, ILoggerFactory? loggerFactory, TimeProvider? timeProvider, IHostResolver resolver,
        IHostAddressProvider? hostAddressProvider = null, DescriptorBudget? descriptors = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ValidateOptionsResult validation = new SockeyeServerOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(nameof(SockeyeServerOptions), typeof(SockeyeServerOptions), validation.Failures);
        }

        loggerFactory ??= NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger("Sockeye.Server");
        _timeProvider = timeProvider ?? TimeProvider.System;
        var users = CreateUsers(options);

        // Listed and watched only once a listener beyond loopback puts the built-in guard in force (at start, or at the
        // reload that adds it), then until the server stops.
        _hostAddresses = new HostAddresses(hostAddressProvider ?? SystemHostAddressProvider.Instance, _timeProvider, _logger);
        _services = new SessionServices(options, users, resolver, _timeProvider, loggerFactory, _hostAddresses, descriptors ?? DescriptorBudget.ForThisProcess());
        _registry = new SessionRegistry(_timeProvider, _services.Settings);
        _services.Metrics.Observe(_registry, _services.Accounting, _services.Limiter, _services.UdpStatistics, () => _services.Engine.Faults, options.PerUserMetrics, _services.SharedLimits);
        _listeners = new ListenerSet(_services.Engine, _logger, OnAccepted);
        _listenBacklog = options.ListenBacklog;
        _configuredListeners = [.. options.Listeners];
        _proxyProtocol = CopyProxyProtocol(options);
        _protocols = new Dictionary<IPEndPoint, ListenerProtocols>(options.Protocols);
        _usesHostAddresses = options.UsesHostAddresses(_configuredListeners);
        _shutdownTimeout = options.ShutdownTimeout;
        _settingValues = SettingValues.Of(options);
    }

    /// <summary>The endpoints really listened on (port 0 replaced by the port the OS chose), once started.</summary>
    public IReadOnlyList<IPEndPoint> LocalEndPoints { get; private set; } = [];

    /// <summary>What the UDP relays did with datagrams, counted since the server was created.</summary>
    public UdpStatistics UdpStatistics => _services.UdpStatistics;

    /// <summary>Requests refused at a session cap, and handshakes evicted at the handshake cap, since the server was created.</summary>
    public (long RejectedSessions, long EvictedHandshakes) LimitStatistics => (_services.Limiter.RejectedSessions, _services.Limiter.EvictedHandshakes);

    /// <summary>The rate limits' shared per-user buckets (tests check that they go once refilled after the user's last session).</summary>
    internal Limits.BandwidthLimiter Bandwidth => _services.Bandwidth;

    /// <summary>The name of the meter every server publishes its metrics on (docs/metrics.md).</summary>
    public const string MeterName = SockeyeMetrics.MeterName;

    /// <summary>This server's meter (named <c>Sockeye.Server</c>; each server has its own).</summary>
    internal System.Diagnostics.Metrics.Meter Meter => _services.Metrics.Meter;

    /// <summary>
    /// <c>off</c> without shared limits; otherwise <c>shared</c>, or <c>local fallback: </c> and why (what <c>/readyz</c> adds).
    /// </summary>
    internal string SharedLimitsState => _services.SharedLimits?.State ?? "off";

    /// <summary>The engine under the sessions (for tests of what it does).</summary>
    internal TransportEngine Engine => _services.Engine;

    /// <summary>The sessions open now, in any phase.</summary>
    public int ActiveSessionCount => _registry.Count;

    /// <summary>Opens every listener, then starts accepting. If any listener fails, none is left open.</summary>
    /// <exception cref="Listening.SockeyeListenException">A listener could not be opened (e.g. its port is in use).</exception>
    /// <remarks>
    /// With shared limits (<see cref="SharedLimitsOptions.Redis"/>), first waits a bounded time for Redis: at most the
    /// longer of 1 s and four times <see cref="SharedLimitsOptions.Timeout"/>; without an answer the server starts on
    /// its own limits and goes on trying.
    /// </remarks>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Volatile.Read(ref _state) == 0 && _services.SharedLimits is { } shared && Interlocked.Exchange(ref _sharedLimitsStarted, 1) == 0)
        {
            // Before the first accept, so that the first sessions are counted across instances when Redis is there.
            await shared.StartAsync(cancellationToken).ConfigureAwait(false);
        }

        lock (_lock)
        {
            if (_state != 0)
            {
                throw new InvalidOperationException("The server has already been started.");
            }

            UseGssapiKeytab(_services.Settings.Gssapi);
            ListenerSet.Change listeners;
            try
            {
                listeners = _listeners.Prepare(_configuredListeners, _listenBacklog, _proxyProtocol, _protocols);
            }
            catch
            {
                _registry.Dispose();
                Volatile.Write(ref _state, 2);

                // Its lease timer would otherwise run on for a server that never served.
                _ = _services.SharedLimits?.DisposeAsync().AsTask();
                throw;
            }

            if (_usesHostAddresses)
            {
                // Before the first accept, so that no session meets an empty list.
                _hostAddresses.Start();
            }

            Volatile.Write(ref _state, 1);
            _listeners.Commit(listeners);
            LocalEndPoints = _listeners.LocalEndPoints;
        }

        _startedAt = _timeProvider.GetUtcNow();
        _services.Accounting.StartSampling(_registry);
        ServerLog.TransportEngine(_logger, _services.Engine.Name);
        LogDescriptorCeilings();
        SessionSettings settings = _services.Settings;
        if (settings.Users.RequiresAuthentication)
        {
            ServerLog.AuthenticationRequired(_logger, settings.Users.Count);
        }
        else if (settings.Gssapi is null)
        {
            ServerLog.NoAuthentication(_logger);
        }

        if (settings.Gssapi is { } gssapi)
        {
            ServerLog.GssapiEnabled(_logger, gssapi.ServiceName, gssapi.Keytab ?? Environment.GetEnvironmentVariable(KeytabVariable) ?? "Kerberos's default");
        }
    }

    private const string KeytabVariable = "KRB5_KTNAME";

    /// <summary>
    /// Points Kerberos in this process at the configured keytab: NegotiateAuthentication takes no keytab, MIT Kerberos
    /// reads KRB5_KTNAME with the C library's getenv, so it is set there. Before the first accept, while no session
    /// calls into Kerberos (setenv races with getenv on other threads).
    /// </summary>
    private static void UseGssapiKeytab(GssapiOptions? gssapi)
    {
        if (gssapi?.Keytab is not { } keytab)
        {
            return;
        }

        string value = "FILE:" + Path.GetFullPath(keytab);
        if (!OperatingSystem.IsWindows() && Interop.Libc.setenv(KeytabVariable, value, 1) != 0)
        {
            throw new InvalidOperationException($"gssapi.keytab: setenv({KeytabVariable}) failed with errno {Marshal.GetLastSystemError()}.");
        }

        Environment.SetEnvironmentVariable(KeytabVariable, value);
    }

    /// <summary>
    /// Stops accepting, closes handshakes still in progress, lets tunnels drain for
    /// <see cref="SockeyeServerOptions.ShutdownTimeout"/> (or until <paramref name="cancellationToken"/> fires), then closes the rest.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        Task acceptLoops;
        TimeSpan shutdownTimeout;
        lock (_lock)
        {
            if (Interlocked.Exchange(ref _state, 2) != 1)
            {
                return;
            }

            acceptLoops = _listeners.StopAsync();
            shutdownTimeout = _shutdownTimeout;
        }

        await acceptLoops.ConfigureAwait(false);

        // A client still negotiating would only start a new tunnel during shutdown: close it now.
        _registry.AbortWhere(static session => session.Phase != HandshakePhase.Relaying, SessionCloseReason.ServerShutdown);
        ServerLog.Draining(_logger, _registry.Count, shutdownTimeout);
        try
        {
            await _registry.WhenEmptyAsync().WaitAsync(shutdownTimeout, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            ServerLog.ClosingRemaining(_logger, _registry.Count);
            _registry.AbortWhere(static _ => true, SessionCloseReason.ServerShutdown);
            await _registry.WhenEmptyAsync().ConfigureAwait(false);
        }

        _registry.Dispose();
        if (_services.SharedLimits is { } shared)
        {
            // After the last session has given its count back.
            await shared.DisposeAsync().ConfigureAwait(false);
        }

        _hostAddresses.Dispose();
        _services.Engine.Dispose();
        _services.Notices.Dispose();
        _services.Accounting.Dispose();
        _services.Metrics.Dispose();
        ServerLog.Stopped(_logger);
    }

    /// <summary>
    /// Puts <paramref name="options"/> in force, as far as a running server can, for every session that starts from now
    /// on: users, access rules, timeouts, limits, bandwidth rates, login throttling, the commands' settings, the DNS
    /// cache's lifetime, the shutdown grace period and the listeners. Sessions already open keep the users, rules,
    /// timeouts and command settings they started with, so no tunnel is dropped. The session caps count the sessions
    /// already open: a lowered cap closes none of them but admits no new session until enough have ended. A session
    /// keeps the bandwidth rate it started with; a user whose rate changed shares new buckets with their sessions that
    /// start after the reload. Failed logins recorded so far stay and are judged by the new settings.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Listeners are compared by their configured endpoint (one configured with port 0 stays the same listener while
    /// that endpoint is listed). New ones are opened first; if one cannot be opened, those just opened are closed and
    /// nothing at all changes. Then the listeners no longer listed stop accepting: their sessions go on until they end.
    /// With no rules configured, the built-in rules are chosen for the new listeners, and a listener beyond loopback
    /// starts the watch of the host's addresses they deny.
    /// </para>
    /// <para>
    /// A setting a running server cannot change (<c>relay.engine</c>, <c>relayBufferBytes</c>, <c>eventLoopPoll</c>,
    /// <c>listenBacklog</c>, <c>udp.maxDatagramBytes</c>) keeps the value the server started with; each one changed is
    /// logged as a warning and listed in <see cref="ServerReloadResult.NeedsRestart"/>. Reloads are serialised with
    /// each other and with start and stop. Before <see cref="StartAsync"/>, a reload replaces the options the server will
    /// start with. After <see cref="StopAsync"/>, a valid reload changes nothing and returns a result that lists
    /// nothing: the server will not listen again. <paramref name="options"/> must not be changed after the call.
    /// </para>
    /// </remarks>
    /// <returns>What changed, for the caller to report.</returns>
    /// <exception cref="OptionsValidationException">
    /// <paramref name="options"/> is invalid; the exception lists every problem, and nothing changed.
    /// </exception>
    /// <exception cref="SockeyeListenException">
    /// A new listener could not be opened (e.g. its port is in use); nothing changed.
    /// </exception>
    public ServerReloadResult Reload(SockeyeServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ValidateOptionsResult validation = new SockeyeServerOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(nameof(SockeyeServerOptions), typeof(SockeyeServerOptions), validation.Failures);
        }

        lock (_lock)
        {
            if (_state == 2)
            {
                return ServerReloadResult.Nothing;
            }

            // Everything is built before anything changes: only opening listeners can fail, and it goes first.
            var applied = new List<string>();
            var needsRestart = new List<(string Setting, string InForce, string Configured)>();
            SettingValues values = _settingValues.Reload(SettingValues.Of(options), applied, needsRestart);
            IPEndPoint[] listeners = [.. options.Listeners];
            UserDirectory users = CreateUsers(options);
            SessionSettings settings = _services.CreateSettings(options, users, new AccessPolicy(options.GetEffectiveRules(listeners, _hostAddresses)));
            bool started = _state == 1;
            Dictionary<IPEndPoint, ProxyProtocolOptions> proxyProtocol = CopyProxyProtocol(options);
            var protocols = new Dictionary<IPEndPoint, ListenerProtocols>(options.Protocols);
            ListenerSet.Change? listenerChange = started ? _listeners.Prepare(listeners, _listenBacklog, proxyProtocol, protocols) : null;
            if (listenerChange?.ChangesAnything ?? !listeners.SequenceEqual(_configuredListeners))
            {
                applied.Insert(0, "listeners");
            }

            if (!SameProxyProtocol(proxyProtocol, _proxyProtocol))
            {
                applied.Insert(0, "listeners[].proxyProtocol");
            }

            if (protocols.Count != _protocols.Count || !protocols.All(pair => _protocols.TryGetValue(pair.Key, out ListenerProtocols old) && old == pair.Value))
            {
                applied.Insert(0, "listeners[].protocols");
            }

            bool usesHostAddresses = options.UsesHostAddresses(listeners);
            if (started && usesHostAddresses)
            {
                // Before a new listener accepts and before the new rules are in force, so that no session meets an
                // empty list. Nothing if it already watches.
                try
                {
                    _hostAddresses.Start();
                }
                catch
                {
                    ListenerSet.Abandon(listenerChange!);
                    throw;
                }
            }

            _services.Apply(options, settings);
            _registry.Watch(settings);
            _configuredListeners = listeners;
            _proxyProtocol = proxyProtocol;
            _protocols = protocols;
            _usesHostAddresses = usesHostAddresses;
            _shutdownTimeout = options.ShutdownTimeout;
            _settingValues = values;
            if (listenerChange is not null)
            {
                _listeners.Commit(listenerChange);
                LocalEndPoints = _listeners.LocalEndPoints;
            }

            LogReload(users.Count, options.Rules.Count, applied, needsRestart);
            return new ServerReloadResult(applied, [.. needsRestart.Select(static setting => setting.Setting)],
                listenerChange?.OpenedEndPoints ?? [], listenerChange?.RemovedEndPoints ?? []);
        }
    }

    private void LogReload(int userCount, int ruleCount, List<string> applied, List<(string Setting, string InForce, string Configured)> needsRestart)
    {
        foreach ((string setting, string inForce, string configured) in needsRestart)
        {
            ServerLog.ReloadNeedsRestart(_logger, setting, inForce, configured);
        }

        if (applied.Exists(static setting => setting is "limits.maxHandshakes" or "limits.maxSessions"))
        {
            LogLoweredLimits();
        }

        ServerLog.Reloaded(_logger, userCount, ruleCount, applied.Count == 0 ? "none" : string.Join(", ", applied));
    }

    private void LogDescriptorCeilings()
    {
        SessionLimiter limiter = _services.Limiter;
        DescriptorBudget descriptors = limiter.Descriptors;
        if (!descriptors.IsLimited)
        {
            return;
        }

        ServerLog.DescriptorCeilings(_logger, descriptors.OpenFileLimit, DescriptorBudget.RuntimeReserve, descriptors.SplicePipes * 2,
            descriptors.TunnelCeiling, descriptors.Capacity / DescriptorBudget.UdpAssociationDescriptors, limiter.MaxHandshakes);
        LogLoweredLimits();
    }

    private void LogLoweredLimits()
    {
        SessionLimiter limiter = _services.Limiter;
        foreach ((string setting, int configured, int effective) in limiter.Lowered)
        {
            ServerLog.LimitLowered(_logger, "limits." + char.ToLowerInvariant(setting[0]) + setting[1..], configured, effective, limiter.Descriptors.OpenFileLimit);
        }
    }

    private UserDirectory CreateUsers(SockeyeServerOptions options) =>
        new(options.Users, options.Authentication.VerifiedCacheTtl, _timeProvider, options.MinHashIterations, UserDirectory.DefaultMaxConcurrentHashes);

    /// <summary>Stops the server, with the configured grace period, if it is running.</summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>A copy of the options' PROXY protocol settings, so that changing the options later changes nothing in force.</summary>
    private static Dictionary<IPEndPoint, ProxyProtocolOptions> CopyProxyProtocol(SockeyeServerOptions options)
    {
        var copy = new Dictionary<IPEndPoint, ProxyProtocolOptions>(options.ProxyProtocol.Count);
        foreach ((IPEndPoint endPoint, ProxyProtocolOptions proxy) in options.ProxyProtocol)
        {
            var trusted = new ProxyProtocolOptions();
            foreach (IPNetwork network in proxy.TrustedProxies)
            {
                trusted.TrustedProxies.Add(network);
            }

            copy[endPoint] = trusted;
        }

        return copy;
    }

    private static bool SameProxyProtocol(Dictionary<IPEndPoint, ProxyProtocolOptions> a, Dictionary<IPEndPoint, ProxyProtocolOptions> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach ((IPEndPoint endPoint, ProxyProtocolOptions proxy) in a)
        {
            if (!b.TryGetValue(endPoint, out ProxyProtocolOptions? other) || !proxy.TrustedProxies.SequenceEqual(other.TrustedProxies))
            {
                return false;
            }
        }

        return true;
    }

    private void OnAccepted(TunnelSocket client, ListenerFrontDoor frontDoor)
    {
        if (!_services.Limiter.TryAdmitConnection())
        {
            // The descriptors clients may hold are all taken, and the runtime's reserve is not theirs to spend: closed at once.
            client.Close();
            _services.ReportDescriptorsExhausted();
            return;
        }

        var session = new ProxySession(Interlocked.Increment(ref _nextSessionId), client, _services, _registry, frontDoor);
        _registry.Add(session);
        if (_services.Limiter.EnterHandshake() && _registry.AbortOldestHandshake(session))
        {
            // At the handshake cap the oldest unfinished handshake makes room: idle floods evict themselves.
            _services.Limiter.CountEviction();
        }

        if (Volatile.Read(ref _state) != 1)
        {
            // Accepted just as the server stopped: do not start a session the drain has already counted out.
            session.Abort(SessionCloseReason.ServerShutdown);
        }

        _services.Engine.StartSession(session);
    }
}
