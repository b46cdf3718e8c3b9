using System.Runtime.InteropServices;
using Sockeye.Server.Diagnostics;

namespace Sockeye.Server.Transport.Linux;

/// <summary>Something with a deadline on an <see cref="EpollLoop"/> (<see cref="EpollLoop.AddDeadline"/>).</summary>
internal interface IEpollDeadlineTarget
{
    /// <summary>The deadline passed before <see cref="EpollLoop.RemoveDeadline"/>; called once, on the loop's thread.</summary>
    void OnDeadline();
}

/// <summary>Deadlines, checked by the loop between its turns and bounding how long it sleeps.</summary>
/// <remarks>
/// A connect on a loop socket needs a timeout, and a <see cref="CancellationTokenSource"/> with a timer, linked to the
/// session's own, is five objects and some 400 bytes per tunnel that stay in the heap until the next collection
/// (docs/performance-journal.md). Deadlines of one length come due in the order they were added, so each length gets a
/// ring in that order: adding, removing and finding the next due are O(1), and a removed deadline leaves an empty slot
/// that the loop skips, holding no reference. In practice a loop has one length: its server's connect timeout.
/// </remarks>
internal sealed partial class EpollLoop
{
    /// <summary>The ticket of a deadline a failed loop handed to the thread pool at once: removing it removes nothing.</summary>
    private const long NoDeadline = -1;

    private readonly Lock _deadlineLock = new();

    // Only on a clock other than the system's: wakes the loop when that clock reaches the next deadline.
    private readonly ITimer? _deadlineTimer;
    private readonly List<DeadlineRing> _deadlineRings = [];
    private volatile int _deadlineCount;

    /// <summary>
    /// Calls <paramref name="target"/>'s <see cref="IEpollDeadlineTarget.OnDeadline"/> on the loop's thread once
    /// <paramref name="timeout"/> has passed on the loop's clock (the server's <see cref="TimeProvider"/>), unless <see cref="RemoveDeadline"/> comes first.
    /// Returns the ticket that removes it.
    /// </summary>
    public long AddDeadline(IEpollDeadlineTarget target, TimeSpan timeout)
    {
        long length = (long)(timeout.TotalSeconds * _time.TimestampFrequency);
        long due = _time.GetTimestamp() + length;
        bool earliest;
        long ticket;
        lock (_deadlineLock)
        {
            if (_failed)
            {
                // A failed loop comes to no deadline (RunEveryDeadlineAfterFault took those it had): this one comes now,
                // on the thread pool, where its target finds its sockets failed and ends.
                ThreadPool.UnsafeQueueUserWorkItem(static target => target.OnDeadline(), target, preferLocal: false);
                return NoDeadline;
            }

            earliest = due < NextDueLocked();
            DeadlineRing? ring = null;
            int index = 0;
            for (; index < _deadlineRings.Count; index++)
            {
                if (_deadlineRings[index].Length == length)
                {
                    ring = _deadlineRings[index];
                    break;
                }
            }

            if (ring is null)
            {
                ring = new DeadlineRing(length);
                _deadlineRings.Add(ring);
            }

            // The ring's index in the ticket's top bits, its sequence number below.
            ticket = ((long)index << 48) | ring.Add(target, due);
            _deadlineCount++;
        }

        // A sleeping loop sleeps until the deadline it knew was next (or forever): tell it there is an earlier one.
        if (earliest && !IsCurrent)
        {
            Wake();
        }

        return ticket;
    }

    /// <summary>Cancels a deadline that has not come; returns whether it had not (its target will never be called).</summary>
    public bool RemoveDeadline(long ticket, IEpollDeadlineTarget target)
    {
        if (ticket == NoDeadline)
        {
            return false;
        }

        lock (_deadlineLock)
        {
            if (_deadlineRings[(int)(ticket >> 48)].Remove(ticket & ((1L << 48) - 1), target))
            {
                _deadlineCount--;
                return true;
            }

            return false;
        }
    }

    /// <summary>
    /// epoll_wait's timeout: -1 (none) without deadlines, else the milliseconds to the next one, rounded up. On a clock
    /// other than the system's (a test's fake one), whose time does not pass while the loop sleeps, the loop sleeps
    /// without a timeout and a timer of that clock wakes it when the next deadline comes.
    /// </summary>
    private int MillisecondsToNextDeadline()
    {
        if (_deadlineCount == 0)
        {
            return -1;
        }

        long next;
        lock (_deadlineLock)
        {
            next = NextDueLocked();
        }

        if (next == long.MaxValue)
        {
            return -1;
        }

        long now = _time.GetTimestamp();
        long ticks = next - now;
        if (_deadlineTimer is not null)
        {
            // The timer counts from the clock's time when it is set. Should the clock move between the reading above and
            // the Change (another thread advancing a test's clock), the timer would come late by that much, and a clock
            // then advanced exactly to the deadline would never wake the loop: set it again from the new time.
            while (ticks > 0)
            {
                _deadlineTimer.Change(TimeSpan.FromSeconds((double)ticks / _time.TimestampFrequency), Timeout.InfiniteTimeSpan);
                long after = _time.GetTimestamp();
                if (after == now)
                {
                    return -1;
                }

                (now, ticks) = (after, next - after);
            }

            return 0;
        }

        return ticks <= 0 ? 0 : (int)Math.Min(int.MaxValue, ((ticks * 1000) + _time.TimestampFrequency - 1) / _time.TimestampFrequency);
    }

    /// <summary>When the next deadline comes due; <see cref="long.MaxValue"/> when none is set. Under the lock.</summary>
    private long NextDueLocked()
    {
        long next = long.MaxValue;
        foreach (DeadlineRing ring in CollectionsMarshal.AsSpan(_deadlineRings))
        {
            next = Math.Min(next, ring.NextDue);
        }

        return next;
    }

    /// <summary>Calls the targets whose deadline has passed, outside the lock: one may add or remove another.</summary>
    private void RunDueDeadlines()
    {
        if (_deadlineCount != 0)
        {
            RunDeadlinesDueBy(_time.GetTimestamp());
        }
    }

    /// <summary>
    /// A failed loop will never come to its deadlines: each comes now instead, so that what waits on one (a connect, a
    /// paced direction) ends with its session rather than wait forever; the sockets it would go on with are failed.
    /// </summary>
    /// <remarks>Runs after <see cref="_failed"/> is set: a deadline added from now on is handed on at once (<see cref="AddDeadline"/>).</remarks>
    private void RunEveryDeadlineAfterFault() => RunDeadlinesDueBy(long.MaxValue);

    private void RunDeadlinesDueBy(long now)
    {
        while (true)
        {
            IEpollDeadlineTarget? due = null;
            lock (_deadlineLock)
            {
                // The earliest across the rings first: a loop that woke late may find several lengths due at once.
                DeadlineRing? earliest = null;
                long earliestDue = long.MaxValue;
                foreach (DeadlineRing ring in CollectionsMarshal.AsSpan(_deadlineRings))
                {
                    long next = ring.NextDue;
                    if (next <= now && next < earliestDue)
                    {
                        (earliest, earliestDue) = (ring, next);
                    }
                }

                due = earliest?.TakeDue(now);
                if (due is not null)
                {
                    _deadlineCount--;
                }
            }

            if (due is null)
            {
                return;
            }

            try
            {
                due.OnDeadline();
            }
            catch (Exception e)
            {
                ServerLog.EventLoopHandlerFailed(_logger, e);
            }
        }
    }

    /// <summary>
    /// Deadlines of one length, in the order they were added, which is the order they come due. The slot at the head
    /// always holds a deadline still set: every change that empties it moves the head past emptied slots.
    /// </summary>
    private sealed class DeadlineRing(long length)
    {
        private Entry[] _entries = new Entry[16];
        private long _head;
        private long _tail;

        public long Length { get; } = length;

        /// <summary>When the first deadline still set comes due; <see cref="long.MaxValue"/> when none is.</summary>
        public long NextDue => _head == _tail ? long.MaxValue : _entries[_head & (_entries.Length - 1)].Due;

        public long Add(IEpollDeadlineTarget target, long due)
        {
            if (_tail - _head == _entries.Length)
            {
                var larger = new Entry[_entries.Length * 2];
                for (long sequence = _head; sequence < _tail; sequence++)
                {
                    larger[sequence & (larger.Length - 1)] = _entries[sequence & (_entries.Length - 1)];
                }

                _entries = larger;
            }

            long added = _tail++;
            _entries[added & (_entries.Length - 1)] = new Entry(target, due);
            return added;
        }

        public bool Remove(long sequence, IEpollDeadlineTarget target)
        {
            if (sequence < _head || sequence >= _tail)
            {
                return false;
            }

            ref Entry entry = ref _entries[sequence & (_entries.Length - 1)];
            if (entry.Target != target)
            {
                return false;
            }

            entry = default;
            SkipRemoved();
            return true;
        }

        public IEpollDeadlineTarget? TakeDue(long now)
        {
            if (_head == _tail)
            {
                return null;
            }

            ref Entry entry = ref _entries[_head & (_entries.Length - 1)];
            if (entry.Due > now)
            {
                return null;
            }

            IEpollDeadlineTarget? target = entry.Target;
            entry = default;
            _head++;
            SkipRemoved();
            return target;
        }

        private void SkipRemoved()
        {
            while (_head != _tail && _entries[_head & (_entries.Length - 1)].Target is null)
            {
                _head++;
            }
        }

        private readonly record struct Entry(IEpollDeadlineTarget? Target, long Due);
    }
}
