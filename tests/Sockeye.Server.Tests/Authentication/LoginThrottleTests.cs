using System.Net;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Authentication;
using Sockeye.Server.Configuration;
using Sockeye.Server.Tests.Infrastructure;

namespace Sockeye.Server.Tests.Authentication;

public sealed class LoginThrottleTests
{
    private static readonly IPAddress Guesser = IPAddress.Parse("192.0.2.10");
    private static readonly IPAddress Other = IPAddress.Parse("192.0.2.20");

    private readonly FakeTimeProvider _time = new();
    private readonly LoginThrottle _throttle;

    public LoginThrottleTests() =>
        _throttle = new LoginThrottle(
            new AuthenticationOptions
            {
                FailureDelay = TimeSpan.FromMilliseconds(100),
                MaxFailureDelay = TimeSpan.FromMilliseconds(500),
                MaxFailures = 5,
                BanDuration = TimeSpan.FromMinutes(10),
            },
            _time);

    [Fact]
    public void Check_NoFailures_NoWaitNoBan() => Assert.Equal((false, TimeSpan.Zero), _throttle.Check(Guesser));

    [Fact]
    public void Check_AfterFailures_WaitDoublesUpToTheCap()
    {
        var waits = new List<TimeSpan>();
        for (int i = 0; i < 4; i++)
        {
            _throttle.RecordFailure(Guesser);
            waits.Add(_throttle.Check(Guesser).Delay);
        }

        Assert.Equal([100, 200, 400, 500], waits.Select(w => w.TotalMilliseconds));
    }

    [Fact]
    public void RecordFailure_MaxFailures_StartsABanOnce()
    {
        bool[] bans = [.. Enumerable.Range(0, 6).Select(_ => _throttle.RecordFailure(Guesser))];

        Assert.Equal([false, false, false, false, true, false], bans);
        Assert.True(_throttle.Check(Guesser).Banned);
    }

    [Fact]
    public void Check_OtherAddress_UnaffectedByAGuessersFailures()
    {
        for (int i = 0; i < 10; i++)
        {
            _throttle.RecordFailure(Guesser);
        }

        Assert.Equal((false, TimeSpan.Zero), _throttle.Check(Other));
    }

    [Fact]
    public void Check_BanDurationPassed_BanAndFailuresForgotten()
    {
        for (int i = 0; i < 5; i++)
        {
            _throttle.RecordFailure(Guesser);
        }

        _time.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal((false, TimeSpan.Zero), _throttle.Check(Guesser));
        Assert.False(_throttle.RecordFailure(Guesser));
        Assert.Equal(TimeSpan.FromMilliseconds(100), _throttle.Check(Guesser).Delay);
    }

    [Fact]
    public void RecordSuccess_ClearsTheAddress()
    {
        _throttle.RecordFailure(Guesser);
        _throttle.RecordFailure(Guesser);

        _throttle.RecordSuccess(Guesser);

        Assert.Equal((false, TimeSpan.Zero), _throttle.Check(Guesser));
    }

    [Fact]
    public async Task BeginAsync_SuccessfulAttempts_LeaveNoRecordBehind()
    {
        using (LoginThrottle.LoginAttempt attempt = await _throttle.BeginAsync(Other, "alice", CancellationToken.None))
        {
            Assert.False(attempt.Banned);
            attempt.Conclude(verified: true);
        }

        Assert.Equal(0, _throttle.RecordCount);
    }

    [Fact]
    public async Task BeginAsync_BeyondTheSlotsOfAnAddress_WaitsForOneToEnd()
    {
        var first = new List<LoginThrottle.LoginAttempt>();
        for (int i = 0; i < LoginThrottle.MaxConcurrentPerAddress; i++)
        {
            first.Add(await _throttle.BeginAsync(Guesser, $"user{i}", CancellationToken.None));
        }

        ValueTask<LoginThrottle.LoginAttempt> waiting = _throttle.BeginAsync(Guesser, "late", CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        first[0].Conclude(verified: true);
        first[0].Dispose();

        using LoginThrottle.LoginAttempt next = await waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(next.Banned);
        foreach (LoginThrottle.LoginAttempt attempt in first.Skip(1))
        {
            attempt.Dispose();
        }
    }

    [Fact]
    public async Task BeginAsync_FailuresAndAttemptsInFlightReachTheThreshold_TheNextWaits_ThenIsBannedWhenTheyFail()
    {
        // Threshold 5: with 3 failures, only 2 more attempts may be in flight, since both may fail.
        for (int i = 0; i < 3; i++)
        {
            _throttle.RecordFailure(Guesser);
        }

        // Each admitted attempt first waits out the delay the failures impose, on the fake clock.
        LoginThrottle.LoginAttempt one = await AdvanceUntilAsync(_throttle.BeginAsync(Guesser, "alice", CancellationToken.None));
        ValueTask<LoginThrottle.LoginAttempt> twoPending = _throttle.BeginAsync(Guesser, "alice", CancellationToken.None);
        LoginThrottle.LoginAttempt two = await AdvanceUntilAsync(twoPending);
        ValueTask<LoginThrottle.LoginAttempt> third = _throttle.BeginAsync(Guesser, "alice", CancellationToken.None);
        Assert.False(third.IsCompleted);

        Assert.False(one.Conclude(verified: false));
        one.Dispose();
        Assert.False(third.IsCompleted);
        Assert.True(two.Conclude(verified: false));
        two.Dispose();

        using LoginThrottle.LoginAttempt refused = await third.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(refused.Banned);
    }

    /// <summary>Moves the fake clock on until <paramref name="pending"/> has waited out its delay (a bounded number of steps).</summary>
    private async Task<LoginThrottle.LoginAttempt> AdvanceUntilAsync(ValueTask<LoginThrottle.LoginAttempt> pending)
    {
        Task<LoginThrottle.LoginAttempt> task = pending.AsTask();
        for (int step = 0; step < 100 && !task.IsCompleted; step++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.WhenAny(task, Task.Delay(10));
        }

        return await task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task BeginAsync_AtMaxFailures_BannedWithoutAUserSlot()
    {
        for (int i = 0; i < 5; i++)
        {
            _throttle.RecordFailure(Guesser);
        }

        using LoginThrottle.LoginAttempt attempt = await _throttle.BeginAsync(Guesser, "alice", CancellationToken.None);

        Assert.True(attempt.Banned);
    }

    [Fact]
    public async Task ExemptNetwork_FailuresNeverDelayedOrBanned_WhileOtherAddressesAre()
    {
        // Issue 19: on a loopback listener a few wrong passwords from any local process locked out every local client.
        var options = new AuthenticationOptions { FailureDelay = TimeSpan.FromSeconds(1), MaxFailures = 2, BanDuration = TimeSpan.FromMinutes(10) };
        options.BanExempt.Add(IPNetwork.Parse("127.0.0.0/8"));
        var throttle = new LoginThrottle(options, _time);

        for (int i = 0; i < 5; i++)
        {
            // The clock stands still: an attempt that had to wait for a failure delay would never complete.
            using LoginThrottle.LoginAttempt attempt = await throttle.BeginAsync(IPAddress.Parse("127.0.0.2"), "alice", CancellationToken.None).AsTask().DefaultTimeout();
            Assert.False(attempt.Banned);
            Assert.False(attempt.Conclude(verified: false));
        }

        // An IPv4-mapped form of an exempt address is exempt too; a failure of an address outside still counts.
        using (LoginThrottle.LoginAttempt mapped = await throttle.BeginAsync(IPAddress.Parse("::ffff:127.0.0.1"), "alice", CancellationToken.None).AsTask().DefaultTimeout())
        {
            Assert.False(mapped.Conclude(verified: false));
        }

        Assert.Equal((false, TimeSpan.Zero), throttle.Check(IPAddress.Loopback));
        Assert.Equal(0, throttle.RecordCount);
        throttle.RecordFailure(Guesser);
        Assert.True(throttle.RecordFailure(Guesser));
        Assert.True(throttle.Check(Guesser).Banned);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task LocalClientsWrongPasswords_ThenTheRightOne_BannedUnlessLoopbackIsExempt(bool exemptLoopback)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Users.Add(new SockeyeUser("alice", "secret"));
            o.Authentication.FailureDelay = TimeSpan.Zero;
            o.Authentication.MaxFailures = 2;
            if (exemptLoopback)
            {
                o.Authentication.BanExempt.Add(IPNetwork.Parse("127.0.0.0/8"));
            }
        });

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(1, await LoginAsync(server, "wrong"));
        }

        Assert.Equal(exemptLoopback ? 0 : 1, await LoginAsync(server, "secret"));
    }

    /// <summary>The RFC 1929 status a login as alice with <paramref name="password"/> gets.</summary>
    private static async Task<byte> LoginAsync(TestServer server, string password)
    {
        using RawClient client = await RawClient.ConnectAsync(server.EndPoint);
        await client.SendAsync([.. Socks5Bytes.PasswordGreeting, .. Socks5Bytes.Credentials("alice", password)]);
        byte[] reply = await client.ReceiveExactlyAsync(4);
        return reply[3];
    }

    [Fact]
    public void Reconfigure_LowerMaxFailures_FailuresSoFarCountAgainstIt()
    {
        for (int i = 0; i < 3; i++)
        {
            _throttle.RecordFailure(Guesser);
        }

        Assert.False(_throttle.Check(Guesser).Banned);

        _throttle.Reconfigure(new AuthenticationOptions { FailureDelay = TimeSpan.FromSeconds(1), MaxFailureDelay = TimeSpan.FromSeconds(8), MaxFailures = 4 });

        // The three failures stay: the next one reaches the new threshold, and the wait follows the new delay.
        Assert.Equal(TimeSpan.FromSeconds(4), _throttle.Check(Guesser).Delay);
        Assert.True(_throttle.RecordFailure(Guesser));
        Assert.True(_throttle.Check(Guesser).Banned);
    }

    [Fact]
    public async Task Reconfigure_BanExemptAdded_NextAttemptOfABannedAddressIsNotBanned()
    {
        for (int i = 0; i < 5; i++)
        {
            _throttle.RecordFailure(Guesser);
        }

        var options = new AuthenticationOptions { MaxFailures = 5 };
        options.BanExempt.Add(new IPNetwork(Guesser, 32));
        _throttle.Reconfigure(options);

        using LoginThrottle.LoginAttempt attempt = await _throttle.BeginAsync(Guesser, "alice", CancellationToken.None).AsTask().DefaultTimeout();
        Assert.False(attempt.Banned);
    }
}
