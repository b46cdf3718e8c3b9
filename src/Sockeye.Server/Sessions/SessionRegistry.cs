using System.Collections.Concurrent;

namespace Sockeye.Server.Sessions;

/// <summary>
/// The live sessions of one server: counted for drain on shutdown, and swept by one shared timer for the handshake and
/// idle timeouts (one timer for all, rather than a timer per session, reset on every read).
/// </summary>
/// <remarks>
/// A sweep runs every quarter of the shortest timeout, at most once a second, so a session outlives its timeout by at
/// most a quarter of it (a second for timeouts of 4 s and more). A timer per handshake would be exact, but it is two
/// objects per session that an idle tunnel's memory figure counts until the next collection (docs/performance-notes.md).
/// </remarks>
internal sealed class SessionRegistry : IDisposable
{
    private readonly ConcurrentDictionary<long, Socks5Session> _sessions = new();
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _idleTimeout;
    private readonly TimeSpan _udpIdleTimeout;
    private readonly TimeSpan _handshakeTimeout;
    private readonly ITimer? _sweep;
    private readonly Lock _emptyLock = new();
    private TaskCompletionSource? _empty;

    // udpIdleTimeout: for sessions that are UDP associations, instead of idleTimeout. handshakeTimeout: from accept to
    // a complete request. Zero (or infinite) disables any of them.
    public SessionRegistry(TimeProvider timeProvider, TimeSpan idleTimeout, TimeSpan udpIdleTimeout, TimeSpan handshakeTimeout)
    {
        _timeProvider = timeProvider;
        _idleTimeout = Enabled(idleTimeout);
        _udpIdleTimeout = Enabled(udpIdleTimeout);
        _handshakeTimeout = Enabled(handshakeTimeout);
        long shortest = Math.Min(Math.Min(Ticks(_idleTimeout), Ticks(_udpIdleTimeout)), Ticks(_handshakeTimeout));
        if (shortest != long.MaxValue)
        {
            TimeSpan period = TimeSpan.FromTicks(Math.Max(1, Math.Min(shortest / 4, TimeSpan.TicksPerSecond)));
            _sweep = timeProvider.CreateTimer(static state => ((SessionRegistry)state!).Sweep(), this, period, period);
        }

        // Timeout.InfiniteTimeSpan is negative, so it counts as disabled too.
        static TimeSpan Enabled(TimeSpan timeout) => timeout > TimeSpan.Zero ? timeout : TimeSpan.Zero;

        static long Ticks(TimeSpan timeout) => timeout == TimeSpan.Zero ? long.MaxValue : timeout.Ticks;
    }

    public int Count => _sessions.Count;

    /// <summary>The sessions open now, for a collector's reading; a session may end while it is read.</summary>
    public IEnumerable<Socks5Session> Sessions
    {
        get
        {
            foreach (KeyValuePair<long, Socks5Session> entry in _sessions)
            {
                yield return entry.Value;
            }
        }
    }

    public void Add(Socks5Session session) => _sessions[session.Id] = session;

    public void Remove(Socks5Session session)
    {
        _sessions.TryRemove(session.Id, out _);
        if (_sessions.IsEmpty)
        {
            lock (_emptyLock)
            {
                _empty?.TrySetResult();
            }
        }
    }

    /// <summary>Completes when no session is left.</summary>
    public Task WhenEmptyAsync()
    {
        lock (_emptyLock)
        {
            if (_sessions.IsEmpty)
            {
                return Task.CompletedTask;
            }

            _empty ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _empty.Task;
        }
    }

    /// <summary>Aborts every session that matches <paramref name="predicate"/>; returns how many.</summary>
    public int AbortWhere(Func<Socks5Session, bool> predicate, SessionCloseReason reason)
    {
        int count = 0;
        foreach (KeyValuePair<long, Socks5Session> entry in _sessions)
        {
            if (predicate(entry.Value))
            {
                entry.Value.Abort(reason);
                count++;
            }
        }

        return count;
    }

    /// <summary>Aborts the session that has been in its handshake longest, other than <paramref name="except"/>.</summary>
    public bool AbortOldestHandshake(Socks5Session except)
    {
        Socks5Session? oldest = null;
        foreach (KeyValuePair<long, Socks5Session> entry in _sessions)
        {
            Socks5Session session = entry.Value;
            // A session already aborted is on its way out; evicting it again would make no room.
            if (session != except && session.IsInHandshake && session.CloseReason == SessionCloseReason.None &&
                (oldest is null || session.Id < oldest.Id))
            {
                oldest = session;
            }
        }

        oldest?.Abort(SessionCloseReason.HandshakeEvicted);
        return oldest is not null;
    }

    private void Sweep()
    {
        long now = _timeProvider.GetTimestamp();
        foreach (KeyValuePair<long, Socks5Session> entry in _sessions)
        {
            Socks5Session session = entry.Value;
            if (session.IsInHandshake)
            {
                // An aborted session is on its way out, under the reason it was given.
                if (_handshakeTimeout > TimeSpan.Zero && session.CloseReason == SessionCloseReason.None &&
                    _timeProvider.GetElapsedTime(session.StartTimestamp, now) >= _handshakeTimeout)
                {
                    session.Abort(SessionCloseReason.HandshakeTimeout);
                }

                continue;
            }

            if (session.Phase != HandshakePhase.Relaying)
            {
                continue;
            }

            // A UDP association's control connection is silent by design: only its datagrams count, against its own timeout.
            bool udp = session.IsUdpAssociation;
            TimeSpan timeout = udp ? _udpIdleTimeout : _idleTimeout;
            if (timeout > TimeSpan.Zero && _timeProvider.GetElapsedTime(session.LastActivityTimestamp, now) >= timeout)
            {
                session.Abort(udp ? SessionCloseReason.UdpIdleTimeout : SessionCloseReason.IdleTimeout);
            }
        }
    }

    public void Dispose() => _sweep?.Dispose();
}
