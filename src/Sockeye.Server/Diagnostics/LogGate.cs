namespace Sockeye.Server.Diagnostics;

/// <summary>
/// Lets one report of a recurring condition through per interval and counts the occurrences in between, so that a flood
/// (of refused connections, failed accepts) costs a log line per interval, not one per event.
/// </summary>
internal sealed class LogGate
{
    private readonly TimeProvider _timeProvider;
    private readonly long _intervalTicks;
    private long _nextReport = long.MinValue;
    private long _occurrences;

    public LogGate(TimeProvider timeProvider, TimeSpan interval)
    {
        _timeProvider = timeProvider;
        _intervalTicks = (long)(interval.TotalSeconds * timeProvider.TimestampFrequency);
    }

    /// <summary>The interval of the server's own gates: one line per condition each 10 seconds.</summary>
    public static TimeSpan DefaultInterval { get; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Counts an occurrence; <see langword="true"/> when it is to be reported, with how many occurred since the last
    /// report (this one included).
    /// </summary>
    public bool TryReport(out long occurrences)
    {
        Interlocked.Increment(ref _occurrences);
        long now = _timeProvider.GetTimestamp();
        long next = Interlocked.Read(ref _nextReport);
        if (now < next || Interlocked.CompareExchange(ref _nextReport, now + _intervalTicks, next) != next)
        {
            occurrences = 0;
            return false;
        }

        occurrences = Interlocked.Exchange(ref _occurrences, 0);
        return true;
    }
}
