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
/// Each session is judged by the timeouts of the settings it was accepted under (<see cref="ProxySession.Settings"/>),
/// so a reload's timeouts apply to new sessions only. The sweep's period only ever shortens: sessions accepted under
/// shorter timeouts than a reload's may still be open.
/// </remarks>
internal sealed class SessionRegistry : IDisposable
{
    private readonly ConcurrentDictionary<long, ProxySession> _sessions = new();
    private readonly TimeProvider _timeProvider;
    private readonly Lock _sweepLock = new();
    private readonly Lock _emptyLock = new();

    // The sessions in their handshake, oldest first, so that the handshake cap evicts the oldest without walking every
    // session (with 100 000 tunnels up, a flood of handshakes over the cap made each accept a walk of all of them).
    private readonly Lock _handshakesLock = new();
    private ProxySession? _oldestHandshake;
    private ProxySession? _newestHandshake;
    private ITimer? _sweep;
    private long _sweepPeriodTicks = long.MaxValue;
    private bool _disposed;
    private TaskCompletionSource? _empty;

    /// <summary>A registry whose sweep serves sessions under <paramref name="settings"/>' timeouts.</summary>
    public SessionRegistry(TimeProvider timeProvider, SessionSettings settings)
    {
        _timeProvider = timeProvider;
        Watch(settings);
    }

    public int Count => _sessions.Count;

    /// <summary>
    /// Makes the sweep frequent enough for sessions under <paramref name="settings"/>' timeouts (a reload's), as well as
    /// for those it already served; a timeout of zero is disabled.
    /// </summary>
    public void Watch(SessionSettings settings)
    {
        long shortest = Math.Min(Math.Min(Ticks(settings.IdleTimeout), Ticks(settings.UdpIdleTimeout)), Ticks(settings.HandshakeTimeout));
        if (shortest == long.MaxValue)
        {
            return;
        }

        long period = Math.Max(1, Math.Min(shortest / 4, TimeSpan.TicksPerSecond));
        lock (_sweepLock)
        {
            if (_disposed || period >= _sweepPeriodTicks)
            {
                return;
            }

            _sweepPeriodTicks = period;
            if (_sweep is null)
            {
                _sweep = _timeProvider.CreateTimer(static state => ((SessionRegistry)state!).Sweep(), this, TimeSpan.FromTicks(period), TimeSpan.FromTicks(period));
            }
            else
            {
                _sweep.Change(TimeSpan.FromTicks(period), TimeSpan.FromTicks(period));
            }
        }

        static long Ticks(TimeSpan timeout) => timeout == TimeSpan.Zero ? long.MaxValue : timeout.Ticks;
    }

    /// <summary>The sessions open now, for a collector's reading; a session may end while it is read.</summary>
    public IEnumerable<ProxySession> Sessions
    {
        get
        {
            foreach (KeyValuePair<long, ProxySession> entry in _sessions)
            {
                yield return entry.Value;
            }
        }
    }

    public void Add(ProxySession session)
    {
        _sessions[session.Id] = session;
        if (session.IsInHandshake)
        {
            lock (_handshakesLock)
            {
                session.HandshakesPrevious = _newestHandshake;
                session.HandshakesNext = null;
                if (_newestHandshake is null)
                {
                    _oldestHandshake = session;
                }
                else
                {
                    _newestHandshake.HandshakesNext = session;
                }

                _newestHandshake = session;
                session.InHandshakeList = true;
            }
        }
    }

    /// <summary>The session's handshake is over (it relays, or it ended): it is no longer a candidate for eviction.</summary>
    public void LeftHandshake(ProxySession session)
    {
        lock (_handshakesLock)
        {
            Unlink(session);
        }
    }

    public void Remove(ProxySession session)
    {
        LeftHandshake(session);
        _sessions.TryRemove(session.Id, out _);

        // Only a drain waits for the registry to empty, so a session's end asks whether it is empty only then: IsEmpty
        // takes every stripe's lock when it is (about 330 instructions, each time the last session ends). The exchange is
        // a full fence, as is the drain's after it publishes its wait: either this sees the wait, or the drain sees this
        // removal.
        if (Interlocked.CompareExchange(ref _empty, null, null) is { } empty && _sessions.IsEmpty)
        {
            empty.TrySetResult();
        }
    }

    /// <summary>Completes when no session is left.</summary>
    public Task WhenEmptyAsync()
    {
        TaskCompletionSource empty;
        lock (_emptyLock)
        {
            if (_empty is null || _empty.Task.IsCompleted)
            {
                Volatile.Write(ref _empty, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            }

            empty = _empty!;
        }

        Interlocked.MemoryBarrier();
        if (_sessions.IsEmpty)
        {
            empty.TrySetResult();
        }

        return empty.Task;
    }

    /// <summary>Aborts every session that matches <paramref name="predicate"/>; returns how many.</summary>
    public int AbortWhere(Func<ProxySession, bool> predicate, SessionCloseReason reason)
    {
        int count = 0;
        foreach (KeyValuePair<long, ProxySession> entry in _sessions)
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
    public bool AbortOldestHandshake(ProxySession except)
    {
        ProxySession? oldest;
        lock (_handshakesLock)
        {
            oldest = _oldestHandshake;

            // A session already aborted (by the sweep's handshake timeout) is on its way out; evicting it again would
            // make no room. It leaves the list as it ends, so few are ever passed over here.
            while (oldest is not null && (oldest == except || oldest.CloseReason != SessionCloseReason.None))
            {
                oldest = oldest.HandshakesNext;
            }

            // Out of the list now: the next eviction, perhaps before this abort has ended it, takes the next one.
            if (oldest is not null)
            {
                Unlink(oldest);
            }
        }

        oldest?.Abort(SessionCloseReason.HandshakeEvicted);
        return oldest is not null;
    }

    private void Unlink(ProxySession session)
    {
        if (!session.InHandshakeList)
        {
            return;
        }

        if (session.HandshakesPrevious is null)
        {
            _oldestHandshake = session.HandshakesNext;
        }
        else
        {
            session.HandshakesPrevious.HandshakesNext = session.HandshakesNext;
        }

        if (session.HandshakesNext is null)
        {
            _newestHandshake = session.HandshakesPrevious;
        }
        else
        {
            session.HandshakesNext.HandshakesPrevious = session.HandshakesPrevious;
        }

        session.HandshakesPrevious = null;
        session.HandshakesNext = null;
        session.InHandshakeList = false;
    }

    private void Sweep()
    {
        long now = _timeProvider.GetTimestamp();
        foreach (KeyValuePair<long, ProxySession> entry in _sessions)
        {
            ProxySession session = entry.Value;
            SessionSettings settings = session.Settings;
            if (session.IsInHandshake)
            {
                // An aborted session is on its way out, under the reason it was given.
                if (settings.HandshakeTimeout > TimeSpan.Zero && session.CloseReason == SessionCloseReason.None &&
                    _timeProvider.GetElapsedTime(session.StartTimestamp, now) >= settings.HandshakeTimeout)
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
            TimeSpan timeout = udp ? settings.UdpIdleTimeout : settings.IdleTimeout;
            if (timeout > TimeSpan.Zero && _timeProvider.GetElapsedTime(session.LastActivityTimestamp, now) >= timeout)
            {
                session.Abort(udp ? SessionCloseReason.UdpIdleTimeout : SessionCloseReason.IdleTimeout);
            }
        }
    }

    public void Dispose()
    {
        lock (_sweepLock)
        {
            _disposed = true;
            _sweep?.Dispose();
        }
    }
}
