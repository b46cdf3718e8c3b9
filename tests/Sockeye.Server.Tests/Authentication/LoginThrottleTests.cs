using System.Net;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Authentication;
using Sockeye.Server.Configuration;

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
}
