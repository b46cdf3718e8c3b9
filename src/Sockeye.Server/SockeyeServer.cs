using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sockeye.Server.Authentication;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using Sockeye.Server.Limits;
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
    private readonly SockeyeServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly SessionServices _services;
    private readonly SessionRegistry _registry;
    private readonly HostAddresses _hostAddresses;
    private readonly bool _guardsHostAddresses;
    private readonly List<TransportListener> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly Action<TunnelSocket> _onAccepted;
    private long _nextSessionId;
    private int _state; // 0 new, 1 started, 2 stopped

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

        _options = options;
        loggerFactory ??= NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger("Sockeye.Server");
        _timeProvider = timeProvider ?? TimeProvider.System;
        var users = CreateUsers(options);

        // Listed and watched from start to stop, and only when a listener beyond loopback puts the built-in guard in
        // force: the listeners never change after this.
        _hostAddresses = new HostAddresses(hostAddressProvider ?? SystemHostAddressProvider.Instance, _timeProvider, _logger);
        _guardsHostAddresses = SockeyeServerOptions.GuardsLocalDestinations(options.Listeners);
        _services = new SessionServices(options, users, resolver, _timeProvider, loggerFactory, _hostAddresses, descriptors ?? DescriptorBudget.ForThisProcess());
        _registry = new SessionRegistry(_timeProvider, options.IdleTimeout, options.Udp.IdleTimeout, options.HandshakeTimeout);
        _services.Metrics.Observe(_registry, _services.Accounting, _services.Limiter, _services.UdpStatistics, () => _services.Engine.Faults, options.PerUserMetrics);
        _onAccepted = OnAccepted;
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

    /// <summary>The engine under the sessions (for tests of what it does).</summary>
    internal TransportEngine Engine => _services.Engine;

    /// <summary>The sessions open now, in any phase.</summary>
    public int ActiveSessionCount => _registry.Count;

    /// <summary>Opens every listener, then starts accepting. If any listener fails, none is left open.</summary>
    /// <exception cref="Listening.SockeyeListenException">A listener could not be opened (e.g. its port is in use).</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("The server has already been started.");
        }

        try
        {
            foreach (IPEndPoint endPoint in _options.Listeners)
            {
                _listeners.Add(_services.Engine.Listen(endPoint, _options.ListenBacklog));
            }
        }
        catch
        {
            foreach (TransportListener listener in _listeners)
            {
                listener.Dispose();
            }

            _listeners.Clear();
            _registry.Dispose();
            Volatile.Write(ref _state, 2);
            throw;
        }

        if (_guardsHostAddresses)
        {
            // Before the first accept, so that no session meets an empty list.
            _hostAddresses.Start();
        }

        var endPoints = new List<IPEndPoint>(_listeners.Count);
        foreach (TransportListener listener in _listeners)
        {
            endPoints.Add(listener.LocalEndPoint);
            _acceptLoops.Add(listener.StartAccepting(_onAccepted));
            ServerLog.Listening(_logger, listener.LocalEndPoint);
        }

        LocalEndPoints = endPoints;
        _startedAt = _timeProvider.GetUtcNow();
        _services.Accounting.StartSampling(_registry);
        ServerLog.TransportEngine(_logger, _services.Engine.Name);
        LogDescriptorCeilings();
        if (_services.Access.Users.RequiresAuthentication)
        {
            ServerLog.AuthenticationRequired(_logger, _services.Access.Users.Count);
        }
        else
        {
            ServerLog.NoAuthentication(_logger);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops accepting, closes handshakes still in progress, lets tunnels drain for
    /// <see cref="SockeyeServerOptions.ShutdownTimeout"/> (or until <paramref name="cancellationToken"/> fires), then closes the rest.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            return;
        }

        foreach (TransportListener listener in _listeners)
        {
            listener.Dispose();
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);

        // A client still negotiating would only start a new tunnel during shutdown: close it now.
        _registry.AbortWhere(static session => session.Phase != HandshakePhase.Relaying, SessionCloseReason.ServerShutdown);
        ServerLog.Draining(_logger, _registry.Count, _options.ShutdownTimeout);
        try
        {
            await _registry.WhenEmptyAsync().WaitAsync(_options.ShutdownTimeout, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            ServerLog.ClosingRemaining(_logger, _registry.Count);
            _registry.AbortWhere(static _ => true, SessionCloseReason.ServerShutdown);
            await _registry.WhenEmptyAsync().ConfigureAwait(false);
        }

        _registry.Dispose();
        _hostAddresses.Dispose();
        _services.Engine.Dispose();
        _services.Notices.Dispose();
        _services.Accounting.Dispose();
        _services.Metrics.Dispose();
        ServerLog.Stopped(_logger);
    }

    /// <summary>
    /// Puts the users and the access rules of <paramref name="options"/> in force for every session that starts from
    /// now on. Sessions already open keep the users and rules they started with, so no tunnel is dropped. Every other
    /// setting (listeners, timeouts, limits, UDP, relay mode) keeps the value the server was created with until the next
    /// start. With no rules configured, the built-in rules are those of the listeners the server really has, and they
    /// deny the host's addresses as this server keeps them current.
    /// </summary>
    /// <exception cref="OptionsValidationException">
    /// <paramref name="options"/> is invalid; the exception lists every problem, and nothing changed.
    /// </exception>
    public void Reload(SockeyeServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ValidateOptionsResult validation = new SockeyeServerOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(nameof(SockeyeServerOptions), typeof(SockeyeServerOptions), validation.Failures);
        }

        var users = CreateUsers(options);
        var access = new SessionAccess(users, new AccessPolicy(options.GetEffectiveRules(_options.Listeners, _hostAddresses)));
        _services.ReplaceAccess(access);
        ServerLog.Reloaded(_logger, users.Count, options.Rules.Count);
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
        foreach ((string setting, int configured, int effective) in limiter.Lowered)
        {
            ServerLog.LimitLowered(_logger, "limits." + char.ToLowerInvariant(setting[0]) + setting[1..], configured, effective, descriptors.OpenFileLimit);
        }
    }

    private UserDirectory CreateUsers(SockeyeServerOptions options) =>
        new(options.Users, options.Authentication.VerifiedCacheTtl, _timeProvider, options.MinHashIterations, UserDirectory.DefaultMaxConcurrentHashes);

    /// <summary>Stops the server, with the configured grace period, if it is running.</summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private void OnAccepted(TunnelSocket client)
    {
        if (!_services.Limiter.TryAdmitConnection())
        {
            // The descriptors clients may hold are all taken, and the runtime's reserve is not theirs to spend: closed at once.
            client.Close();
            _services.ReportDescriptorsExhausted();
            return;
        }

        var session = new Socks5Session(Interlocked.Increment(ref _nextSessionId), client, _services, _registry);
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
