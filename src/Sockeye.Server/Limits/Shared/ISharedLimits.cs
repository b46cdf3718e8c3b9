namespace Sockeye.Server.Limits.Shared;

/// <summary>
/// Per-user limits held together with the other instances that share one store (docs/configuration.md, "Shared
/// limits"): the seam between <see cref="SessionLimiter"/>'s per-user cap and that store. Nothing else names Redis.
/// </summary>
/// <remarks>
/// The store may be slow or gone. No call waits for it beyond the configured bound: past it, or on any failure, the
/// instance falls back to its own limits at once (<see cref="IsShared"/> turns false) and returns to the shared ones once
/// the store answers again.
/// </remarks>
internal interface ISharedLimits : IAsyncDisposable
{
    /// <summary>Whether the limits are shared now; false while this instance enforces its own.</summary>
    bool IsShared { get; }

    /// <summary><c>shared</c>, or <c>local fallback: </c> and why: what the status report and <c>/readyz</c> show.</summary>
    string State { get; }

    /// <summary>Connects, and waits a bounded time for the first answer; without one the server starts on its own limits.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Counts a session of <paramref name="user"/> across instances: <see langword="false"/> when the user already holds
    /// <paramref name="cap"/> sessions on all of them together (0: no cap, the session is only counted). Decided locally
    /// (admitted, and counted here) when the store does not answer in time. Each admitted session is given back with
    /// <see cref="ReleaseSession"/>.
    /// </summary>
    ValueTask<bool> TryAcquireSessionAsync(string user, int cap);

    /// <summary>Gives back a session <see cref="TryAcquireSessionAsync"/> admitted. Never waits.</summary>
    void ReleaseSession(string user);

    /// <summary>
    /// Takes up to <paramref name="wanted"/> bytes from the bucket that every instance shares for
    /// <paramref name="bucket"/> (a user and a direction), filling at <paramref name="rate"/> bytes per second up to a
    /// tenth of a second of it: one round trip for the whole chunk. None when it holds too little, and then
    /// <c>RetryAfter</c> says when it will hold enough; none and no wait when the store did not answer in time (the
    /// limits are then local, <see cref="IsShared"/>).
    /// </summary>
    ValueTask<(long Granted, TimeSpan RetryAfter)> DrawBandwidthAsync(string bucket, long rate, long wanted);
}
