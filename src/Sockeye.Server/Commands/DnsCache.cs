using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

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
    private readonly TimeProvider _timeProvider;
    private long _ttlTicks;

    public DnsCache(IHostResolver resolver, TimeSpan ttl, TimeProvider timeProvider)
    {
        _resolver = resolver;
        _ttlTicks = ttl.Ticks;
        _timeProvider = timeProvider;
    }

    /// <summary>
    /// How long an answer is reused. A reload may change it: it applies to every lookup from then on, answers cached
    /// before included, since each is judged by its age when it is read.
    /// </summary>
    public TimeSpan Ttl
    {
        get => TimeSpan.FromTicks(Volatile.Read(ref _ttlTicks));
        set => Volatile.Write(ref _ttlTicks, value.Ticks);
    }

    /// <summary>
    /// The addresses of <paramref name="host"/>. Throws <see cref="SocketException"/> when it does not resolve, whatever
    /// the resolver threw, so that every command answers that as a host it cannot reach; only a cancellation passes as is.
    /// </summary>
    public async ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        long now = _timeProvider.GetTimestamp();
        TimeSpan ttl = Ttl;
        if (_entries.TryGetValue(host, out Entry? cached) && _timeProvider.GetElapsedTime(cached.ResolvedAt, now) < ttl)
        {
            return cached.Addresses;
        }

        IPAddress[] addresses;
        try
        {
            addresses = await _resolver.ResolveAsync(host, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not SocketException and not OperationCanceledException)
        {
            // Issue 17: the runtime's resolver throws ArgumentException for names it will not look up (it did for "0"
            // and "::"), and a resolver may fail in ways nobody listed. To the client that is still a name that does
            // not resolve (X'04'), never a fault that resets its session.
            throw new SocketException((int)SocketError.HostNotFound, e.Message);
        }

        if (ttl > TimeSpan.Zero && addresses.Length > 0)
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
