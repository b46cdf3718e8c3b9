using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Limits.Shared;

namespace Sockeye.Server.Tests.Limits;

/// <summary>
/// <see cref="SharedTokenBucket"/> against a store the test answers by hand: relays take from a local stock and never
/// wait on the store, one draw at a time brings a chunk, and with the store gone the bucket is a local one.
/// </summary>
public sealed class SharedTokenBucketTests
{
    private const long Rate = 10_000;

    [Fact]
    public void EmptyStock_NothingGrantedAtOnce_OneDrawAsksForAChunk_TheRelayWaitsAFewMilliseconds()
    {
        var store = new FakeStore();
        var bucket = new SharedTokenBucket(store, "alice", SharedTokenBucket.Upload, Rate, new FakeTimeProvider());

        Assert.Equal(0, bucket.TryTake(500, out TimeSpan wait));
        Assert.Equal(TimeSpan.FromMilliseconds(5), wait);
        Assert.Equal(0, bucket.TryTake(500, out _));
        Assert.Equal(["alice:up 10000 1000"], store.Draws);
    }

    [Fact]
    public void ChunkArrives_RelaysTakeFromIt_TheNextDrawStartsAtHalfAChunk()
    {
        var store = new FakeStore();
        var bucket = new SharedTokenBucket(store, "alice", SharedTokenBucket.Download, Rate, new FakeTimeProvider());
        store.Next = (1000, TimeSpan.Zero);
        bucket.TryTake(1, out _);

        Assert.Equal(400, bucket.TryTake(400, out TimeSpan wait));
        Assert.Equal(TimeSpan.Zero, wait);
        Assert.Single(store.Draws);
        Assert.Equal(200, bucket.TryTake(200, out _));

        // 400 left, under half a chunk: the next one is asked for while the relay still has bytes to move.
        Assert.Equal(2, store.Draws.Count);
        Assert.Equal(400, bucket.TryTake(1000, out _));
    }

    [Fact]
    public void SharedBucketEmpty_NoDrawBeforeItHasRefilled()
    {
        var store = new FakeStore();
        var time = new FakeTimeProvider();
        var bucket = new SharedTokenBucket(store, "alice", SharedTokenBucket.Upload, Rate, time);
        store.Next = (0, TimeSpan.FromMilliseconds(25));
        bucket.TryTake(1, out _);

        Assert.Equal(0, bucket.TryTake(100, out TimeSpan wait));
        Assert.Equal(TimeSpan.FromMilliseconds(25), wait);
        Assert.Single(store.Draws);

        time.Advance(TimeSpan.FromMilliseconds(25));
        Assert.Equal(0, bucket.TryTake(100, out _));
        Assert.Equal(2, store.Draws.Count);
    }

    [Fact]
    public void StoreUnavailable_TheLocalBucketAtTheFullRate()
    {
        var store = new FakeStore { IsShared = false };
        var bucket = new SharedTokenBucket(store, "alice", SharedTokenBucket.Upload, Rate, new FakeTimeProvider());

        // A local bucket starts full: a tenth of a second of the rate.
        Assert.Equal(1000, bucket.TryTake(5000, out _));
        Assert.Equal(0, bucket.TryTake(5000, out _));
        Assert.Empty(store.Draws);
    }

    private sealed class FakeStore : ISharedLimits
    {
        public List<string> Draws { get; } = [];

        /// <summary>The answer to the next draw, at once; without one the draw stays on its way.</summary>
        public (long Granted, TimeSpan RetryAfter)? Next { get; set; }

        public bool IsShared { get; set; } = true;

        public string State => IsShared ? "shared" : "local fallback: test";

        public ValueTask<(long Granted, TimeSpan RetryAfter)> DrawBandwidthAsync(string bucket, long rate, long wanted)
        {
            Draws.Add($"{bucket} {rate} {wanted}");
            (long, TimeSpan)? next = Next;
            Next = null;
            return next is { } answer ? ValueTask.FromResult(answer) : new ValueTask<(long, TimeSpan)>(new TaskCompletionSource<(long, TimeSpan)>().Task);
        }

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask<bool> TryAcquireSessionAsync(string user, int cap) => ValueTask.FromResult(true);

        public void ReleaseSession(string user)
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
