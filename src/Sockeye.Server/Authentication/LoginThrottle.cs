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
/// The wait and the ban hold for attempts in parallel too. An attempt is counted when it starts (<see cref="BeginAsync"/>)
/// and holds one of its address's <see cref="MaxConcurrentPerAddress"/> verification slots until it is over; an address
/// whose failures and attempts in flight together reach the ban's threshold gets no further slot until one of them ends.
/// So an address gets at most <c>maxFailures</c> verifications before its ban, however many attempts it sends at once.
/// Without that, 1 000 simultaneous guesses all passed the check before the first had failed, and the right password
/// among them was accepted. A burst of good logins from one address (a NAT, a client's connection pool) is verified
/// a few at a time, without a wait: the wait grows only with failures already seen.
/// </para>
/// <para>
/// Per user name, at most <see cref="MaxConcurrentPerUser"/> verifications run at once, so that guesses spread over many
/// addresses cannot verify against one account faster than that. A user name gets no wait and no ban of its own: an
/// attacker could otherwise lock its owner out.
/// </para>
/// <para>
/// A reload replaces the settings (<see cref="Reconfigure"/>) and keeps the records: the failures counted so far are
/// judged by the new threshold, wait and ban duration from then on, in every check, attempts already waiting included.
/// </para>
/// </remarks>
internal sealed class LoginThrottle
{
    /// <summary>Verifications of one client address in flight at once (waits included).</summary>
    public const int MaxConcurrentPerAddress = 4;

    /// <summary>Verifications of one user name in flight at once, from any addresses.</summary>
    public const int MaxConcurrentPerUser = 4;

    private const int PruneAbove = 10_000;

    private readonly TimeProvider _timeProvider;
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, AddressRecord> _addresses = [];
    private readonly Dictionary<string, UserRecord> _users = new(StringComparer.Ordinal);

    // Replaced whole under _lock, so that one decision under the lock never mixes two configurations; read without it
    // only where one setting is read once (the exemption).
    private AuthenticationOptions _options;

    public LoginThrottle(AuthenticationOptions options, TimeProvider timeProvider)
    {
        _options = options;
        _timeProvider = timeProvider;
    }

    /// <summary>The settings in force.</summary>
    public AuthenticationOptions Options => Volatile.Read(ref _options);

    /// <summary>
    /// Puts <paramref name="options"/> in force for every check from now on; the failures recorded so far stay. The
    /// caller must not change <paramref name="options"/> afterwards.
    /// </summary>
    public void Reconfigure(AuthenticationOptions options)
    {
        lock (_lock)
        {
            Volatile.Write(ref _options, options);
        }
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
    /// Starts a login attempt of <paramref name="client"/> for <paramref name="user"/>: waits for one of the address's
    /// verification slots, then for the wait its failures impose, then for a slot of the user name. The result says
    /// whether the address is banned (then check nothing); otherwise verify, and report the outcome with
    /// <see cref="LoginAttempt.Conclude"/>. Dispose the attempt however it ends: that lets the next one in.
    /// </summary>
    public async ValueTask<LoginAttempt> BeginAsync(IPAddress client, string user, CancellationToken cancellationToken)
    {
        if (IsExempt(client))
        {
            // No record of the address at all: its failures are not counted, so nothing delays or bans it.
            var exempt = new LoginAttempt(this, client, user, exempt: true);
            try
            {
                await exempt.User.Slots.WaitAsync(cancellationToken).ConfigureAwait(false);
                exempt.HoldsUserSlot = true;
                return exempt;
            }
            catch
            {
                exempt.Dispose();
                throw;
            }
        }

        var attempt = new LoginAttempt(this, client, user, exempt: false);
        try
        {
            TimeSpan delay = TimeSpan.Zero;
            bool arrived = true;
            while (true)
            {
                TaskCompletionSource? turn = null;
                TaskCompletionSource? next;
                lock (_lock)
                {
                    Admission admission = Admit(attempt.Address!, arrived, out delay);
                    if (admission == Admission.Admitted)
                    {
                        attempt.Address!.InFlight++;
                        attempt.HoldsAddressSlot = true;
                    }
                    else if (admission == Admission.Banned)
                    {
                        attempt.Banned = true;
                    }
                    else
                    {
                        turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        attempt.Address!.Waiting.Enqueue(turn);
                    }

                    // A decision made leaves room (or a ban) that the next in line may be waiting for.
                    next = turn is null ? NextToWakeLocked(attempt.Address!) : null;
                }

                Wake(next, attempt.Address!);
                if (turn is null)
                {
                    break;
                }

                using (cancellationToken.UnsafeRegister(static state => ((TaskCompletionSource)state!).TrySetCanceled(), turn))
                {
                    await turn.Task.ConfigureAwait(false);
                }

                arrived = false;
            }

            if (attempt.Banned)
            {
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

    private enum Admission
    {
        Admitted,
        Banned,
        Wait,
    }

    /// <summary>
    /// Under the lock: whether an attempt of the address <paramref name="record"/> may be verified now, with the wait its
    /// failures impose; must be refused as banned; or must wait for a slot. A new arrival queues behind those waiting.
    /// </summary>
    private Admission Admit(AddressRecord record, bool arrived, out TimeSpan delay)
    {
        delay = TimeSpan.Zero;
        int failures = LiveFailures(record);
        if (_options.MaxFailures > 0 && failures >= _options.MaxFailures)
        {
            return Admission.Banned;
        }

        // The attempts in flight may all fail: together with the failures seen, they must stay under the threshold.
        bool room = record.InFlight < MaxConcurrentPerAddress && (_options.MaxFailures == 0 || failures + record.InFlight < _options.MaxFailures);
        if (!room || (arrived && record.Waiting.Count > 0))
        {
            return Admission.Wait;
        }

        delay = DelayAfter(failures);
        return Admission.Admitted;
    }

    /// <summary>Under the lock: the first one waiting, when there is room for it or a ban to tell it of.</summary>
    private TaskCompletionSource? NextToWakeLocked(AddressRecord record)
    {
        if (record.Waiting.Count == 0)
        {
            return null;
        }

        int failures = LiveFailures(record);
        bool banned = _options.MaxFailures > 0 && failures >= _options.MaxFailures;
        bool room = record.InFlight < MaxConcurrentPerAddress && (_options.MaxFailures == 0 || failures + record.InFlight < _options.MaxFailures);
        return banned || room ? record.Waiting.Dequeue() : null;
    }

    /// <summary>Wakes <paramref name="next"/>; one that gave up meanwhile (its handshake timed out) passes the turn on.</summary>
    private void Wake(TaskCompletionSource? next, AddressRecord record)
    {
        while (next is not null && !next.TrySetResult())
        {
            lock (_lock)
            {
                next = NextToWakeLocked(record);
            }
        }
    }

    /// <summary>Failures of an address that still count: none once the ban duration has passed since the last.</summary>
    private int LiveFailures(AddressRecord record) =>
        record.Failures > 0 && _timeProvider.GetElapsedTime(record.LastFailure) < _options.BanDuration ? record.Failures : 0;

    private TimeSpan DelayAfter(int failures)
    {
        if (failures == 0)
        {
            return TimeSpan.Zero;
        }

        double factor = Math.Pow(2, Math.Min(failures - 1, 20));
        return TimeSpan.FromTicks((long)Math.Min(_options.FailureDelay.Ticks * factor, _options.MaxFailureDelay.Ticks));
    }

    /// <summary>
    /// What an address's next attempt faces, as <see cref="BeginAsync"/> judges it but without starting one: a ban, or a
    /// wait (zero for an address without recent failures).
    /// </summary>
    public (bool Banned, TimeSpan Delay) Check(IPAddress client)
    {
        lock (_lock)
        {
            int failures = _addresses.TryGetValue(client, out AddressRecord? record) ? LiveFailures(record) : 0;
            return _options.MaxFailures > 0 && failures >= _options.MaxFailures ? (true, TimeSpan.Zero) : (false, DelayAfter(failures));
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

    /// <summary>Whether <paramref name="client"/> is in <see cref="AuthenticationOptions.BanExempt"/>.</summary>
    private bool IsExempt(IPAddress client)
    {
        IList<IPNetwork> exempt = Volatile.Read(ref _options).BanExempt;
        if (exempt.Count == 0)
        {
            return false;
        }

        IPAddress address = client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client;
        foreach (IPNetwork network in exempt)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    // exempt: the attempt counts for its user name only, never for its address.
    private (AddressRecord? Address, UserRecord User) Enter(IPAddress client, string user, bool exempt)
    {
        lock (_lock)
        {
            AddressRecord? address = null;
            if (!exempt)
            {
                address = GetOrAddAddress(client);
                address.Attempts++;
            }

            if (!_users.TryGetValue(user, out UserRecord? record))
            {
                record = new UserRecord();
                _users.Add(user, record);
            }

            record.Attempts++;
            return (address, record);
        }
    }

    private void Leave(IPAddress client, AddressRecord? address, bool heldSlot, string user, UserRecord record)
    {
        TaskCompletionSource? next = null;
        lock (_lock)
        {
            if (address is not null)
            {
                if (heldSlot)
                {
                    address.InFlight--;
                }

                next = NextToWakeLocked(address);
                address.Attempts--;
                ForgetIfUnused(client, address);
            }

            if (--record.Attempts == 0)
            {
                _users.Remove(user);
            }
        }

        if (address is not null)
        {
            Wake(next, address);
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

    /// <summary>An address's failures, its verifications in flight, and those waiting for a slot. Guarded by the throttle's lock.</summary>
    internal sealed class AddressRecord
    {
        public Queue<TaskCompletionSource> Waiting { get; } = new();

        public int Failures;
        public long LastFailure;

        /// <summary>Attempts started and not yet disposed, waiting included.</summary>
        public int Attempts;

        /// <summary>Attempts holding a verification slot: admitted, and not yet disposed.</summary>
        public int InFlight;
    }

    /// <summary>A user name's verification slots, kept while any attempt for it is in flight.</summary>
    internal sealed class UserRecord
    {
        public SemaphoreSlim Slots { get; } = new(MaxConcurrentPerUser, MaxConcurrentPerUser);

        public int Attempts;
    }

    /// <summary>One login attempt from <see cref="BeginAsync"/>: holds a slot of the address and one of the user name until disposed.</summary>
    internal sealed class LoginAttempt : IDisposable
    {
        private readonly LoginThrottle _throttle;
        private readonly IPAddress _client;
        private readonly string _user;
        private bool _disposed;

        public LoginAttempt(LoginThrottle throttle, IPAddress client, string user, bool exempt)
        {
            _throttle = throttle;
            _client = client;
            _user = user;
            (Address, User) = throttle.Enter(client, user, exempt);
        }

        /// <summary>The address is banned: fail without checking the password.</summary>
        public bool Banned { get; set; }

        /// <summary>The address's record; <see langword="null"/> for an address exempt from delays and bans.</summary>
        internal AddressRecord? Address { get; }

        internal UserRecord User { get; }

        internal bool HoldsAddressSlot { get; set; }

        internal bool HoldsUserSlot { get; set; }

        /// <summary>
        /// Records the outcome of the verification: a success clears the address's failures, a failure counts. Returns
        /// true when this failure starts a ban, which is then to be logged: once per ban.
        /// </summary>
        public bool Conclude(bool verified)
        {
            if (Address is null)
            {
                return false;
            }

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

            _throttle.Leave(_client, Address, HoldsAddressSlot, _user, User);
        }
    }
}
