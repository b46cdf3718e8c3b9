using System.Collections.Concurrent;
using System.Net;

namespace Sockeye.Server.Commands;

/// <summary>
/// Remembers resolved destination names for a while, so that a UDP flow to a name does not ask DNS per datagram.
/// Bounded: when it holds too many names it starts over rather than grow.
/// </summary>
internal sealed class DnsCache
{
    private const int MaxEntries = 4096;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);
    private readonly IHostResolver _resolver;
    private readonly TimeSpan _ttl;
    private readonly TimeProvider _timeProvider;

    public DnsCache(IHostResolver resolver, TimeSpan ttl, TimeProvider timeProvider)
    {
        _resolver = resolver;
        _ttl = ttl;
        _timeProvider = timeProvider;
    }

    /// <summary>The addresses of <paramref name="host"/>; throws <see cref="System.Net.Sockets.SocketException"/> when it does not resolve.</summary>
    public async ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        long now = _timeProvider.GetTimestamp();
        if (_entries.TryGetValue(host, out Entry? cached) && _timeProvider.GetElapsedTime(cached.ResolvedAt, now) < _ttl)
        {
            return cached.Addresses;
        }

        IPAddress[] addresses = await _resolver.ResolveAsync(host, cancellationToken).ConfigureAwait(false);
        if (_ttl > TimeSpan.Zero && addresses.Length > 0)
        {
            if (_entries.Count >= MaxEntries)
            {
                _entries.Clear();
            }

            _entries[host] = new Entry(addresses, now);
        }

        return addresses;
    }

    private sealed record Entry(IPAddress[] Addresses, long ResolvedAt);
}
