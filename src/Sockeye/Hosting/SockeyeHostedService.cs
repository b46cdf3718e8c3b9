using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sockeye.Configuration;
using Sockeye.Server;
using Sockeye.Server.Listening;

namespace Sockeye.Hosting;

/// <summary>
/// Runs a <see cref="SockeyeServer"/> for the lifetime of the host: SIGINT/SIGTERM stop it with a drain; SIGHUP, or a
/// change of the configuration file or the users file, reads the settings again and puts them in force.
/// </summary>
/// <remarks>
/// The server starts inside the host's start, after the console lifetime has installed its signal handlers, so a
/// SIGTERM that arrives right after "Listening on" is drained like any other. Reloads come through an
/// <see cref="IOptionsMonitor{TOptions}"/> of <see cref="SettingsLoad"/>, whose change tokens are the signal and the
/// files' (<see cref="SettingsChangeSource"/>).
/// </remarks>
internal sealed class SockeyeHostedService : IHostedLifecycleService, IDisposable
{
    private readonly SockeyeServer _server;
    private readonly ILogger _logger;
    private readonly IOptionsMonitor<SettingsLoad> _settings;
    private readonly SettingsChangeSource _changes;
    private readonly LogLevelInForce _logLevel;
    private readonly ServiceManagerNotifier? _notifier;
    private readonly Lock _reloadLock = new();
    private readonly SockeyeSettings _started;
    private IDisposable? _reloads;
    private PosixSignalRegistration? _hangup;

    /// <param name="server">The server to run.</param>
    /// <param name="settings">The settings the server was created with.</param>
    /// <param name="monitor">Reads the settings again whenever <paramref name="changes"/> says so.</param>
    /// <param name="changes">The signal and the watched files.</param>
    /// <param name="logLevel">The log level the loggers follow.</param>
    /// <param name="logger">Where reloads are reported.</param>
    /// <param name="notifier">Tells the service manager about reloads; null when none is wanted.</param>
    public SockeyeHostedService(SockeyeServer server, SockeyeSettings settings, IOptionsMonitor<SettingsLoad> monitor, SettingsChangeSource changes,
        LogLevelInForce logLevel, ILogger logger, ServiceManagerNotifier? notifier = null)
    {
        _server = server;
        _started = settings;
        _settings = monitor;
        _changes = changes;
        _logLevel = logLevel;
        _logger = logger;
        _notifier = notifier;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the listeners: once "Listening on" is printed, a SIGHUP must reload, not end the process with the
        // signal's default action. A reload before the start only replaces settings the server has not used yet.
        if (!OperatingSystem.IsWindows())
        {
            if (HangupSignal.TakeBackIfIgnored())
            {
                HostLog.HangupWasIgnored(_logger);
            }

            _hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnHangup);
        }

        _reloads = _settings.OnChange(Apply);
        _changes.Watch(_started.WatchedFiles);
        await _server.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The drain, run in the host's first stopping step, before any service's <see cref="StopAsync"/>: the admin
    /// endpoint, which the host stops before this service, still answers /readyz with 503 all through it.
    /// </summary>
    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        _hangup?.Dispose();
        _reloads?.Dispose();
        return _server.StopAsync(cancellationToken);
    }

    /// <summary>Stops the server if <see cref="StoppingAsync"/> has not (it returns at once if it has).</summary>
    public Task StopAsync(CancellationToken cancellationToken) => _server.StopAsync(cancellationToken);

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        _hangup?.Dispose();
        _reloads?.Dispose();
    }

    /// <summary>Puts a new reading in force; on any problem every setting in force stays as it is.</summary>
    internal void Apply(SettingsLoad load)
    {
        lock (_reloadLock)
        {
            _notifier?.Reloading();
            if (load.Settings is not { } settings)
            {
                HostLog.ReloadFailed(_logger, string.Join("; ", load.Errors));
                _notifier?.Reloaded("Reload failed; the settings in force are unchanged");
                return;
            }

            try
            {
                _server.Reload(settings.Server);
            }
            catch (Exception e) when (e is OptionsValidationException or SockeyeListenException)
            {
                HostLog.ReloadFailed(_logger, e is OptionsValidationException invalid ? string.Join("; ", invalid.Failures) : e.Message);
                _notifier?.Reloaded("Reload failed; the settings in force are unchanged");
                return;
            }

            // Against the start: those settings are in force as they were then, whatever reloads came between.
            string restartOnly = settings.RestartOnlyChanges(_started);
            if (restartOnly.Length > 0)
            {
                HostLog.NeedsRestart(_logger, restartOnly);
            }

            if (settings.LogLevel is LogLevel after && after != _logLevel.Level)
            {
                // At Warning: after the change when the new level shows warnings (so that the line proves the new level
                // is in force), before it when it hides them (so that the line is written at all).
                LogLevel before = _logLevel.Level;
                if (after > LogLevel.Warning)
                {
                    HostLog.LogLevelChanged(_logger, before, after);
                }

                _logLevel.Set(after);
                if (after <= LogLevel.Warning)
                {
                    HostLog.LogLevelChanged(_logger, before, after);
                }
            }
            _changes.Watch(settings.WatchedFiles);
            _notifier?.Reloaded("Accepting clients");
        }
    }

    private void OnHangup(PosixSignalContext context)
    {
        // Handled: without this the runtime would apply SIGHUP's default action and end the process.
        context.Cancel = true;
        HostLog.ReloadRequested(_logger);
        _changes.Request("SIGHUP");
    }
}
