using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;

namespace Sockeye.Hosting;

/// <summary>
/// Tells systemd (or any service manager that sets <c>NOTIFY_SOCKET</c>, sd_notify(3)) where the server is:
/// <c>READY=1</c> once every listener accepts, <c>RELOADING=1</c> and <c>READY=1</c> around a reload, <c>STOPPING=1</c>
/// when the drain begins. Does nothing without <c>NOTIFY_SOCKET</c>.
/// </summary>
/// <remarks>
/// The messages go through Microsoft.Extensions.Hosting.Systemd's <see cref="SystemdNotifier"/>, which reads
/// <c>NOTIFY_SOCKET</c>. Its <c>UseSystemd</c> lifetime is not used: it only turns on when the parent process is systemd,
/// and it would also change the console log's format. Sockeye's own events say when each message is due.
/// </remarks>
internal sealed class ServiceManagerNotifier : IHostedService
{
    private readonly SystemdNotifier _notifier = new();
    private readonly IHostApplicationLifetime _lifetime;
    private CancellationTokenRegistration _started;
    private CancellationTokenRegistration _stopping;

    public ServiceManagerNotifier(IHostApplicationLifetime lifetime) => _lifetime = lifetime;

    /// <summary>Whether a service manager listens (<c>NOTIFY_SOCKET</c> is set).</summary>
    public bool IsEnabled => _notifier.IsEnabled;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_notifier.IsEnabled)
        {
            // ApplicationStarted fires once every hosted service has started: the SOCKS listeners accept, and the admin
            // endpoint, when configured, too.
            _started = _lifetime.ApplicationStarted.Register(static state => ((ServiceManagerNotifier)state!).Send("READY=1\nSTATUS=Accepting clients"), this);
            _stopping = _lifetime.ApplicationStopping.Register(static state => ((ServiceManagerNotifier)state!).Send("STOPPING=1\nSTATUS=Draining"), this);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _started.Dispose();
        _stopping.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>
    /// <c>RELOADING=1</c> with the monotonic time systemd asks of a reload (<c>MONOTONIC_USEC</c>, so that
    /// <c>Type=notify-reload</c> works too).
    /// </summary>
    public void Reloading()
    {
        if (_notifier.IsEnabled)
        {
            // Stopwatch is CLOCK_MONOTONIC on Linux: the clock systemd compares MONOTONIC_USEC with.
            long microseconds = (long)(Stopwatch.GetTimestamp() * (1_000_000.0 / Stopwatch.Frequency));
            Send(string.Create(CultureInfo.InvariantCulture, $"RELOADING=1\nMONOTONIC_USEC={microseconds}\nSTATUS=Reloading"));
        }
    }

    /// <summary><c>READY=1</c> after a reload, whether it applied or kept the old settings.</summary>
    public void Reloaded(string status)
    {
        if (_notifier.IsEnabled)
        {
            Send($"READY=1\nSTATUS={status}");
        }
    }

    private void Send(string message) => _notifier.Notify(new ServiceState(message));
}
