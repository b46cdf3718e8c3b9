namespace Sockeye.Server.Limits;

/// <summary>
/// What a <see cref="BandwidthPacer"/> takes a user's bytes from: a <see cref="TokenBucket"/> of this instance, or one
/// fed from the bucket all instances share (<see cref="Shared.SharedTokenBucket"/>). Every call is synchronous and never
/// waits: a relay without tokens waits the time it is told, as it would for a refill.
/// </summary>
internal interface IByteBucket
{
    /// <summary>Bytes per second.</summary>
    long Rate { get; }

    /// <summary>Whether forgetting the bucket and making a new one would change nothing.</summary>
    bool IsFull { get; }

    /// <inheritdoc cref="TokenBucket.TryTake"/>
    int TryTake(int wanted, out TimeSpan wait);

    /// <inheritdoc cref="TokenBucket.TryTakeAll"/>
    bool TryTakeAll(int count);

    /// <inheritdoc cref="TokenBucket.Charge"/>
    void Charge(int count);

    /// <inheritdoc cref="TokenBucket.Refund"/>
    void Refund(int count);
}
