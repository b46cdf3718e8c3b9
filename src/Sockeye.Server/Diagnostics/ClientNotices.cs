using System.Net;
using Microsoft.Extensions.Logging;

namespace Sockeye.Server.Diagnostics;

/// <summary>
/// Decides which handshakes the server turned away (a failed login, no acceptable method, a client that does not speak
/// SOCKS5) are told at Information: the first from each client address in a <see cref="Window"/>, and then, once the
/// window has passed, one line with how many more there were. An operator asking why a client cannot connect finds the
/// answer at the default level, and a flood, from one address or many, costs a bounded number of lines.
/// </summary>
/// <remarks>
/// At most <see cref="MaxAddresses"/> addresses are followed at once; the notices of any beyond them are held back and
/// counted together (event 2012 with the address <c>others</c>). Entries whose window has passed are reported and
/// dropped by a timer of the server's clock, so the table never holds more than two windows' worth of addresses.
/// </remarks>
internal sealed class ClientNotices : IDisposable
{
    /// <summary>How long an address's first notice covers the ones that follow it.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <summary>Addresses followed at once: beyond them, notices are only counted.</summary>
    public const int MaxAddresses = 1024;

    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly long _windowTicks;
    private readonly Dictionary<IPAddress, Entry> _entries = [];
    private readonly Lock _lock = new();
    private ITimer? _flush;
    private bool _disposed;
    private long _othersHeldBack;

    public ClientNotices(ILogger logger, TimeProvider timeProvider)
    {
        _logger = logger;
        _timeProvider = timeProvider;
        _windowTicks = (long)(Window.TotalSeconds * timeProvider.TimestampFrequency);
    }

    /// <summary>
    /// Whether a notice about <paramref name="client"/> is to be logged now: the first in its window. Otherwise it is
    /// counted, and reported with the others when the window has passed.
    /// </summary>
    public bool ShouldNotice(IPAddress client)
    {
        long now = _timeProvider.GetTimestamp();
        lock (_lock)
        {
            if (_entries.TryGetValue(client, out Entry entry))
            {
                if (now < entry.WindowEnd)
                {
                    _entries[client] = entry with { HeldBack = entry.HeldBack + 1 };
                    return false;
                }

                // A window that passed before the timer came to it: its count is reported now, and a new one starts.
                ReportHeldBack(client.ToString(), entry.HeldBack);
            }
            else if (_entries.Count >= MaxAddresses)
            {
                _othersHeldBack++;
                return false;
            }

            _entries[client] = new Entry(now + _windowTicks, 0);

            // Started with the first notice: a server that turns nobody away runs no timer for it.
            if (_flush is null && !_disposed)
            {
                _flush = _timeProvider.CreateTimer(static state => ((ClientNotices)state!).Flush(), this, Window, Window);
            }

            return true;
        }
    }

    /// <summary>Reports the counts of the windows that have passed and forgets their addresses.</summary>
    private void Flush()
    {
        long now = _timeProvider.GetTimestamp();
        lock (_lock)
        {
            List<IPAddress>? passed = null;
            foreach ((IPAddress client, Entry entry) in _entries)
            {
                if (now >= entry.WindowEnd)
                {
                    ReportHeldBack(client.ToString(), entry.HeldBack);
                    (passed ??= []).Add(client);
                }
            }

            if (passed is not null)
            {
                foreach (IPAddress client in passed)
                {
                    _entries.Remove(client);
                }
            }

            ReportHeldBack("others", _othersHeldBack);
            _othersHeldBack = 0;
        }
    }

    private void ReportHeldBack(string client, long count)
    {
        if (count > 0)
        {
            SessionLog.ClientNoticesHeldBack(_logger, count, client, Window);
        }
    }

    /// <summary>Stops the timer; what is held back then is not reported.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _flush?.Dispose();
        }
    }

    private readonly record struct Entry(long WindowEnd, long HeldBack);
}
