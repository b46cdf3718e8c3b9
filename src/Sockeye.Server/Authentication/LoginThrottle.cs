using System.Net;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Authentication;

/// <summary>
/// Failed logins per client address: a growing wait before that address's next attempt is checked, then a temporary ban.
/// Password guessing from one address slows to a crawl and then stops, and no other client notices. Bounded: addresses
/// whose failures have expired are forgotten when the table grows.
/// </summary>
/// <remarks>
/// <para>
/// The wait and the ban hold for attempts in parallel too. An attempt is counted when it starts (<see cref="BeginAsync"/>),
/// and one address has one verification in flight at a time: its other attempts queue behind it, and each is weighed
/// against the failures of all that went before. Without that, 1 000 simultaneous guesses all passed the check before
/// the first had failed, and the right password among them was accepted.
/// </para>
/// <para>
/// Per user name, at most <see cref="MaxConcurrentPerUser"/> verifications run at once, so that guesses spread over many
/// addresses cannot verify against one account faster than that. A user name gets no wait and no ban of its own: an
/// attacker could otherwise lock its owner out.
/// </para>
/// </remarks>
internal sealed class LoginThrottle
{
    /// <summary>Verifications of one user name in flight at once, from any addresses.</summary>
    public const int MaxConcurrentPerUser = 4;

    private const int PruneAbove = 10_000;

    private readonly AuthenticationOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, AddressRecord> _addresses = [];
    private readonly Dictionary<string, UserRecord> _users = new(StringComparer.Ordinal);

    public LoginThrottle(AuthenticationOptions options, TimeProvider timeProvider)
    {
        _options = options;
        _timeProvider = timeProvider;
    }

    /// <summary>Addresses and user names with a record now (for tests: records go once unused and expired).</summary>
    internal int RecordCount
    {
        get
        {
            lock (_lock)
            {
                return _addresses.Count + _users.Count;
            }
        }
    }

    /// <summary>
    /// Starts a login attempt of <paramref name="client"/> for <paramref name="user"/>: waits for the address's turn,
    /// then for the wait its failures impose, then for a verification slot of the user name. The result says whether
    /// the address is banned (then check nothing); otherwise verify, and report the outcome with
    /// <see cref="LoginAttempt.Conclude"/>. Dispose the attempt however it ends: that lets the next one in.
    /// </summary>
    public async ValueTask<LoginAttempt> BeginAsync(IPAddress client, string user, CancellationToken cancellationToken)
    {
        var attempt = new LoginAttempt(this, client, user);
        try
        {
            await attempt.Address.Turn.WaitAsync(cancellationToken).ConfigureAwait(false);
            attempt.HoldsAddressTurn = true;
            (bool banned, TimeSpan delay) = Check(client);
            if (banned)
            {
                attempt.Banned = true;
                return attempt;
            }

            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, _timeProvider, cancellationToken).ConfigureAwait(false);
            }

            await attempt.User.Slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            attempt.HoldsUserSlot = true;
            return attempt;
        }
        catch
        {
            attempt.Dispose();
            throw;
        }
    }

    /// <summary>What an address's next attempt faces: a ban, or a wait (zero for an address without recent failures).</summary>
    public (bool Banned, TimeSpan Delay) Check(IPAddress client)
    {
        lock (_lock)
        {
            if (!_addresses.TryGetValue(client, out AddressRecord? record) || record.Failures == 0)
            {
                return (false, TimeSpan.Zero);
            }

            if (_timeProvider.GetElapsedTime(record.LastFailure) >= _options.BanDuration)
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

    /// <summary>Records a failure; returns true when it starts a ban (once per ban).</summary>
    public bool RecordFailure(IPAddress client)
    {
        lock (_lock)
        {
            if (_addresses.Count > PruneAbove)
            {
                Prune();
            }

            AddressRecord record = GetOrAddAddress(client);
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

    /// <summary>A successful login clears the address's failures.</summary>
    public void RecordSuccess(IPAddress client)
    {
        lock (_lock)
        {
            if (_addresses.TryGetValue(client, out AddressRecord? record))
            {
                record.Failures = 0;
                ForgetIfUnused(client, record);
            }
        }
    }

    private AddressRecord GetOrAddAddress(IPAddress client)
    {
        if (!_addresses.TryGetValue(client, out AddressRecord? record))
        {
            record = new AddressRecord();
            _addresses.Add(client, record);
        }

        return record;
    }

    private (AddressRecord Address, UserRecord User) Enter(IPAddress client, string user)
    {
        lock (_lock)
        {
            AddressRecord address = GetOrAddAddress(client);
            address.Attempts++;
            if (!_users.TryGetValue(user, out UserRecord? record))
            {
                record = new UserRecord();
                _users.Add(user, record);
            }

            record.Attempts++;
            return (address, record);
        }
    }

    private void Leave(IPAddress client, AddressRecord address, string user, UserRecord record)
    {
        lock (_lock)
        {
            address.Attempts--;
            ForgetIfUnused(client, address);
            if (--record.Attempts == 0)
            {
                _users.Remove(user);
            }
        }
    }

    // Called under _lock. A record with attempts in flight keeps its turn's queue; one with live failures keeps them.
    private void ForgetIfUnused(IPAddress client, AddressRecord record)
    {
        if (record.Attempts == 0 && (record.Failures == 0 || _timeProvider.GetElapsedTime(record.LastFailure) >= _options.BanDuration))
        {
            _addresses.Remove(client);
        }
    }

    // Called under _lock.
    private void Prune()
    {
        List<IPAddress>? expired = null;
        long now = _timeProvider.GetTimestamp();
        foreach (KeyValuePair<IPAddress, AddressRecord> entry in _addresses)
        {
            if (entry.Value.Attempts == 0 && _timeProvider.GetElapsedTime(entry.Value.LastFailure, now) >= _options.BanDuration)
            {
                (expired ??= []).Add(entry.Key);
            }
        }

        foreach (IPAddress address in expired ?? [])
        {
            _addresses.Remove(address);
        }
    }

    /// <summary>An address's failures, and the turn its attempts take one at a time. Guarded by the throttle's lock.</summary>
    internal sealed class AddressRecord
    {
        public SemaphoreSlim Turn { get; } = new(1, 1);

        public int Failures;
        public long LastFailure;

        /// <summary>Attempts started and not yet disposed, waiting included.</summary>
        public int Attempts;
    }

    /// <summary>A user name's verification slots, kept while any attempt for it is in flight.</summary>
    internal sealed class UserRecord
    {
        public SemaphoreSlim Slots { get; } = new(MaxConcurrentPerUser, MaxConcurrentPerUser);

        public int Attempts;
    }

    /// <summary>One login attempt from <see cref="BeginAsync"/>: holds the address's turn and a user-name slot until disposed.</summary>
    internal sealed class LoginAttempt : IDisposable
    {
        private readonly LoginThrottle _throttle;
        private readonly IPAddress _client;
        private readonly string _user;
        private bool _disposed;

        public LoginAttempt(LoginThrottle throttle, IPAddress client, string user)
        {
            _throttle = throttle;
            _client = client;
            _user = user;
            (Address, User) = throttle.Enter(client, user);
        }

        /// <summary>The address is banned: fail without checking the password.</summary>
        public bool Banned { get; set; }

        internal AddressRecord Address { get; }

        internal UserRecord User { get; }

        internal bool HoldsAddressTurn { get; set; }

        internal bool HoldsUserSlot { get; set; }

        /// <summary>
        /// Records the outcome of the verification: a success clears the address's failures, a failure counts. Returns
        /// true when this failure starts a ban, which is then to be logged: once per ban.
        /// </summary>
        public bool Conclude(bool verified)
        {
            if (verified)
            {
                _throttle.RecordSuccess(_client);
                return false;
            }

            return _throttle.RecordFailure(_client);
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (HoldsUserSlot)
            {
                User.Slots.Release();
            }

            if (HoldsAddressTurn)
            {
                Address.Turn.Release();
            }

            _throttle.Leave(_client, Address, _user, User);
        }
    }
}
