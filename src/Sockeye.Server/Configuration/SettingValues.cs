using System.Globalization;

namespace Sockeye.Server.Configuration;

/// <summary>
/// The values of the settings a reload compares, by their key in a config file, taken from one
/// <see cref="SockeyeServerOptions"/> when it is put in force. Kept as values rather than as the options object, so that
/// a caller changing the object it passed does not change what the server believes is in force.
/// </summary>
/// <remarks>
/// Users, rules and listeners are not here: a reload always replaces the first two, and the server compares listeners
/// itself (Listening/ListenerSet.cs). Restart-only settings are those a running server cannot change safely: the
/// engine and its event loops, the relay buffers and the UDP loops' buffers are sized at start, the listeners
/// already open keep their backlog (new ones get the one in force too, so that all listeners agree), and the shared
/// limits' connection, keys and lease are those its counts in Redis were written under.
/// </remarks>
internal sealed class SettingValues
{
    private static readonly Setting[] Settings =
    [
        new("handshakeTimeout", static o => o.HandshakeTimeout),
        new("connectTimeout", static o => o.ConnectTimeout),
        new("idleTimeout", static o => o.IdleTimeout),
        new("shutdownTimeout", static o => o.ShutdownTimeout),
        new("dnsCacheTtl", static o => o.DnsCacheTtl),
        new("outbound.bindAddress", static o => (o.Outbound.BindAddressV4, o.Outbound.BindAddressV6)),
        new("authentication.failureDelay", static o => o.Authentication.FailureDelay),
        new("authentication.maxFailureDelay", static o => o.Authentication.MaxFailureDelay),
        new("authentication.maxFailures", static o => o.Authentication.MaxFailures),
        new("authentication.banDuration", static o => o.Authentication.BanDuration),
        new("authentication.banExempt", static o => string.Join(", ", o.Authentication.BanExempt)),
        new("authentication.verifiedCacheTtl", static o => o.Authentication.VerifiedCacheTtl),
        new("limits.maxHandshakes", static o => o.Limits.MaxHandshakes),
        new("limits.maxSessions", static o => o.Limits.MaxSessions),
        new("limits.maxSessionsPerUser", static o => o.Limits.MaxSessionsPerUser),
        new("limits.maxSessionsPerClientAddress", static o => o.Limits.MaxSessionsPerClientAddress),
        new("limits.sessionBandwidth", static o => o.Limits.SessionBytesPerSecond),
        new("limits.userBandwidth", static o => o.Limits.UserBytesPerSecond),
        new("bind.advertiseAddress", static o => o.Bind.AdvertiseAddress),
        new("bind.acceptTimeout", static o => o.Bind.AcceptTimeout),
        new("udp.advertiseAddress", static o => (o.Udp.AdvertiseAddressV4, o.Udp.AdvertiseAddressV6)),
        new("udp.portRange", static o => o.Udp.PortRange),
        new("udp.idleTimeout", static o => o.Udp.IdleTimeout),
        new("udp.maxDatagramBytes", static o => o.Udp.MaxDatagramBytes, RestartOnly: true),
        new("udp.segmentationOffload", static o => o.Udp.SegmentationOffload, RestartOnly: true),
        new("listenBacklog", static o => o.ListenBacklog, RestartOnly: true),
        new("relayBufferBytes", static o => o.RelayBufferBytes, RestartOnly: true),
        new("relay.engine", static o => o.RelayEngine, RestartOnly: true),
        new("eventLoopPoll", static o => o.EventLoopPoll, RestartOnly: true),
        new("limits.shared.redis", static o => o.Limits.Shared.Redis is { } redis ? new RedisConfiguration(redis) : null, RestartOnly: true),
        new("limits.shared.keyPrefix", static o => o.Limits.Shared.KeyPrefix, RestartOnly: true),
        new("limits.shared.timeout", static o => o.Limits.Shared.Timeout, RestartOnly: true),
        new("limits.shared.lease", static o => o.Limits.Shared.Lease, RestartOnly: true),
    ];

    private readonly object?[] _values;

    private SettingValues(object?[] values) => _values = values;

    /// <summary>The values of <paramref name="options"/>, read now.</summary>
    public static SettingValues Of(SockeyeServerOptions options)
    {
        var values = new object?[Settings.Length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = Settings[i].Read(options);
        }

        return new SettingValues(values);
    }

    /// <summary>
    /// The values in force once <paramref name="configured"/> is reloaded over these: its own, except that each
    /// restart-only setting keeps its value here. Lists the keys of the settings that change in
    /// <paramref name="applied"/>, and those that would but need a restart in <paramref name="needsRestart"/>, with the
    /// value kept and the value configured.
    /// </summary>
    public SettingValues Reload(SettingValues configured, List<string> applied, List<(string Setting, string InForce, string Configured)> needsRestart)
    {
        var values = new object?[Settings.Length];
        for (int i = 0; i < values.Length; i++)
        {
            object? inForce = _values[i];
            object? next = configured._values[i];
            bool changed = !Equals(inForce, next);
            if (changed && Settings[i].RestartOnly)
            {
                needsRestart.Add((Settings[i].Key, Describe(inForce), Describe(next)));
                values[i] = inForce;
                continue;
            }

            if (changed)
            {
                applied.Add(Settings[i].Key);
            }

            values[i] = next;
        }

        return new SettingValues(values);
    }

    private static string Describe(object? value) => value switch
    {
        null => "(none)",
        TimeSpan duration => duration.ToString("c", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>A Redis configuration string: compared whole, shown without its password.</summary>
    private sealed record RedisConfiguration(string Value)
    {
        public override string ToString() => Limits.Shared.RedisSharedLimits.Redact(Value);
    }

    /// <param name="Key">The setting's key in a config file.</param>
    /// <param name="Read">Reads its value, as an object whose <see cref="object.Equals(object?)"/> says whether it changed.</param>
    /// <param name="RestartOnly">Whether a running server keeps the value it started with (see remarks).</param>
    private sealed record Setting(string Key, Func<SockeyeServerOptions, object?> Read, bool RestartOnly = false);
}
