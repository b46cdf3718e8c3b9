namespace Sockeye.Server.Configuration;

/// <summary>
/// Per-user limits shared by every instance that names the same Redis: <see cref="LimitsOptions.MaxSessionsPerUser"/>
/// and <see cref="LimitsOptions.UserBytesPerSecond"/> then hold for a user's sessions on all of them together. Without
/// <see cref="Redis"/> each instance limits its own sessions alone.
/// </summary>
/// <remarks>
/// Redis unreachable or slower than <see cref="Timeout"/>: the instance falls back to its own limits at once, and returns
/// to the shared ones when Redis answers again (docs/configuration.md, "Shared limits"). Set at start: a reload that
/// changes any of these keeps the values the server started with.
/// </remarks>
public sealed class SharedLimitsOptions
{
    /// <summary>
    /// The Redis server: <c>host:port</c>, or a StackExchange.Redis configuration string
    /// (<c>redis.example:6379,password=…,ssl=true</c>). Standalone Redis or a primary; every key of one prefix shares one
    /// hash slot, so a Redis Cluster works too.
    /// </summary>
    /// <remarks>Defaults to null: limits are per instance.</remarks>
    public string? Redis { get; set; }

    /// <summary>What every key starts with, so that several deployments can share one Redis.</summary>
    /// <remarks>Defaults to <c>sockeye</c>.</remarks>
    public string KeyPrefix { get; set; } = "sockeye";

    /// <summary>
    /// The longest a session's admission or a relay's bandwidth waits for Redis; beyond it the instance decides locally
    /// and falls back to its own limits.
    /// </summary>
    /// <remarks>Defaults to 250 ms; 10 ms to 10 s.</remarks>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How long an instance's sessions keep counting in Redis after it was last heard from: an instance that dies without
    /// a word (SIGKILL, a lost host) gives its sessions back within this. It renews the lease every third of it.
    /// </summary>
    /// <remarks>Defaults to 10 s; 1 s to 5 min, and more than four times <see cref="Timeout"/>.</remarks>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(10);
}
