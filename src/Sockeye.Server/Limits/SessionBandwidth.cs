namespace Sockeye.Server.Limits;

/// <summary>The pacers of one rate-limited session, one per direction; handed back to <see cref="BandwidthLimiter.Release"/> when it ends.</summary>
internal sealed class SessionBandwidth
{
    public SessionBandwidth(BandwidthPacer upload, BandwidthPacer download, string? user, BandwidthLimiter.UserBuckets? userBuckets)
    {
        Upload = upload;
        Download = download;
        User = user;
        UserBuckets = userBuckets;
    }

    /// <summary>Client → destination.</summary>
    public BandwidthPacer Upload { get; }

    /// <summary>Destination → client.</summary>
    public BandwidthPacer Download { get; }

    /// <summary>The user whose shared buckets this session holds a reference on, or <see langword="null"/>.</summary>
    public string? User { get; }

    /// <summary>The shared buckets of <see cref="User"/> this session holds, or <see langword="null"/>.</summary>
    public BandwidthLimiter.UserBuckets? UserBuckets { get; }
}
