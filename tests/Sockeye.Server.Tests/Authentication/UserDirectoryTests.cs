using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Authentication;
using Sockeye.Server.Configuration;
using Sockeye.Testing;

namespace Sockeye.Server.Tests.Authentication;

public sealed class UserDirectoryTests
{
    private const int TestIterations = 1_000;

    private readonly UserDirectory _users = new([new SockeyeUser("alice", "secret"), new SockeyeUser("bob", "pässwörd")]);

    [Theory]
    [InlineData("alice", "secret", true)]
    [InlineData("bob", "pässwörd", true)]
    [InlineData("alice", "Secret", false)]
    [InlineData("alice", "secre", false)]
    [InlineData("alice", "secret ", false)]
    [InlineData("Alice", "secret", false)]
    [InlineData("carol", "secret", false)]
    [InlineData("bob", "secret", false)]
    public async Task VerifyAsync_PlainPasswords_ChecksNameAndPasswordExactly(string user, string password, bool expected) =>
        Assert.Equal(expected, await _users.VerifyAsync(Encoding.UTF8.GetBytes(user), Encoding.UTF8.GetBytes(password), CancellationToken.None));

    [Fact]
    public async Task VerifyAsync_InvalidUtf8Username_IsRejected() =>
        Assert.False(await _users.VerifyAsync(new byte[] { 0xFF, 0xFE }, "secret"u8.ToArray(), CancellationToken.None));

    [Fact]
    public void VerifyAsync_PlainPassword_CompletesSynchronouslyAndAllocatesNothing()
    {
        byte[] user = "alice"u8.ToArray();
        byte[] password = "secret"u8.ToArray();
        Assert.True(IsSynchronousSuccess(_users.VerifyAsync(user, password, CancellationToken.None)));

        long before = GC.GetAllocatedBytesForCurrentThread();
        bool ok = IsSynchronousSuccess(_users.VerifyAsync(user, password, CancellationToken.None));
        long after = GC.GetAllocatedBytesForCurrentThread();

        Assert.True(ok);
        Assert.Equal(before, after);
    }

    [Fact]
    public void RequiresAuthentication_OnlyWhenUsersExist()
    {
        Assert.True(_users.RequiresAuthentication);
        Assert.False(new UserDirectory([]).RequiresAuthentication);
    }

    [Theory]
    [InlineData("carol", "correct horse", true)]
    [InlineData("carol", "correct horse ", false)]
    [InlineData("carol", "secret", false)]
    [InlineData("Carol", "correct horse", false)]
    [InlineData("alice", "secret", true)]
    public async Task VerifyAsync_HashedAndPlainAccounts_EachCheckedByItsOwnKind(string user, string password, bool expected)
    {
        UserDirectory users = Hashed(TimeSpan.Zero, new SockeyeUser("alice", "secret"), HashedUser("carol", "correct horse"));

        Assert.Equal(expected, await VerifyAsync(users, user, password));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task VerifyAsync_OffloadHashing_HashesOffTheCallingThread_OtherwiseOnIt(bool offload)
    {
        // An event loop's thread must never compute a hash: it would stall every session on the loop for milliseconds.
        UserDirectory users = Hashed(TimeSpan.Zero, HashedUser("carol", "correct horse"));
        ValueTask<bool> verification = default;
        int callerThreadId = 0;
        var caller = new Thread(() =>
        {
            callerThreadId = Environment.CurrentManagedThreadId;
            verification = users.VerifyAsync("carol"u8.ToArray(), "correct horse"u8.ToArray(), CancellationToken.None, offload);
        });
        caller.Start();
        Assert.True(caller.Join(TestTimeouts.Default));

        Assert.True(await verification.DefaultTimeout());
        Assert.Equal(1, users.HashComputations);
        Assert.Equal(!offload, users.LastHashingThreadId == callerThreadId);
    }

    [Fact]
    public async Task VerifyAsync_HashedUserTwiceWithinTtl_SecondLoginComputesNoHash()
    {
        var time = new FakeTimeProvider();
        UserDirectory users = Hashed(TimeSpan.FromMinutes(5), time, HashedUser("carol", "correct horse"));

        Assert.True(await VerifyAsync(users, "carol", "correct horse"));
        Assert.Equal(1, users.HashComputations);

        time.Advance(TimeSpan.FromMinutes(4));
        Assert.True(IsSynchronousSuccess(users.VerifyAsync("carol"u8.ToArray(), "correct horse"u8.ToArray(), CancellationToken.None)));
        Assert.Equal(1, users.HashComputations);
    }

    [Fact]
    public async Task VerifyAsync_CachedUserWithAnotherPassword_IsCheckedAndRejected()
    {
        UserDirectory users = Hashed(TimeSpan.FromMinutes(5), HashedUser("carol", "correct horse"));
        Assert.True(await VerifyAsync(users, "carol", "correct horse"));

        Assert.False(await VerifyAsync(users, "carol", "wrong"));
        Assert.Equal(2, users.HashComputations);

        // And the wrong attempt did not evict the right one.
        Assert.True(await VerifyAsync(users, "carol", "correct horse"));
        Assert.Equal(2, users.HashComputations);
    }

    [Fact]
    public async Task VerifyAsync_AfterTtl_HashesAgain()
    {
        var time = new FakeTimeProvider();
        UserDirectory users = Hashed(TimeSpan.FromMinutes(5), time, HashedUser("carol", "correct horse"));
        Assert.True(await VerifyAsync(users, "carol", "correct horse"));

        time.Advance(TimeSpan.FromMinutes(5));

        Assert.True(await VerifyAsync(users, "carol", "correct horse"));
        Assert.Equal(2, users.HashComputations);
    }

    [Fact]
    public async Task VerifyAsync_CacheDisabled_EveryLoginHashes()
    {
        UserDirectory users = Hashed(TimeSpan.Zero, HashedUser("carol", "correct horse"));

        for (int i = 0; i < 3; i++)
        {
            Assert.True(await VerifyAsync(users, "carol", "correct horse"));
        }

        Assert.Equal(3, users.HashComputations);
    }

    [Fact]
    public async Task VerifyAsync_Failures_AreNeverCached()
    {
        UserDirectory users = Hashed(TimeSpan.FromMinutes(5), HashedUser("carol", "correct horse"));

        for (int i = 0; i < 3; i++)
        {
            Assert.False(await VerifyAsync(users, "carol", "wrong"));
            Assert.False(await VerifyAsync(users, "mallory", "wrong"));
        }

        Assert.Equal(6, users.HashComputations);
    }

    [Fact]
    public async Task VerifyAsync_PlainAndHashedAccountsTogether_EveryFailureCostsOneHash()
    {
        // A users file (hashes) and a --user account (plain) in one directory: the failure of the plain account was
        // answered in 0.05 ms, the others in 143 ms, so the time told which names were plain accounts.
        UserDirectory users = Hashed(TimeSpan.Zero, HashedUser("carol", "correct horse"), new SockeyeUser("alice", "secret"));

        long before = users.HashComputations;
        Assert.False(await VerifyAsync(users, "alice", "wrong"));
        long plainWrong = users.HashComputations - before;

        before = users.HashComputations;
        Assert.False(await VerifyAsync(users, "carol", "wrong"));
        long hashedWrong = users.HashComputations - before;

        before = users.HashComputations;
        Assert.False(await VerifyAsync(users, "mallory", "wrong"));
        long unknown = users.HashComputations - before;

        Assert.Equal((1L, 1L, 1L), (plainWrong, hashedWrong, unknown));

        // A right password for the plain account stays a digest: success needs no disguise.
        before = users.HashComputations;
        Assert.True(await VerifyAsync(users, "alice", "secret"));
        Assert.Equal(before, users.HashComputations);
    }

    [Fact]
    public async Task VerifyAsync_UnknownUser_CostsOneHashLikeAWrongPassword()
    {
        UserDirectory users = Hashed(TimeSpan.FromMinutes(5), HashedUser("carol", "correct horse"));

        Assert.False(await VerifyAsync(users, "carol", "wrong"));
        long wrongPassword = users.HashComputations;
        Assert.False(await VerifyAsync(users, "mallory", "correct horse"));
        long unknownUser = users.HashComputations - wrongPassword;

        Assert.Equal(1, wrongPassword);
        Assert.Equal(1, unknownUser);
    }

    [Fact]
    public async Task VerifyAsync_ManyAtOnce_NeverMoreHashesRunningThanTheBound()
    {
        const int Width = 2;
        UserDirectory users = new([HashedUser("carol", "correct horse", TestIterations * 20)], TimeSpan.Zero, TimeProvider.System, TestIterations, Width);

        // Wrong passwords, so that no success is remembered and every call hashes.
        Task<bool>[] logins = new Task<bool>[16];
        for (int i = 0; i < logins.Length; i++)
        {
            logins[i] = Task.Run(() => VerifyAsync(users, "carol", "wrong"));
        }

        bool[] results = await Task.WhenAll(logins).WaitAsync(TestTimeouts.Default);

        Assert.All(results, Assert.False);
        Assert.Equal(logins.Length, users.HashComputations);
        Assert.InRange(users.MaxHashesRunning, 1, Width);
    }

    [Fact]
    public async Task VerifyAsync_WaitingForASlot_IsCancellable()
    {
        UserDirectory users = new([HashedUser("carol", "correct horse", 200_000)], TimeSpan.Zero, TimeProvider.System, TestIterations, maxConcurrentHashes: 1);
        using var cancel = new CancellationTokenSource();

        // The first takes the only slot; the second waits for it until cancelled.
        Task<bool> first = Task.Run(() => VerifyAsync(users, "carol", "wrong"));
        Task<bool> second = Task.Run(() => users.VerifyAsync("carol"u8.ToArray(), "wrong"u8.ToArray(), cancel.Token).AsTask());
        await cancel.CancelAsync();

        Assert.False(await first.WaitAsync(TestTimeouts.Default));
        try
        {
            // The second may have won the race for the slot before the cancellation; then it simply fails the login.
            Assert.False(await second.WaitAsync(TestTimeouts.Default));
        }
        catch (OperationCanceledException)
        {
            Assert.True(second.IsCanceled);
        }
    }

    [Fact]
    public void Constructor_HashBelowTheProductionMinimum_Throws()
    {
        SockeyeUser weak = HashedUser("carol", "correct horse");

        Assert.Throws<ArgumentException>(() => new UserDirectory([weak]));
    }

    /// <summary>True when the check completed at once, with success: no hash was waited for.</summary>
    private static bool IsSynchronousSuccess(ValueTask<bool> verify) => verify.IsCompletedSuccessfully && verify.Result;

    private static SockeyeUser HashedUser(string name, string password, int iterations = TestIterations) =>
        SockeyeUser.FromPasswordHash(name, PasswordHash.Create(Encoding.UTF8.GetBytes(password), iterations));

    private static UserDirectory Hashed(TimeSpan ttl, params SockeyeUser[] users) => Hashed(ttl, TimeProvider.System, users);

    private static UserDirectory Hashed(TimeSpan ttl, TimeProvider time, params SockeyeUser[] users) =>
        new(users, ttl, time, TestIterations, UserDirectory.DefaultMaxConcurrentHashes);

    private static async Task<bool> VerifyAsync(UserDirectory users, string user, string password) =>
        await users.VerifyAsync(Encoding.UTF8.GetBytes(user), Encoding.UTF8.GetBytes(password), CancellationToken.None).AsTask().WaitAsync(TestTimeouts.Default);
}
