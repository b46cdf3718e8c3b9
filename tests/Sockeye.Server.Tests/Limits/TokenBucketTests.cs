using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Limits;

namespace Sockeye.Server.Tests.Limits;

public sealed class TokenBucketTests
{
    private static readonly TimeSpan TenSeconds = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(1024, 1)]
    [InlineData(1024, 1500)]
    [InlineData(100_000, 1500)]
    [InlineData(1 << 20, 65536)]
    [InlineData(10 << 20, 65536)]
    [InlineData(100 << 20, 1 << 20)]
    [InlineData(1 << 30, 1 << 20)]
    public void TryTake_WakingWhenTold_GrantsRateTimesTenSecondsWithinOnePercent(long rate, int chunk)
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(rate, time);
        DateTimeOffset end = time.GetUtcNow() + TenSeconds;
        long granted = 0;
        for (int i = 0; i < 1_000_000 && time.GetUtcNow() < end; i++)
        {
            int taken = bucket.TryTake(chunk, out TimeSpan wait);
            Assert.InRange(taken, 0, chunk);
            if (taken > 0)
            {
                granted += taken;
            }
            else
            {
                Assert.True(wait > TimeSpan.Zero);
                time.Advance(Min(wait, end - time.GetUtcNow()));
            }
        }

        AssertWithin(rate * 10, granted, lowPercent: 1, highPercent: 1.1);
    }

    [Theory]
    [InlineData(1024, 1500, 7)]
    [InlineData(1 << 20, 65536, 3)]
    [InlineData(10 << 20, 1 << 20, 40)]
    [InlineData(100 << 20, 1 << 20, 90)]
    public void TryTake_WokenLateByFixedSteps_StillGrantsRateWithinOnePercent(long rate, int chunk, int stepMilliseconds)
    {
        // A real timer fires late; as long as the lateness stays under the burst (100 ms of the rate) no token is lost.
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(rate, time);
        long granted = 0;
        int steps = (int)(TenSeconds.TotalMilliseconds / stepMilliseconds);
        for (int step = 0; step <= steps; step++)
        {
            for (int i = 0; i < 100_000; i++)
            {
                int taken = bucket.TryTake(chunk, out _);
                if (taken == 0)
                {
                    break;
                }

                granted += taken;
            }

            if (step < steps)
            {
                time.Advance(TimeSpan.FromMilliseconds(stepMilliseconds));
            }
        }

        double elapsedSeconds = steps * stepMilliseconds / 1000.0;
        AssertWithin((long)(rate * elapsedSeconds), granted, lowPercent: 1, highPercent: 1.1);
    }

    [Fact]
    public void Charge_BeyondTheBurst_LaterTakesWaitUntilTheDebtIsPaid()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(10_000, time);

        bucket.Charge(3_000);

        // 1 000 in the bucket, 3 000 charged: 2 000 owed, then a quarter of the burst (250) to grant: 0.225 s.
        Assert.Equal(0, bucket.TryTake(1_000, out TimeSpan wait));
        Assert.Equal(TimeSpan.FromSeconds(0.225), wait);
        Assert.False(bucket.IsFull);
        time.Advance(wait);
        Assert.Equal(250, bucket.TryTake(1_000, out _));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(bucket.IsFull);
    }

    [Fact]
    public void TryTake_AfterAnHourIdle_BurstIsOneTenthOfASecond()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(1_000_000, time);
        time.Advance(TimeSpan.FromHours(1));

        long burst = 0;
        for (int i = 0; i < 1000; i++)
        {
            int taken = bucket.TryTake(4096, out _);
            if (taken == 0)
            {
                break;
            }

            burst += taken;
        }

        Assert.Equal(100_000, bucket.Capacity);
        Assert.Equal(100_000, burst + Drain(bucket));
    }

    [Fact]
    public void TryTake_Empty_WaitsUntilAQuarterOfTheBurstIsBack()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(1_000_000, time);
        Assert.Equal(100_000, bucket.TryTake(1 << 20, out _));

        // A trickle is not worth waking for: 25 000 bytes (a quarter of the burst) take 25 ms at 1 MB/s.
        Assert.Equal(0, bucket.TryTake(1 << 20, out TimeSpan wait));
        Assert.Equal(TimeSpan.FromMilliseconds(25), wait);
        time.Advance(TimeSpan.FromMilliseconds(24));
        Assert.Equal(0, bucket.TryTake(1 << 20, out wait));
        Assert.Equal(TimeSpan.FromMilliseconds(1), wait);
        time.Advance(wait);
        Assert.Equal(25_000, bucket.TryTake(1 << 20, out _));

        // Wanting less than a quarter burst waits only for that much.
        Assert.Equal(0, bucket.TryTake(100, out wait));
        Assert.Equal(TimeSpan.FromMilliseconds(0.1), wait);
    }

    [Fact]
    public void Refund_GivesTokensBack_NeverBeyondTheBurst()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(10_000, time);
        Assert.Equal(1000, bucket.TryTake(5000, out _));
        bucket.Refund(400);
        Assert.Equal(400, bucket.TryTake(5000, out _));
        bucket.Refund(5000);
        Assert.Equal(1000, bucket.TryTake(5000, out _));
    }

    [Fact]
    public void TryTakeAll_DatagramLargerThanTheBurst_PassesFromAFullBucketThenTheDebtIsWaitedOut()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(10_000, time); // a burst of 1000 bytes
        Assert.True(bucket.TryTakeAll(1400));
        Assert.False(bucket.TryTakeAll(1));

        // 400 bytes of debt, then a full burst again: 140 ms at 10 000 B/s.
        time.Advance(TimeSpan.FromMilliseconds(139));
        Assert.False(bucket.TryTakeAll(1400));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(bucket.TryTakeAll(1400));
    }

    [Fact]
    public void TryTakeAll_SmallDatagrams_PassOnlyWhileTokensLast()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(10_000, time);
        int passed = 0;
        for (int i = 0; i < 100; i++)
        {
            passed += bucket.TryTakeAll(300) ? 1 : 0;
        }

        Assert.Equal(3, passed);
    }

    [Fact]
    public async Task TryTake_ManyThreadsWithTimeFrozen_GrantExactlyTheBurst()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(10 << 20, time);
        long granted = 0;
        var takers = new Task[8];
        for (int t = 0; t < takers.Length; t++)
        {
            int chunk = 1000 + (t * 517);
            takers[t] = Task.Run(() =>
            {
                for (int i = 0; i < 100_000; i++)
                {
                    int taken = bucket.TryTake(chunk, out _);
                    if (taken == 0)
                    {
                        return;
                    }

                    Interlocked.Add(ref granted, taken);
                }
            });
        }

        await Task.WhenAll(takers).DefaultTimeout();

        // A taker stops when less than its chunk is left; what the smallest chunk left behind is still there.
        Assert.InRange(granted, bucket.Capacity - 1000, bucket.Capacity);
        Assert.Equal(bucket.Capacity - granted, Drain(bucket));
    }

    [Fact]
    public async Task TryTake_ManyThreadsWhileTimeAdvances_NeverGrantMoreThanBurstPlusRate()
    {
        const long Rate = 1 << 20;
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(Rate, time);
        long granted = 0;
        using var stop = new CancellationTokenSource();
        var takers = new Task[3];
        for (int t = 0; t < takers.Length; t++)
        {
            int chunk = 1500 * (t + 1);
            takers[t] = Task.Run(() =>
            {
                for (int i = 0; i < 10_000_000 && !stop.IsCancellationRequested; i++)
                {
                    Interlocked.Add(ref granted, bucket.TryTake(chunk, out _));
                }
            });
        }

        for (int step = 0; step < 1000; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            if (step % 100 == 0)
            {
                await Task.Yield();
            }
        }

        await stop.CancelAsync();
        await Task.WhenAll(takers).DefaultTimeout();
        long remaining = Drain(bucket);

        // Every token ever added: the initial burst plus one second of the rate. Slow takers may let the bucket overflow
        // (fewer granted), but never more.
        Assert.InRange(granted + remaining, 1, bucket.Capacity + Rate);
    }

    private static long Drain(TokenBucket bucket)
    {
        long drained = 0;
        for (int i = 0; i < 1_000_000; i++)
        {
            int taken = bucket.TryTake(1, out _);
            if (taken == 0)
            {
                return drained;
            }

            drained += taken;
        }

        return drained;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static void AssertWithin(long expected, long actual, double lowPercent, double highPercent)
    {
        double ratio = (double)actual / expected;
        Assert.True(ratio >= 1 - (lowPercent / 100) && ratio <= 1 + (highPercent / 100),
            $"{actual} bytes granted, expected {expected} (-{lowPercent} % / +{highPercent} %): {(ratio - 1) * 100:F2} %");
    }
}
