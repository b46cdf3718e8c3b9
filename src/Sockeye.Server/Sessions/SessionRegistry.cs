using System.Collections.Concurrent;

namespace Sockeye.Server.Sessions;

/// <summary>
/// The live sessions of one server: counted for drain on shutdown, and swept by one shared timer for the idle timeout
/// (one timer for all, rather than a timer reset on every read).
/// </summary>
internal sealed class SessionRegistry : IDisposable
{
    private readonly ConcurrentDictionary<long, Socks5Session> _sessions = new();
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _idleTimeout;
    private readonly TimeSpan _udpIdleTimeout;
    private readonly ITimer? _idleSweep;
    private readonly Lock _emptyLock = new();
    private TaskCompletionSource? _empty;

    // udpIdleTimeout: for sessions that are UDP associations, instead of idleTimeout. Zero (or infinite) disables either.
    public SessionRegistry(TimeProvider timeProvider, TimeSpan idleTimeout, TimeSpan udpIdleTimeout)
    {
        _timeProvider = timeProvider;
        _idleTimeout = idleTimeout > TimeSpan.Zero ? idleTimeout : TimeSpan.Zero;
        _udpIdleTimeout = udpIdleTimeout > TimeSpan.Zero ? udpIdleTimeout : TimeSpan.Zero;
        long shortest = Math.Min(_idleTimeout == TimeSpan.Zero ? long.MaxValue : _idleTimeout.Ticks,
            _udpIdleTimeout == TimeSpan.Zero ? long.MaxValue : _udpIdleTimeout.Ticks);
        if (shortest != long.MaxValue)
        {
            // Sweeping four times per timeout closes an idle tunnel within 1.25 timeouts; at most once a second.
            TimeSpan period = TimeSpan.FromTicks(Math.Min(shortest / 4, TimeSpan.TicksPerSecond));
            _idleSweep = timeProvider.CreateTimer(static state => ((SessionRegistry)state!).SweepIdle(), this, period, period);
        }
    }

    public int Count => _sessions.Count;

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

    private void SweepIdle()
    {
        long now = _timeProvider.GetTimestamp();
        foreach (KeyValuePair<long, Socks5Session> entry in _sessions)
        {
            Socks5Session session = entry.Value;
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

    public void Dispose() => _idleSweep?.Dispose();
}
