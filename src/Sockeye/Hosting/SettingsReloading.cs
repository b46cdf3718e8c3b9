using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.FileProviders.Physical;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Sockeye.Configuration;

namespace Sockeye.Hosting;

/// <summary>
/// One reading of the configuration file, the users file, the environment and the command line: the settings, or
/// why there are none. What <see cref="IOptionsMonitor{TOptions}"/> hands the host on every reload.
/// </summary>
/// <param name="Settings">The settings; null when <paramref name="Errors"/> says why they are not valid.</param>
/// <param name="Errors">Every problem found, each naming its key or file.</param>
/// <param name="Cause">What asked for the reading: <c>SIGHUP</c>, or the file that changed.</param>
internal sealed record SettingsLoad(SockeyeSettings? Settings, IReadOnlyList<string> Errors, string Cause);

/// <summary>
/// The change tokens behind the settings' <see cref="IOptionsMonitor{TOptions}"/>: a SIGHUP, or a change of the
/// configuration file or of the users file, seen by polling each file's modification time.
/// </summary>
/// <remarks>
/// <para>
/// Polling rather than inotify: it sees an edit in place, a file replaced by rename (as editors and
/// <c>sockeye user add</c> do), and a Kubernetes ConfigMap's symbolic-link swap alike, at the price of up to
/// <see cref="PollingInterval"/> of delay. A change is read once the file has been quiet for <see cref="SettleTime"/>,
/// so an editor's several writes make one reload, not one with a half-written file and then another.
/// </para>
/// <para>
/// The users file can change with the configuration: <see cref="Watch"/> is given the paths of each valid reading.
/// </para>
/// </remarks>
internal sealed class SettingsChangeSource : IOptionsChangeTokenSource<SettingsLoad>, IDisposable
{
    /// <summary>How long a changed file must stay unchanged before it is read.</summary>
    public static readonly TimeSpan SettleTime = TimeSpan.FromMilliseconds(500);

    /// <summary>How often the files are checked (the file provider's own polling period).</summary>
    public static readonly TimeSpan PollingInterval = TimeSpan.FromSeconds(4);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, PhysicalFileProvider> _providers = new(StringComparer.Ordinal);
    private readonly List<IDisposable> _watches = [];
    private readonly ITimer _settle;
    private CancellationTokenSource _change = new();
    private string _cause = "SIGHUP";
    private string? _changedFile;
    private IReadOnlyList<string> _watched = [];
    private bool _disposed;

    public SettingsChangeSource(TimeProvider timeProvider) =>
        _settle = timeProvider.CreateTimer(static state => ((SettingsChangeSource)state!).FileSettled(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    /// <inheritdoc/>
    public string Name => Options.DefaultName;

    /// <inheritdoc/>
    public IChangeToken GetChangeToken()
    {
        lock (_lock)
        {
            if (_change.IsCancellationRequested)
            {
                _change.Dispose();
                _change = new CancellationTokenSource();
            }

            return new CancellationChangeToken(_change.Token);
        }
    }

    /// <summary>Asks for a reading now, for <paramref name="cause"/> (a signal).</summary>
    public void Request(string cause)
    {
        CancellationTokenSource change;
        lock (_lock)
        {
            _cause = cause;
            change = _change;
        }

        // On the thread pool: the monitor reads the files and applies them in the token's callbacks.
        ThreadPool.UnsafeQueueUserWorkItem(static change => Cancel(change), change, preferLocal: false);
    }

    /// <summary>What asked for the reading in progress.</summary>
    public string Cause
    {
        get
        {
            lock (_lock)
            {
                return _cause;
            }
        }
    }

    /// <summary>Watches <paramref name="files"/> (the configuration file and the users file, those that are set) from now on.</summary>
    public void Watch(IReadOnlyList<string> files)
    {
        lock (_lock)
        {
            if (_disposed || (files.Count == _watched.Count && files.SequenceEqual(_watched, StringComparer.Ordinal)))
            {
                return;
            }

            _watched = files;
            foreach (IDisposable watch in _watches)
            {
                watch.Dispose();
            }

            _watches.Clear();
            foreach (string file in files)
            {
                WatchFile(file);
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (IDisposable watch in _watches)
            {
                watch.Dispose();
            }

            foreach (PhysicalFileProvider provider in _providers.Values)
            {
                provider.Dispose();
            }

            _settle.Dispose();
            _change.Dispose();
        }
    }

    // Under _lock.
    private void WatchFile(string file)
    {
        string directory = Path.GetDirectoryName(file)!;
        if (!_providers.TryGetValue(directory, out PhysicalFileProvider? provider))
        {
            if (!Directory.Exists(directory))
            {
                return;
            }

            // ExclusionFilters.None: a file whose name starts with a dot is watched too.
            provider = new PhysicalFileProvider(directory, ExclusionFilters.None) { UsePollingFileWatcher = true, UseActivePolling = true };
            _providers.Add(directory, provider);
        }

        IChangeToken token = provider.Watch(Path.GetFileName(file));
        _watches.Add(token.RegisterChangeCallback(static state =>
        {
            var (source, changed) = ((SettingsChangeSource, string))state!;
            source.FileChanged(changed);
        }, (this, file)));
    }

    private void FileChanged(string file)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            // A polling token fires once: watch again, and (re)start the quiet period.
            _changedFile = file;
            WatchFile(file);
            _settle.Change(SettleTime, Timeout.InfiniteTimeSpan);
        }
    }

    private void FileSettled()
    {
        CancellationTokenSource change;
        lock (_lock)
        {
            if (_disposed || _changedFile is null)
            {
                return;
            }

            _cause = $"{_changedFile} changed";
            _changedFile = null;
            change = _change;
        }

        Cancel(change);
    }

    private static void Cancel(CancellationTokenSource change)
    {
        try
        {
            change.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Stopped meanwhile.
        }
    }
}

/// <summary>Reads the settings for the monitor: never throws, so a bad file becomes errors, not a crash of the watcher's thread.</summary>
internal sealed class SettingsLoadFactory(Func<List<string>, SockeyeSettings?> loadSettings, SettingsChangeSource changes, ILogger logger) : IOptionsFactory<SettingsLoad>
{
    public SettingsLoad Create(string name)
    {
        string cause = changes.Cause;
        if (cause != "SIGHUP")
        {
            // SIGHUP has said so already (1103), as it arrived.
            HostLog.ReloadingChangedFile(logger, cause);
        }

        var errors = new List<string>();
        try
        {
            SockeyeSettings? settings = loadSettings(errors);
            return new SettingsLoad(settings, errors, cause);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add(e.Message);
            return new SettingsLoad(null, errors, cause);
        }
    }
}

/// <summary>
/// The log level in force, as Microsoft.Extensions.Logging reads it: the level of the settings last applied, and a
/// change token that fires when a reload changes it, so the loggers follow without a restart.
/// </summary>
internal sealed class LogLevelInForce : IConfigureOptions<LoggerFilterOptions>, IOptionsChangeTokenSource<LoggerFilterOptions>, IDisposable
{
    private readonly Lock _lock = new();
    private CancellationTokenSource _change = new();
    private LogLevel _level;

    public LogLevelInForce(LogLevel level) => _level = level;

    public string Name => Options.DefaultName;

    public LogLevel Level
    {
        get
        {
            lock (_lock)
            {
                return _level;
            }
        }
    }

    public void Configure(LoggerFilterOptions options) => options.MinLevel = Level;

    public IChangeToken GetChangeToken()
    {
        lock (_lock)
        {
            return new CancellationChangeToken(_change.Token);
        }
    }

    /// <summary>Puts <paramref name="level"/> in force for every logger; nothing happens when it is the level already in force.</summary>
    public void Set(LogLevel level)
    {
        CancellationTokenSource fired;
        lock (_lock)
        {
            if (level == _level)
            {
                return;
            }

            _level = level;
            fired = _change;
            _change = new CancellationTokenSource();
        }

        fired.Cancel();
        fired.Dispose();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _change.Dispose();
        }
    }
}
