using System.Collections.Concurrent;
using System.Net;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Authentication;

/// <summary>
/// Failed logins per client address: a growing wait before that address's next attempt is checked, then a temporary ban.
/// Password guessing from one address slows to a crawl and then stops, and no other client notices. Bounded: addresses
/// whose failures have expired are forgotten when the table grows.
/// </summary>
internal sealed class LoginThrottle
{
    private const int PruneAbove = 10_000;

    private readonly AuthenticationOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ConcurrentDictionary<IPAddress, Record> _records = new();

    public LoginThrottle(AuthenticationOptions options, TimeProvider timeProvider)
    {
        _options = options;
        _timeProvider = timeProvider;
    }

    /// <summary>What an address's next attempt faces: a ban, or a wait (zero for an address without recent failures).</summary>
    public (bool Banned, TimeSpan Delay) Check(IPAddress client)
    {
        if (!_records.TryGetValue(client, out Record? record))
        {
            return (false, TimeSpan.Zero);
        }

        lock (record)
        {
            long now = _timeProvider.GetTimestamp();
            if (_timeProvider.GetElapsedTime(record.LastFailure, now) >= _options.BanDuration)
            {
                return (false, TimeSpan.Zero);
            }

            if (_options.MaxFailures > 0 && record.Failures >= _options.MaxFailures)
            {
                return (true, TimeSpan.Zero);
            }

            double factor = Math.Pow(2, Math.Min(record.Failures - 1, 20));
            TimeSpan delay = TimeSpan.FromTicks((long)Math.Min(_options.FailureDelay.Ticks * factor, _options.MaxFailureDelay.Ticks));
            return (false, delay);
        }
    }

    /// <summary>Records a failure; returns true when it starts a ban.</summary>
    public bool RecordFailure(IPAddress client)
    {
        if (_records.Count > PruneAbove)
        {
            Prune();
        }

        Record record = _records.GetOrAdd(client, static _ => new Record());
        lock (record)
        {
            long now = _timeProvider.GetTimestamp();
            if (record.Failures > 0 && _timeProvider.GetElapsedTime(record.LastFailure, now) >= _options.BanDuration)
            {
                record.Failures = 0;
            }

            record.Failures++;
            record.LastFailure = now;
            return _options.MaxFailures > 0 && record.Failures == _options.MaxFailures;
        }
    }

    /// <summary>A successful login clears the address's record.</summary>
    public void RecordSuccess(IPAddress client) => _records.TryRemove(client, out _);

    private void Prune()
    {
        long now = _timeProvider.GetTimestamp();
        foreach (KeyValuePair<IPAddress, Record> entry in _records)
        {
            if (_timeProvider.GetElapsedTime(entry.Value.LastFailure, now) >= _options.BanDuration)
            {
                _records.TryRemove(entry);
            }
        }
    }

    private sealed class Record
    {
        public int Failures;
        public long LastFailure;
    }
}
