namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// Decides, each time an <see cref="EpollLoop"/> runs out of events, whether it polls for the next one (for at most its
/// window) or sleeps in epoll_wait(2): it polls while it is busy handling events most of its time and nearly every
/// recent gap between batches ended within the window, unless its batches show a concurrent load. Used by the loop's
/// own thread only.
/// </summary>
/// <remarks>
/// <para>
/// Polling pays off when the next event comes soon: the loop is awake for it, where a sleeping thread pays a wake-up of
/// tens of microseconds of latency and a few of CPU. When gaps are longer than the window, every poll is spent for
/// nothing and then the wake-up is paid anyway. Under a light but steady load (a ping-pong paced at 1 000 or 10 000 a
/// second) half the gaps or more are of that kind, and polling after every batch kept a core busy for work that costs
/// the peers half of one (docs/performance-notes.md). Under a load that keeps the loop busy (a bulk stream, a burst of
/// tunnels, round trips back to back) nearly every poll finds work and polling stays on.
/// </para>
/// <para>
/// The measure is the share of recent gaps that ended within the window, an exponentially weighted average over about
/// the last 16. While the loop sleeps it cannot see whether a poll would have found work (the time it slept includes
/// its own wake-up), so one gap in <see cref="ProbeOneIn"/>, chosen at random, is polled anyway as a sample; random,
/// so that a load whose gaps alternate (short after a request, long after the answer) is not sampled on one kind only.
/// </para>
/// <para>
/// Short gaps alone do not say that polling pays. A poll saves the wake-up of one event: that is a hop of latency when
/// the loop serves one exchange at a time (a lone ping-pong, a lone client's tunnels, a bulk stream), whose batches hold
/// one event each. Under a concurrent load (16 clients opening tunnels) the gaps are short too, but while the loop
/// sleeps, events of other sessions pile up and one wake-up serves several; polling takes each as it comes, a batch of
/// one or two, and pays its own time on top: at 16 tunnel workers it added a quarter to the proxy's CPU per tunnel
/// against not polling, for a rate within the run-to-run spread (docs/performance-journal.md, 2026-12-05 22:15–22:50).
/// So the loop also keeps the share of recent batches that held more than one event, and does not poll while it is
/// high.
/// </para>
/// <para>
/// Nor do short gaps say that polling is cheap. A poll costs the gap's time: while a lone client's ping-pong runs back
/// to back, each event takes the loop about 12 µs and the next comes 26 µs later, so polling kept the loop's core busy
/// for round trips that cost a sleeping loop (and the peers) a third of one: a 40 % shorter round trip for nearly three
/// times the CPU. And whether such gaps fall within the window moves with the machine's speed, so the same load was polled
/// in some runs and not in others (docs/performance-journal.md, 2026-12-06 08:16–08:20). So the loop also keeps the
/// share of its time it spends handling batches rather than waiting for them, and polls only while that is high: then
/// the gaps it polls through are a small part of its time, and the wake-ups it saves are what limits a bulk stream or
/// a burst of work. A loop that is mostly waiting sleeps, however soon its next event comes, and costs what the work
/// costs (2026-12-06 09:38–10:16).
/// </para>
/// </remarks>
internal struct AdaptivePolling
{
    /// <summary>How many gaps in a row, on average, the loop sleeps through before it samples one by polling.</summary>
    /// <remarks>
    /// A sample that finds no work costs the whole window: at one in 16, a ping-pong paced at 10 000 a second (20 000
    /// gaps, half of them long) spent about 4 % of a core on samples, against 1 % at one in 64. The price is how soon a
    /// load that turns busy is polled again: some 45 samples from no short gap at all, about 3 000 gaps, a tenth of a
    /// second at the 30 µs gaps of round trips back to back.
    /// </remarks>
    public const int ProbeOneIn = 64;

    // The share of gaps within the window, in 1/1024ths. Polling starts at 15/16 and stops under 7/8: a load whose gaps
    // alternate between short and long (half of them within the window) sleeps, and so does a light stream of tunnels,
    // whose setup has a handful of short gaps (the client's next message) and then a long one; round trips back to back
    // or a busy loop (nearly every gap short) poll. The space between keeps a share near one threshold from switching on
    // every gap.
    private const int Whole = 1024;
    private const int StartPollingAt = Whole * 15 / 16;
    private const int StopPollingBelow = Whole * 7 / 8;
    private const int WeightShift = 4;

    // The share of batches with more than one event, in 1/1024ths, weighted over about the last 16 batches. A loop
    // serving one exchange at a time has about 1 in 100 (a FIN and the other side's data in one batch); 16 tunnel
    // workers about 55 in 100 while it polls, more while it sleeps. Concurrent from 1/4, serial again under 1/8.
    private const int ConcurrentFrom = Whole / 4;
    private const int SerialBelow = Whole / 8;

    // The share of the loop's time spent handling batches rather than waiting for them, in 1/1024ths, weighted over
    // about the last 16 batches. A loop that handles a lone ping-pong's events is busy about a third of its time when
    // it polls (the rest is the gaps it polls through), a fifth when it sleeps; a bulk stream keeps it busy most of
    // the time. Busy from 1/2, idle again under 3/8.
    private const int BusyFrom = Whole / 2;
    private const int IdleBelow = Whole * 3 / 8;

    private int _share;
    private int _busyShare;
    private bool _busy;
    private bool _polling;
    private uint _random;
    private int _multiEventShare;
    private bool _concurrent;

    /// <summary>Starts in the polling state, as if every recent gap had been short.</summary>
    public AdaptivePolling(uint seed)
    {
        _share = Whole;
        _busyShare = Whole;
        _busy = true;
        _polling = true;
        _random = seed | 1;
        _multiEventShare = 0;
        _concurrent = false;
    }

    /// <summary>
    /// Whether the loop polls now: it is busy, its recent gaps were mostly short and its batches show no concurrent load.
    /// </summary>
    public readonly bool IsPolling => _polling && _busy && !_concurrent;

    /// <summary>Whether the loop spends most of its recent time handling batches rather than waiting for them.</summary>
    public readonly bool IsBusy => _busy;

    /// <summary>The share of the loop's recent time spent handling batches, from 0 to 1.</summary>
    public readonly double ShareBusy => (double)_busyShare / Whole;

    /// <summary>Whether the recent batches held several events often enough to call the load concurrent.</summary>
    public readonly bool IsConcurrent => _concurrent;

    /// <summary>The share of recent batches that held more than one event, from 0 to 1.</summary>
    public readonly double ShareOfMultiEventBatches => (double)_multiEventShare / Whole;

    /// <summary>The share of recent gaps that ended within the window, from 0 to 1.</summary>
    public readonly double ShareWithinWindow => (double)_share / Whole;

    /// <summary>
    /// Whether to poll through the gap that starts now: always while <see cref="IsPolling"/>, otherwise as an occasional
    /// sample. The caller reports how the poll ended with <see cref="OnPolled"/>.
    /// </summary>
    public bool ShouldPoll()
    {
        if (_concurrent || !_busy)
        {
            // Concurrent: sleeping is what batches the events. Idle: a poll would cost more of the loop's time than its
            // work. Either way the gap share is not sampled meanwhile, and is read as it was left when that changes.
            return false;
        }

        if (_polling)
        {
            return true;
        }

        // xorshift32: cheap, and any fixed pattern in the gaps is unlikely to line up with it.
        uint x = _random;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        _random = x;
        return x % ProbeOneIn == 0;
    }

    /// <summary>
    /// Records how many events a batch the loop handled held (its own wake-up not counted), how long handling it took and
    /// how long the loop waited for it since the batch before (polling or asleep); empty batches are not reported.
    /// </summary>
    public void OnBatch(int events, long busyTicks, long waitedTicks)
    {
        int target = events > 1 ? Whole : 0;
        _multiEventShare += (target - _multiEventShare) >> WeightShift;
        _concurrent = _concurrent ? _multiEventShare >= SerialBelow : _multiEventShare >= ConcurrentFrom;

        long total = busyTicks + waitedTicks;
        int busyTarget = total <= 0 ? Whole : (int)(Math.Max(busyTicks, 0) * Whole / total);
        _busyShare += (busyTarget - _busyShare) >> WeightShift;
        _busy = _busy ? _busyShare >= IdleBelow : _busyShare >= BusyFrom;
    }

    /// <summary>Records a poll that found work within the window (<paramref name="foundWork"/>) or ran out.</summary>
    public void OnPolled(bool foundWork)
    {
        int target = foundWork ? Whole : 0;
        _share += (target - _share) >> WeightShift;
        _polling = _polling ? _share >= StopPollingBelow : _share >= StartPollingAt;
    }
}
