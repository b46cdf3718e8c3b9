using System.Net;
using Sockeye.Server.Rules;

namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>"The host's addresses" as a test sets them, with change news the test sends (or withholds).</summary>
internal sealed class FakeHostAddressProvider(params IPAddress[] addresses) : IHostAddressProvider
{
    private readonly Lock _lock = new();
    private readonly List<Action> _watchers = [];
    private IPAddress[] _addresses = addresses;
    private int _listings;

    /// <summary>Whether <see cref="WatchChanges"/> accepts watchers; false plays a platform without change news.</summary>
    public bool ReportsChanges { get; init; } = true;

    /// <summary>When set, listing fails with it.</summary>
    public Exception? Failure { get; set; }

    /// <summary>How many times the addresses were listed.</summary>
    public int Listings => Volatile.Read(ref _listings);

    public int Watchers
    {
        get
        {
            lock (_lock)
            {
                return _watchers.Count;
            }
        }
    }

    public IReadOnlyList<IPAddress> GetAddresses()
    {
        Interlocked.Increment(ref _listings);
        if (Failure is { } failure)
        {
            throw failure;
        }

        return Volatile.Read(ref _addresses);
    }

    public IDisposable? WatchChanges(Action onChanged)
    {
        if (!ReportsChanges)
        {
            return null;
        }

        lock (_lock)
        {
            _watchers.Add(onChanged);
        }

        return new Registration(this, onChanged);
    }

    /// <summary>Gives the host new addresses and, unless <paramref name="report"/> is false, tells every watcher.</summary>
    public void Change(IPAddress[] addresses, bool report = true)
    {
        Volatile.Write(ref _addresses, addresses);
        if (!report)
        {
            return;
        }

        Action[] watchers;
        lock (_lock)
        {
            watchers = [.. _watchers];
        }

        foreach (Action watcher in watchers)
        {
            watcher();
        }
    }

    private sealed class Registration(FakeHostAddressProvider provider, Action onChanged) : IDisposable
    {
        public void Dispose()
        {
            lock (provider._lock)
            {
                provider._watchers.Remove(onChanged);
            }
        }
    }
}
