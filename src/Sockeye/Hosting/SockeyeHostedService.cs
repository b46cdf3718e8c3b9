using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sockeye.Configuration;
using Sockeye.Server;

namespace Sockeye.Hosting;

/// <summary>
/// Runs a <see cref="SockeyeServer"/> for the lifetime of the host: SIGINT/SIGTERM stop it with a drain, SIGHUP reads
/// the configuration again and puts its users and rules in force for new sessions.
/// </summary>
/// <remarks>
/// The server starts inside the host's start, after the console lifetime has installed its signal handlers, so a
/// SIGTERM that arrives right after "Listening on" is drained like any other.
/// </remarks>
internal sealed class SockeyeHostedService : IHostedLifecycleService, IDisposable
{
    private readonly SockeyeServer _server;
    private readonly Func<List<string>, SockeyeSettings?> _loadSettings;
    private readonly ILogger _logger;
    private readonly ServiceManagerNotifier? _notifier;
    private readonly Lock _reloadLock = new();
    private PosixSignalRegistration? _hangup;

    /// <param name="server">The server to run.</param>
    /// <param name="loadSettings">Reads the configuration file, the environment and the command line again, as at start.</param>
    /// <param name="logger">Where reloads are reported.</param>
    /// <param name="notifier">Tells the service manager about reloads; null when none is wanted.</param>
    public SockeyeHostedService(SockeyeServer server, Func<List<string>, SockeyeSettings?> loadSettings, ILogger logger, ServiceManagerNotifier? notifier = null)
    {
        _server = server;
        _loadSettings = loadSettings;
        _logger = logger;
        _notifier = notifier;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the listeners: once "Listening on" is printed, a SIGHUP must reload, not end the process with the
        // signal's default action. A reload before the start only replaces users and rules the server has not used yet.
        if (!OperatingSystem.IsWindows())
        {
            if (HangupSignal.TakeBackIfIgnored())
            {
                HostLog.HangupWasIgnored(_logger);
            }

            _hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnHangup);
        }

        await _server.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The drain, run in the host's first stopping step, before any service's <see cref="StopAsync"/>: the admin
    /// endpoint, which the host stops before this service, still answers /readyz with 503 all through it.
    /// </summary>
    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        _hangup?.Dispose();
        return _server.StopAsync(cancellationToken);
    }

    /// <summary>Stops the server if <see cref="StoppingAsync"/> has not (it returns at once if it has).</summary>
    public Task StopAsync(CancellationToken cancellationToken) => _server.StopAsync(cancellationToken);

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _hangup?.Dispose();

    /// <summary>Reads the configuration again; on any problem the users and rules in force stay as they are.</summary>
    internal void Reload()
    {
        lock (_reloadLock)
        {
            _notifier?.Reloading();
            var errors = new List<string>();
            SockeyeSettings? settings = _loadSettings(errors);
            if (settings is null)
            {
                HostLog.ReloadFailed(_logger, string.Join("; ", errors));
                _notifier?.Reloaded("Reload failed; the settings in force are unchanged");
                return;
            }

            try
            {
                _server.Reload(settings.Server);
                _notifier?.Reloaded("Accepting clients");
            }
            catch (OptionsValidationException e)
            {
                HostLog.ReloadFailed(_logger, string.Join("; ", e.Failures));
                _notifier?.Reloaded("Reload failed; the settings in force are unchanged");
            }
        }
    }

    private void OnHangup(PosixSignalContext context)
    {
        // Handled: without this the runtime would apply SIGHUP's default action and end the process.
        context.Cancel = true;
        HostLog.ReloadRequested(_logger);
        ThreadPool.UnsafeQueueUserWorkItem(static service => service.Reload(), this, preferLocal: false);
    }
}
