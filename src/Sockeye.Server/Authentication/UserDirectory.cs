using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Authentication;

/// <summary>
/// The configured accounts, as an immutable snapshot. Every comparison of secrets goes through
/// <see cref="CryptographicOperations.FixedTimeEquals"/> on fixed-length values, and every failure costs the same,
/// whatever kind of account the name belongs to or whether it exists: an unknown user is checked against a decoy of the
/// costliest kind configured, and a wrong password for a plain account also pays for that decoy when hashed accounts exist.
/// </summary>
/// <remarks>
/// <para>A plain password (<c>--user</c>, <c>users</c>) is kept only as its SHA-256 digest and checked synchronously.</para>
/// <para>
/// A stored hash (<see cref="SockeyeUser.PasswordHash"/>) costs a PBKDF2 computation. So that logins cannot be used to
/// exhaust the CPU, at most <c>maxConcurrentHashes</c> run at once; the others wait, cancellably, for a slot. A success
/// is remembered for the verified-cache TTL as an HMAC-SHA256 of the credentials under a random per-process key, one
/// slot per account, so the cache is never larger than the directory, holds no password and no unkeyed digest, and a
/// hit is again a fixed-time comparison. Failures are never remembered.
/// </para>
/// </remarks>
[SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
    Justification = "A SemaphoreSlim holds a kernel handle only once AvailableWaitHandle is read, which this class never does; disposing it would race sessions still releasing their slot.")]
internal sealed class UserDirectory
{
    private const int DigestLength = 32;
    private const int MacLength = 32;

    private readonly Dictionary<string, Account> _accounts;
    private readonly Dictionary<string, Account>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    // Checked when the user is unknown, so that probing for names takes as long as guessing passwords: a digest when
    // every account has a plain password, else a hash with the costliest iteration count configured.
    private readonly Account _decoy;

    private readonly byte[] _macKey = RandomNumberGenerator.GetBytes(32);
    private readonly TimeSpan _verifiedCacheTtl;
    private readonly TimeProvider _timeProvider;
    private readonly SemaphoreSlim _hashSlots;
    private long _hashComputations;
    private int _hashesRunning;
    private int _maxHashesRunning;
    private int _lastHashingThreadId;

    public UserDirectory(IEnumerable<SockeyeUser> users)
        : this(users, TimeSpan.Zero, TimeProvider.System, PasswordHash.MinIterations, DefaultMaxConcurrentHashes)
    {
    }

    /// <summary>
    /// Builds the directory. <paramref name="minHashIterations"/> is the fewest iterations a stored hash may use (lower
    /// only in tests); <paramref name="maxConcurrentHashes"/> bounds the PBKDF2 computations running at once.
    /// </summary>
    public UserDirectory(IEnumerable<SockeyeUser> users, TimeSpan verifiedCacheTtl, TimeProvider timeProvider, int minHashIterations, int maxConcurrentHashes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrentHashes, 1);
        _accounts = new Dictionary<string, Account>(StringComparer.Ordinal);
        int decoyIterations = 0;
        foreach (SockeyeUser user in users)
        {
            if (user.PasswordHash is null)
            {
                _accounts[user.Name] = new Account(SHA256.HashData(Encoding.UTF8.GetBytes(user.Password)), null);
                continue;
            }

            if (!PasswordHash.TryParse(user.PasswordHash, minHashIterations, out PasswordHash.StoredHash? hash, out string? problem))
            {
                // The options validator reports this with its key first; reaching here is a programming error.
                throw new ArgumentException($"User '{user.Name}': {problem}", nameof(users));
            }

            _accounts[user.Name] = new Account(null, hash);
            decoyIterations = Math.Max(decoyIterations, hash.Iterations);
        }

        _decoy = decoyIterations == 0
            ? new Account(SHA256.HashData("sockeye: no such user"u8), null)
            : new Account(null, new PasswordHash.StoredHash(decoyIterations, RandomNumberGenerator.GetBytes(PasswordHash.SaltLength), RandomNumberGenerator.GetBytes(PasswordHash.HashLength)));
        _lookup = _accounts.GetAlternateLookup<ReadOnlySpan<char>>();
        _verifiedCacheTtl = verifiedCacheTtl == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : verifiedCacheTtl;
        _timeProvider = timeProvider;
        _hashSlots = new SemaphoreSlim(maxConcurrentHashes, maxConcurrentHashes);
    }

    /// <summary>Half the cores: logins may keep that many busy hashing, the relay keeps the rest.</summary>
    public static int DefaultMaxConcurrentHashes => Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Whether any account is configured; then clients must authenticate.</summary>
    public bool RequiresAuthentication => _accounts.Count > 0;

    public int Count => _accounts.Count;

    /// <summary>Whether an account is named <paramref name="user"/>: for SOCKS4, whose USERID comes without a password.</summary>
    public bool Contains(string user) => _accounts.ContainsKey(user);

    /// <summary>PBKDF2 computations done so far (decoys included); for tests.</summary>
    internal long HashComputations => Interlocked.Read(ref _hashComputations);

    /// <summary>The most PBKDF2 computations that ever ran at once; for tests.</summary>
    internal int MaxHashesRunning => Volatile.Read(ref _maxHashesRunning);

    /// <summary>The managed thread that computed the last PBKDF2 hash; for tests of <c>offloadHashing</c>.</summary>
    internal int LastHashingThreadId => Volatile.Read(ref _lastHashingThreadId);

    /// <summary>
    /// Checks RFC 1929 credentials. Completes synchronously, allocating nothing, for plain-password accounts and cache
    /// hits; otherwise waits for a hashing slot (cancelled by <paramref name="cancellationToken"/>) and computes the hash.
    /// The caller must keep both buffers unchanged until the returned task completes. With <paramref name="offloadHashing"/>
    /// the hash is computed on the thread pool, never on the calling thread (an event loop's, which must not block).
    /// </summary>
    public ValueTask<bool> VerifyAsync(ReadOnlyMemory<byte> username, ReadOnlyMemory<byte> password, CancellationToken cancellationToken, bool offloadHashing = false)
    {
        Debug.Assert(username.Length <= 255 && password.Length <= 255, "RFC 1929 fields are at most 255 bytes.");
        Account? account = Find(username.Span);
        Account checkedAgainst = account ?? _decoy;
        if (checkedAgainst.Hash is null)
        {
            bool matches = MatchesDigest(checkedAgainst, password.Span) && account is not null;
            if (matches || _decoy.Hash is null)
            {
                return ValueTask.FromResult(matches);
            }

            // A wrong password for a plain account, where hashed accounts exist too: it costs the decoy's hash, as a
            // wrong password for a hashed account or an unknown name does, so the time of a failure does not tell a
            // plain account from the others (0.05 against 143 ms, medians of 200, before).
            return VerifyHashAsync(null, _decoy, username, password, offloadHashing, cancellationToken);
        }

        // The decoy never has a remembered success, but pays for the same MAC computation.
        if (IsRemembered(checkedAgainst, username.Span, password.Span))
        {
            return ValueTask.FromResult(account is not null);
        }

        return VerifyHashAsync(account, checkedAgainst, username, password, offloadHashing, cancellationToken);
    }

    private async ValueTask<bool> VerifyHashAsync(Account? account, Account checkedAgainst, ReadOnlyMemory<byte> username, ReadOnlyMemory<byte> password, bool offloadHashing, CancellationToken cancellationToken)
    {
        if (offloadHashing)
        {
            await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        }

        await _hashSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another session may have verified the same credentials while this one waited for a slot.
            if (IsRemembered(checkedAgainst, username.Span, password.Span))
            {
                return account is not null;
            }

            bool matches = MatchesHash(checkedAgainst, password.Span);
            if (matches && account is not null)
            {
                Remember(account, username.Span, password.Span);
            }

            return matches && account is not null;
        }
        finally
        {
            _hashSlots.Release();
        }
    }

    private Account? Find(ReadOnlySpan<byte> username)
    {
        Span<char> name = stackalloc char[255];
        return Encoding.UTF8.TryGetChars(username, name, out int nameLength) && _lookup.TryGetValue(name[..nameLength], out Account? account)
            ? account
            : null;
    }

    private static bool MatchesDigest(Account account, ReadOnlySpan<byte> password)
    {
        Span<byte> digest = stackalloc byte[DigestLength];
        SHA256.HashData(password, digest);
        bool matches = CryptographicOperations.FixedTimeEquals(digest, account.Digest);
        CryptographicOperations.ZeroMemory(digest);
        return matches;
    }

    private bool MatchesHash(Account account, ReadOnlySpan<byte> password)
    {
        Interlocked.Increment(ref _hashComputations);
        Volatile.Write(ref _lastHashingThreadId, Environment.CurrentManagedThreadId);
        int running = Interlocked.Increment(ref _hashesRunning);
        int seen = Volatile.Read(ref _maxHashesRunning);
        while (running > seen)
        {
            int previous = Interlocked.CompareExchange(ref _maxHashesRunning, running, seen);
            seen = previous == seen ? running : previous;
        }

        try
        {
            return account.Hash!.Verify(password);
        }
        finally
        {
            Interlocked.Decrement(ref _hashesRunning);
        }
    }

    private bool IsRemembered(Account account, ReadOnlySpan<byte> username, ReadOnlySpan<byte> password)
    {
        if (_verifiedCacheTtl <= TimeSpan.Zero)
        {
            return false;
        }

        Span<byte> mac = stackalloc byte[MacLength];
        ComputeMac(username, password, mac);
        bool remembered;
        lock (account)
        {
            bool fresh = account.VerifiedAt is long verifiedAt && _timeProvider.GetElapsedTime(verifiedAt) < _verifiedCacheTtl;
            remembered = fresh && CryptographicOperations.FixedTimeEquals(mac, account.VerifiedMac);
            if (!fresh && account.VerifiedAt is not null)
            {
                CryptographicOperations.ZeroMemory(account.VerifiedMac);
                account.VerifiedAt = null;
            }
        }

        CryptographicOperations.ZeroMemory(mac);
        return remembered;
    }

    private void Remember(Account account, ReadOnlySpan<byte> username, ReadOnlySpan<byte> password)
    {
        if (_verifiedCacheTtl <= TimeSpan.Zero)
        {
            return;
        }

        Span<byte> mac = stackalloc byte[MacLength];
        ComputeMac(username, password, mac);
        lock (account)
        {
            mac.CopyTo(account.VerifiedMac);
            account.VerifiedAt = _timeProvider.GetTimestamp();
        }

        CryptographicOperations.ZeroMemory(mac);
    }

    private void ComputeMac(ReadOnlySpan<byte> username, ReadOnlySpan<byte> password, Span<byte> mac)
    {
        // Length-prefixed rather than separated by 0x00: an RFC 1929 name may itself contain 0x00, and no two different
        // (name, password) pairs may share an input.
        Span<byte> input = stackalloc byte[1 + 255 + 255];
        input[0] = (byte)username.Length;
        username.CopyTo(input[1..]);
        password.CopyTo(input[(1 + username.Length)..]);
        HMACSHA256.HashData(_macKey, input[..(1 + username.Length + password.Length)], mac);
        CryptographicOperations.ZeroMemory(input);
    }

    /// <summary>One account: a digest or a hash, and (for a hash) the slot remembering its last successful login.</summary>
    private sealed class Account(byte[]? digest, PasswordHash.StoredHash? hash)
    {
        public byte[]? Digest { get; } = digest;

        public PasswordHash.StoredHash? Hash { get; } = hash;

        /// <summary>HMAC of the last verified credentials; guarded by locking the account.</summary>
        public byte[] VerifiedMac { get; } = hash is null ? [] : new byte[MacLength];

        /// <summary>When <see cref="VerifiedMac"/> was stored; <see langword="null"/> when it holds nothing.</summary>
        public long? VerifiedAt { get; set; }
    }
}
