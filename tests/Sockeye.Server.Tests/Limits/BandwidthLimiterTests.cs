using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Configuration;
using Sockeye.Server.Limits;

namespace Sockeye.Server.Tests.Limits;

/// <summary>The per-user buckets' life: shared while sessions are open, kept after the last one until refilled.</summary>
public sealed class BandwidthLimiterTests
{
    private const long Rate = 100_000;
    private const int Burst = (int)(Rate / 10);

    private readonly FakeTimeProvider _time = new();
    private readonly BandwidthLimiter _limiter;

    public BandwidthLimiterTests() => _limiter = new BandwidthLimiter(new LimitsOptions { UserBytesPerSecond = Rate }, _time);

    [Fact]
    public void Reconnect_RightAfterTheLastSessionDrainedTheBurst_NoFreshBurst()
    {
        SessionBandwidth first = _limiter.Acquire("alice")!;
        Assert.True(first.Upload.TryTakeAll(Burst));
        _limiter.Release(first);

        SessionBandwidth second = _limiter.Acquire("alice")!;

        Assert.False(second.Upload.TryTakeAll(Burst / 4));
        _time.Advance(TimeSpan.FromSeconds(0.025));
        Assert.True(second.Upload.TryTakeAll(Burst / 4));
    }

    [Fact]
    public void ManyQuickReconnects_TogetherMoveNoMoreThanTheRate()
    {
        // Each loop: a session takes what it can, closes, and the next opens 1 ms later. Over one simulated second
        // that is the burst plus one second of the rate, however many sessions it took.
        long moved = 0;
        for (int session = 0; session < 1000; session++)
        {
            SessionBandwidth bandwidth = _limiter.Acquire("alice")!;
            while (bandwidth.Upload.TryTakeAll(1000))
            {
                moved += 1000;
            }

            _limiter.Release(bandwidth);
            _time.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.InRange(moved, Rate - Burst, Rate + Burst);
    }

    [Fact]
    public void IdleUser_DroppedOnceTheBucketsHaveRefilled()
    {
        SessionBandwidth bandwidth = _limiter.Acquire("alice")!;
        Assert.True(bandwidth.Download.TryTakeAll(Burst));
        _limiter.Release(bandwidth);
        Assert.Equal(1, _limiter.UserCount);

        _time.Advance(TimeSpan.FromSeconds(0.05));
        Assert.Equal(1, _limiter.UserCount);

        _time.Advance(TimeSpan.FromSeconds(0.05));
        Assert.Equal(0, _limiter.UserCount);
    }

    [Fact]
    public void UserWithASessionOpen_NeverDropped_EvenWhenFull()
    {
        SessionBandwidth first = _limiter.Acquire("alice")!;
        SessionBandwidth second = _limiter.Acquire("alice")!;
        _limiter.Release(first);
        _time.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(1, _limiter.UserCount);
        _limiter.Release(second);
        Assert.Equal(0, _limiter.UserCount);
    }

    [Fact]
    public void UserBackBeforeRefill_ThenIdleAgain_DroppedOnlyAfterTheSecondRefill()
    {
        SessionBandwidth first = _limiter.Acquire("alice")!;
        Assert.True(first.Upload.TryTakeAll(Burst));
        _limiter.Release(first);
        SessionBandwidth second = _limiter.Acquire("alice")!;
        _time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.True(second.Upload.TryTakeAll(Burst));
        _limiter.Release(second);

        Assert.Equal(1, _limiter.UserCount);
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(0, _limiter.UserCount);
    }

    [Fact]
    public void ThousandUsersComeAndGo_TableHoldsOnlyTheRecentlyIdle()
    {
        for (int user = 0; user < 1000; user++)
        {
            SessionBandwidth bandwidth = _limiter.Acquire($"user{user}")!;
            _limiter.Release(bandwidth);
            _time.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.Equal(0, _limiter.UserCount);
    }

    [Fact]
    public void Reconfigure_UserRateChanged_NextSessionSharesNewBuckets_OpenOneKeepsTheOld()
    {
        SessionBandwidth before = _limiter.Acquire("alice")!;

        _limiter.Reconfigure(new LimitsOptions { UserBytesPerSecond = Rate * 2 });
        SessionBandwidth after = _limiter.Acquire("alice")!;
        SessionBandwidth later = _limiter.Acquire("alice")!;

        Assert.Equal(Rate, before.UserBuckets!.Upload.Rate);
        Assert.Equal(Rate * 2, after.UserBuckets!.Upload.Rate);
        Assert.Same(after.UserBuckets, later.UserBuckets);

        // The old buckets go with their last session; the new ones stay while theirs are open, then until refilled.
        _limiter.Release(before);
        _limiter.Release(after);
        Assert.Equal(1, _limiter.UserCount);
        Assert.True(later.Upload.TryTakeAll(Burst * 2));
        _limiter.Release(later);
        Assert.Equal(1, _limiter.UserCount);
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(0, _limiter.UserCount);
    }

    [Fact]
    public void Reconfigure_SessionRateSet_AppliesToSessionsThatStartAfter()
    {
        Assert.Null(_limiter.Acquire(null));

        _limiter.Reconfigure(new LimitsOptions { SessionBytesPerSecond = Rate });

        SessionBandwidth anonymous = _limiter.Acquire(null)!;
        Assert.True(anonymous.Upload.TryTakeAll(Burst));
        Assert.False(anonymous.Upload.TryTakeAll(1));
    }
}
