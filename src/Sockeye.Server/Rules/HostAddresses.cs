using System.Collections.Frozen;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Diagnostics;

namespace Sockeye.Server.Rules;

/// <summary>
/// The proxy host's own addresses, which the built-in guard denies as destinations: a service bound to the wildcard
/// address answers on every one of them, not only on loopback. The addresses are an immutable snapshot that
/// <see cref="Contains"/> reads without a lock or a system call; <see cref="Refresh"/> lists the interfaces again and
/// swaps a new snapshot in whole. Once <see cref="Start">started</see>, it refreshes whenever the provider reports a
/// change and, because that news does not come on every platform or in every container, every
/// <see cref="RefreshInterval"/> as well.
/// </summary>
internal sealed class HostAddresses : IDisposable
{
    /// <summary>
    /// How stale the snapshot may get without news of a change: an address the host gains unannounced is reachable
    /// through the proxy for at most this long. Listing reads a few files per interface on Linux, cheap at this rate.
    /// </summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(30);

    private readonly IHostAddressProvider _provider;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private FrozenSet<IPAddress> _snapshot = FrozenSet<IPAddress>.Empty;
    private IDisposable? _changes;
    private ITimer? _timer;
    private bool _disposed;

    /// <summary>An empty set, until <see cref="Refresh"/> or <see cref="Start"/> lists the addresses.</summary>
    public HostAddresses(IHostAddressProvider provider, TimeProvider timeProvider, ILogger logger)
    {
        _provider = provider;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>The addresses as last listed: IPv4 ones in IPv4 form (never IPv4-mapped), IPv6 ones without a scope.</summary>
    public FrozenSet<IPAddress> Snapshot => Volatile.Read(ref _snapshot);

    /// <summary>Whether <paramref name="address"/>, in any of its forms (IPv4-mapped, or with an IPv6 scope), is one of the host's.</summary>
    public bool Contains(IPAddress address) => Volatile.Read(ref _snapshot).Contains(Normalize(address));

    /// <summary>
    /// Lists the addresses now and puts them in force. When they cannot be listed, the snapshot in force stays and the
    /// failure is logged.
    /// </summary>
    public void Refresh()
    {
        // Under the lock, so that a slow listing (news and the timer can overlap) never replaces one that began later.
        lock (_lock)
        {
            IReadOnlyList<IPAddress> listed;
            try
            {
                listed = _provider.GetAddresses();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Whatever the listing throws (NetworkInformationException, or an IOException when /proc or /sys cannot be
                // opened at the open-file limit): this runs on a timer, where an exception would end the process.
                ServerLog.HostAddressesUnavailable(_logger, _snapshot.Count, e);
                return;
            }

            var addresses = new HashSet<IPAddress>(listed.Count);
            for (int i = 0; i < listed.Count; i++)
            {
                addresses.Add(Normalize(listed[i]));
            }

            Volatile.Write(ref _snapshot, addresses.ToFrozenSet());
        }
    }

    /// <summary>Lists the addresses now, then again on every change the provider reports and every <see cref="RefreshInterval"/>, until disposed.</summary>
    public void Start()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_timer is not null)
            {
                return;
            }

            // Watch first, then list: a change between the two is then either in the listing or reported after it.
            _changes = _provider.WatchChanges(Refresh);
            if (_changes is null)
            {
                ServerLog.HostAddressChangesNotReported(_logger, RefreshInterval);
            }

            _timer = _timeProvider.CreateTimer(static state => ((HostAddresses)state!).Refresh(), this, RefreshInterval, RefreshInterval);
        }

        Refresh();
    }

    /// <summary>Stops watching for changes; the snapshot in force stays.</summary>
    public void Dispose()
    {
        IDisposable? changes;
        ITimer? timer;
        lock (_lock)
        {
            _disposed = true;
            (changes, _changes) = (_changes, null);
            (timer, _timer) = (_timer, null);
        }

        // Outside the lock: a change being reported now waits for the lock in Refresh, and the provider may wait for it.
        changes?.Dispose();
        timer?.Dispose();
    }

    private static IPAddress Normalize(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)
        {
            // Interfaces report link-local addresses with their interface as scope; a client's destination has none.
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out _);
            return new IPAddress(bytes);
        }

        return address;
    }
}
