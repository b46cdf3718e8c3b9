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
    public async Task BeginAsync_SecondAttemptOfOneAddress_WaitsForTheFirstToEnd()
    {
        LoginThrottle.LoginAttempt first = await _throttle.BeginAsync(Guesser, "alice", CancellationToken.None);
        ValueTask<LoginThrottle.LoginAttempt> second = _throttle.BeginAsync(Guesser, "alice", CancellationToken.None);
        Assert.False(second.IsCompleted);

        first.Conclude(verified: true);
        first.Dispose();

        using LoginThrottle.LoginAttempt next = await second.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(next.Banned);
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
