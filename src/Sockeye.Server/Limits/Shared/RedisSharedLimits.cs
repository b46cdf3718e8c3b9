using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Sockeye.Server.Configuration;
using Sockeye.Server.Diagnostics;
using StackExchange.Redis;

namespace Sockeye.Server.Limits.Shared;

/// <summary>
/// Shared per-user limits in a Redis (StackExchange.Redis): the one file that names it. Every instance keeps a lease,
/// and counts its own sessions per user in Redis; an acquisition sums the counts of the instances whose lease still runs.
/// </summary>
/// <remarks>
/// <para>
/// Keys, all under one hash tag so that a Redis Cluster keeps them in one slot (the scripts touch several at once):
/// <c>{prefix}:leases</c>, a hash of instance → the Redis time (ms) its lease runs out; <c>{prefix}:sessions:USER</c>, a
/// hash of instance → the sessions of USER it holds. The instance is a random id per process start: an instance
/// restarted is a new one, and the old one's sessions go with its lease.
/// </para>
/// <para>
/// Leases are per instance rather than per session, so that renewing them costs one command per period whatever the
/// sessions. An instance that dies without a word stops renewing; within a lease its counts stop counting, and the next
/// acquisition for the user deletes them. All times are Redis's own clock (TIME), so the instances' clocks may disagree.
/// </para>
/// <para>
/// The instance also keeps its counts here (<see cref="_counts"/>), whatever Redis says, so that it can decide alone. On
/// any failure or timeout it falls back to them at once: sessions are admitted by the local cap alone and nothing is sent.
/// While it is local, what it holds in Redis goes stale; when Redis answers again (probed on the lease timer), it
/// rewrites its lease and every count it holds in one script (<see cref="ResyncScript"/>) before it sends anything else,
/// so the sessions it admitted meanwhile count from then on, and those that ended meanwhile no longer do. Commands are
/// sent under <see cref="_lock"/>, on StackExchange.Redis's one connection, so Redis runs them in the order the counts
/// changed; a failure of a command sent before the last rewrite changes nothing (<see cref="_epoch"/>): the rewrite
/// came after it.
/// </para>
/// </remarks>
internal sealed class RedisSharedLimits : ISharedLimits
{
    // The current time in ms, from Redis's clock: every instance's lease is judged by the same one.
    private const string Now = """
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        """;

    // KEYS[1] the user's sessions, KEYS[2] the leases; ARGV[1] this instance, ARGV[2] the cap (0: none).
    // 1: counted; 0: at the cap; -1: this instance's lease is gone (Redis restarted, or it ran out): it must rewrite first.
    private const string AcquireScript = Now + """

        local own = tonumber(redis.call('HGET', KEYS[2], ARGV[1]))
        if own == nil or own < now then return -1 end
        local cap = tonumber(ARGV[2])
        if cap > 0 then
          local held = redis.call('HGETALL', KEYS[1])
          local total = 0
          for i = 1, #held, 2 do
            local deadline = tonumber(redis.call('HGET', KEYS[2], held[i]))
            if deadline == nil or deadline < now then
              redis.call('HDEL', KEYS[1], held[i])
            else
              total = total + tonumber(held[i + 1])
            end
          end
          if total >= cap then return 0 end
        end
        redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
        return 1
        """;

    // KEYS[1] the user's sessions; ARGV[1] this instance. A count at zero is deleted, and the hash with its last field.
    private const string ReleaseScript = """
        local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
        if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
        return left
        """;

    // KEYS[1] the leases; ARGV[1] this instance, ARGV[2] the lease (ms). Renews it, and drops the leases that ran out
    // (their counts then go as acquisitions meet them). 1: the lease was still running; 0: it was lost, rewrite.
    private const string HeartbeatScript = Now + """

        local leases = redis.call('HGETALL', KEYS[1])
        local alive = 0
        for i = 1, #leases, 2 do
          if leases[i] == ARGV[1] then
            if tonumber(leases[i + 1]) >= now then alive = 1 end
          elseif tonumber(leases[i + 1]) < now then
            redis.call('HDEL', KEYS[1], leases[i])
          end
        end
        redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now + tonumber(ARGV[2])))
        return alive
        """;

    // KEYS[1] the leases, KEYS[2..] users' sessions; ARGV[1] this instance, ARGV[2] the lease (ms), ARGV[3..] this
    // instance's count for each user in KEYS[2..], zero for a user whose count in Redis must go.
    private const string ResyncScript = Now + """

        redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now + tonumber(ARGV[2])))
        for i = 2, #KEYS do
          local count = tonumber(ARGV[i + 1])
          if count > 0 then
            redis.call('HSET', KEYS[i], ARGV[1], count)
          else
            redis.call('HDEL', KEYS[i], ARGV[1])
          end
        end
        return 1
        """;

    // KEYS[1] a user's bucket for one direction (hash: tokens, and t, the Redis time in µs they were counted at);
    // ARGV[1] the rate (bytes/s), ARGV[2] the bytes wanted, ARGV[3] the capacity. A token bucket like the local ones:
    // full when new, and gone once it would be full again, which is the same. Grants what it holds up to the bytes
    // wanted, or nothing below a quarter of its capacity (so that instances draw chunks, not trickles), and then says
    // in how many µs that quarter will be there.
    private const string DrawScript = """
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
        local rate = tonumber(ARGV[1])
        local wanted = tonumber(ARGV[2])
        local capacity = tonumber(ARGV[3])
        local state = redis.call('HMGET', KEYS[1], 'tokens', 't')
        local tokens = tonumber(state[1])
        local last = tonumber(state[2])
        if tokens == nil or last == nil then
          tokens = capacity
          last = now
        elseif now > last then
          tokens = math.min(capacity, tokens + (now - last) * rate / 1000000)
          last = now
        end
        local minimum = math.min(wanted, math.max(1, math.floor(capacity / 4)))
        local granted = 0
        local wait = 0
        if tokens >= minimum then
          granted = math.floor(math.min(wanted, tokens))
          tokens = tokens - granted
        else
          wait = math.ceil((minimum - tokens) * 1000000 / rate)
        end
        redis.call('HSET', KEYS[1], 'tokens', string.format('%.3f', tokens), 't', string.format('%.0f', last))
        redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
        return { granted, wait }
        """;

    private readonly ConfigurationOptions _configuration;
    private readonly string _redisForLogs;
    private readonly TimeSpan _timeout;
    private readonly TimeSpan _renewEvery;
    private readonly TimeSpan _startupBound;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly string _keyPrefix;
    private readonly RedisKey _leases;
    private readonly RedisValue _instance;
    private readonly RedisValue _leaseMilliseconds;
    private readonly CancellationTokenSource _stopping = new();

    // Guards the mode, the counts and the sending of every command that changes a count (see remarks).
    private readonly Lock _lock = new();

    // Taken before _lock by every change of mode that is announced, and held until the announcement is written: a
    // second fallback that finds the outage announced must not return (and let the start report the state) while the
    // first is still writing the warning. Sessions take only _lock, so a slow log sink never holds them up.
    private readonly Lock _announceLock = new();

    // This instance's sessions per user, and users whose count in Redis may be stale (at zero) until a rewrite.
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);
    private volatile Mode _mode = Mode.Local;
    private bool _announcedLocal;
    private bool _announcedShared;
    private string _reason = "Redis not reached yet";

    // Counts rewrites sent: a command's failure matters only if no rewrite was sent after it.
    private int _epoch;
    private ConnectionMultiplexer? _redis;
    private IDatabase? _database;
    private Task? _heartbeats;

    public RedisSharedLimits(SharedLimitsOptions options, TimeProvider timeProvider, ILogger logger)
    {
        _timeout = options.Timeout;
        _renewEvery = options.Lease / 3;

        // The first connection may need a TLS handshake or a name lookup: it gets more than one command does.
        _startupBound = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, 4 * options.Timeout.Ticks));
        _timeProvider = timeProvider;
        _logger = logger;
        ConfigurationOptions parsed = ConfigurationOptions.Parse(options.Redis!);
        _redisForLogs = Describe(parsed);
        _configuration = parsed;

        // Never wait for a connection that is not there: fail at once, and let the library reconnect on its own.
        _configuration.AbortOnConnectFail = false;
        _configuration.BacklogPolicy = BacklogPolicy.FailFast;
        _configuration.ConnectTimeout = (int)_startupBound.TotalMilliseconds;
        _configuration.AsyncTimeout = (int)Math.Ceiling(_timeout.TotalMilliseconds);
        _configuration.SyncTimeout = (int)Math.Ceiling(_timeout.TotalMilliseconds);
        _configuration.ReconnectRetryPolicy = new ExponentialRetry(250, (int)Math.Max(1000, _renewEvery.TotalMilliseconds));
        _configuration.ClientName ??= "sockeye";
        _keyPrefix = "{" + options.KeyPrefix + "}:";
        _leases = _keyPrefix + "leases";
        _instance = Guid.NewGuid().ToString("N");
        _leaseMilliseconds = (long)options.Lease.TotalMilliseconds;
    }

    private enum Mode
    {
        /// <summary>Limits are this instance's own; nothing is sent for sessions.</summary>
        Local,

        /// <summary>A rewrite is on its way: commands go out behind it, but the limits are not called shared until it lands.</summary>
        Resuming,

        /// <summary>Every session is counted in Redis.</summary>
        Shared,
    }

    /// <summary>This process's instance id, as its lease and counts name it.</summary>
    public string Instance => _instance.ToString();

    public bool IsShared => _mode == Mode.Shared;

    public string State
    {
        get
        {
            lock (_lock)
            {
                return _mode == Mode.Shared ? "shared" : "local fallback: " + _reason;
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="configuration"/> is something StackExchange.Redis can connect with; otherwise
    /// <paramref name="problem"/> says why, without echoing a password.
    /// </summary>
    public static bool IsValidConfiguration(string configuration, out string? problem)
    {
        try
        {
            ConfigurationOptions parsed = ConfigurationOptions.Parse(configuration);
            problem = parsed.EndPoints.Count == 0 ? "names no Redis endpoint; use host:port, e.g. 127.0.0.1:6379" : null;
        }
        catch (ArgumentException e)
        {
            problem = e.Message;
        }

        return problem is null;
    }

    /// <summary>A configuration string as logs and reload warnings may show it: without its password.</summary>
    public static string Redact(string configuration)
    {
        try
        {
            return Describe(ConfigurationOptions.Parse(configuration));
        }
        catch (ArgumentException)
        {
            return "(invalid)";
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var firstAnswer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _heartbeats = RunAsync(firstAnswer);
        try
        {
            await firstAnswer.Task.WaitAsync(_startupBound, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The server starts anyway, on its own limits; the lease timer keeps trying.
            Fallback($"Redis did not answer within {_startupBound.TotalMilliseconds:0} ms of the start", Volatile.Read(ref _epoch));
        }
    }

    public async ValueTask<bool> TryAcquireSessionAsync(string user, int cap)
    {
        Task<RedisResult> pending;
        int epoch;
        lock (_lock)
        {
            CollectionsMarshal.GetValueRefOrAddDefault(_counts, user, out _)++;
            if (_mode == Mode.Local)
            {
                return true;
            }

            epoch = _epoch;
            pending = _database!.ScriptEvaluateAsync(AcquireScript, [SessionsKey(user), _leases], [_instance, cap]);
        }

        long result;
        try
        {
            result = (long)await BoundAsync(pending).ConfigureAwait(false);
        }
        catch (Exception e) when (IsFailure(e))
        {
            // Decided here, and counted here: the rewrite after the fallback tells Redis, whether or not it counted it.
            Fallback(Describe(e), epoch);
            return true;
        }

        if (result < 0)
        {
            Fallback("Redis no longer holds this instance's lease (restarted, or the lease ran out)", epoch);
            return true;
        }

        if (result > 0)
        {
            return true;
        }

        lock (_lock)
        {
            ref int count = ref CollectionsMarshal.GetValueRefOrNullRef(_counts, user);
            count--;
            if (_mode != Mode.Local && _epoch != epoch)
            {
                // A rewrite sent after the refused acquisition counted this session in Redis: take it back.
                SendRelease(user);
            }
            else if (count == 0 && _mode != Mode.Local)
            {
                _counts.Remove(user);
            }
        }

        return false;
    }

    public void ReleaseSession(string user)
    {
        lock (_lock)
        {
            ref int count = ref CollectionsMarshal.GetValueRefOrNullRef(_counts, user);
            count--;
            if (_mode != Mode.Local)
            {
                SendRelease(user);
            }

            // Local: the entry stays, at zero too, so that the rewrite deletes what Redis still holds for it.
        }
    }

    public async ValueTask<(long Granted, TimeSpan RetryAfter)> DrawBandwidthAsync(string bucket, long rate, long wanted)
    {
        if (_mode == Mode.Local || _database is not { } database)
        {
            return (0, TimeSpan.Zero);
        }

        int epoch = Volatile.Read(ref _epoch);
        long[] result;
        try
        {
            RedisResult answer = await BoundAsync(database.ScriptEvaluateAsync(DrawScript, [_keyPrefix + "bandwidth:" + bucket],
                [rate, wanted, SharedTokenBucket.CapacityFor(rate)])).ConfigureAwait(false);
            result = (long[])answer!;
        }
        catch (Exception e) when (IsFailure(e))
        {
            Fallback(Describe(e), epoch);
            return (0, TimeSpan.Zero);
        }

        return (result[0], TimeSpan.FromMicroseconds(result[1]));
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_heartbeats is not null)
        {
            await _heartbeats.ConfigureAwait(false);
        }

        if (_database is not null && _mode != Mode.Local)
        {
            try
            {
                // Every session has ended: nothing of ours counts any more, and the lease can go at once.
                await BoundAsync(_database.HashDeleteAsync(_leases, _instance)).ConfigureAwait(false);
            }
            catch (Exception e) when (IsFailure(e))
            {
                // Ignored: the lease runs out by itself.
            }
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private RedisKey SessionsKey(string user) => _keyPrefix + "sessions:" + user;

    // Called under the lock, so that Redis sees releases in the order the counts changed.
    private void SendRelease(string user)
    {
        Task<RedisResult> pending = _database!.ScriptEvaluateAsync(ReleaseScript, [SessionsKey(user)], [_instance]);
        _ = ObserveReleaseAsync(pending, user, _epoch);
    }

    private async Task ObserveReleaseAsync(Task<RedisResult> pending, string user, int epoch)
    {
        try
        {
            // Started under _lock: a command that failed at once must not fall back on this thread, which holds _lock
            // and may not then wait for _announceLock (taken before _lock everywhere).
            await BoundAsync(pending).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        }
        catch (Exception e) when (IsFailure(e))
        {
            Fallback(Describe(e), epoch);
            return;
        }

        lock (_lock)
        {
            // Redis holds nothing for the user any more: forget it, unless a rewrite or a fallback came in between.
            if (_epoch == epoch && _mode != Mode.Local && _counts.TryGetValue(user, out int count) && count == 0)
            {
                _counts.Remove(user);
            }
        }
    }

    private async Task RunAsync(TaskCompletionSource firstAnswer)
    {
        try
        {
            _redis = await ConnectionMultiplexer.ConnectAsync(_configuration).ConfigureAwait(false);
            _database = _redis.GetDatabase();
            while (!_stopping.IsCancellationRequested)
            {
                await BeatAsync(_database).ConfigureAwait(false);
                firstAnswer.TrySetResult();
                await Task.Delay(_renewEvery, _timeProvider, _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping.
        }
        catch (Exception e) when (IsFailure(e))
        {
            // Only the first connection's setup gets here (a command's failure is handled where it is sent).
            Fallback(Describe(e), Volatile.Read(ref _epoch));
        }
        finally
        {
            firstAnswer.TrySetResult();
        }
    }

    /// <summary>Renews the lease; local, or with the lease lost, rewrites it with every count instead.</summary>
    private async Task BeatAsync(IDatabase database)
    {
        if (_mode == Mode.Local)
        {
            await ResyncAsync(database).ConfigureAwait(false);
            return;
        }

        int epoch = Volatile.Read(ref _epoch);
        long alive;
        try
        {
            alive = (long)await BoundAsync(database.ScriptEvaluateAsync(HeartbeatScript, [_leases], [_instance, _leaseMilliseconds])).ConfigureAwait(false);
        }
        catch (Exception e) when (IsFailure(e))
        {
            Fallback(Describe(e), epoch);
            return;
        }

        if (alive == 0)
        {
            // Redis restarted, or the lease ran out (a long pause): other instances may have deleted our counts.
            await ResyncAsync(database).ConfigureAwait(false);
        }
    }

    /// <summary>Writes this instance's lease and every count it holds, then calls the limits shared (see remarks).</summary>
    private async Task ResyncAsync(IDatabase database)
    {
        Task<RedisResult> pending;
        string[] users;
        int epoch;
        lock (_lock)
        {
            users = [.. _counts.Keys];
            var keys = new RedisKey[users.Length + 1];
            var values = new RedisValue[users.Length + 2];
            keys[0] = _leases;
            values[0] = _instance;
            values[1] = _leaseMilliseconds;
            for (int i = 0; i < users.Length; i++)
            {
                keys[i + 1] = SessionsKey(users[i]);
                values[i + 2] = _counts[users[i]];
            }

            pending = database.ScriptEvaluateAsync(ResyncScript, keys, values);
            epoch = ++_epoch;
            if (_mode == Mode.Local)
            {
                _mode = Mode.Resuming;
            }
        }

        try
        {
            await BoundAsync(pending).ConfigureAwait(false);
        }
        catch (Exception e) when (IsFailure(e))
        {
            Fallback(Describe(e), epoch);
            return;
        }

        lock (_announceLock)
        {
            bool announce = false;
            lock (_lock)
            {
                if (_epoch != epoch || _mode == Mode.Local)
                {
                    return;
                }

                foreach (string user in users)
                {
                    if (_counts.TryGetValue(user, out int count) && count == 0)
                    {
                        _counts.Remove(user);
                    }
                }

                if (_mode == Mode.Resuming)
                {
                    _mode = Mode.Shared;
                    announce = !_announcedShared;
                    _announcedShared = true;
                    _announcedLocal = false;
                }
            }

            if (announce)
            {
                ServerLog.SharedLimitsInForce(_logger, _redisForLogs, Instance);
            }
        }
    }

    /// <summary>
    /// Falls back to local limits, logged once per outage; a failure of a command sent before the last rewrite is
    /// ignored (the rewrite came after it, and its count with it).
    /// </summary>
    private void Fallback(string reason, int epoch)
    {
        Debug.Assert(!_lock.IsHeldByCurrentThread, "_announceLock is taken before _lock, never inside it.");
        lock (_announceLock)
        {
            bool announce;
            lock (_lock)
            {
                if (epoch != _epoch)
                {
                    return;
                }

                _mode = Mode.Local;
                _reason = reason;
                announce = !_announcedLocal;
                _announcedLocal = true;
                _announcedShared = false;
            }

            if (announce)
            {
                ServerLog.SharedLimitsUnavailable(_logger, reason);
            }
        }
    }

    /// <summary>Waits for <paramref name="pending"/> at most the configured timeout; a late answer is observed and dropped.</summary>
    private async Task<T> BoundAsync<T>(Task<T> pending)
    {
        try
        {
            return await pending.WaitAsync(_timeout, _timeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _ = pending.ContinueWith(static task => task.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
    }

    private static bool IsFailure(Exception e) => e is RedisException or TimeoutException or ObjectDisposedException;

    private string Describe(Exception e) => e switch
    {
        RedisConnectionException connection => $"Redis unreachable ({connection.FailureType})",
        TimeoutException => $"Redis did not answer within {_timeout.TotalMilliseconds:0} ms",
        RedisServerException server => "Redis refused a command: " + server.Message,
        _ => "Redis failed: " + e.Message,
    };

    private static string Describe(ConfigurationOptions configuration) => string.Join(", ", configuration.EndPoints.Select(static endPoint => endPoint switch
    {
        System.Net.DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => endPoint.ToString() ?? "",
    }));
}
