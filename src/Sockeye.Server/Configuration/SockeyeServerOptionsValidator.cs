using Sockeye.Protocol.Gssapi;
using System.Text;
using Microsoft.Extensions.Options;

namespace Sockeye.Server.Configuration;

/// <summary>
/// Checks a <see cref="SockeyeServerOptions"/> and reports every problem at once, each naming its configuration key
/// (as written in a config file) and what to do about it.
/// </summary>
public sealed class SockeyeServerOptionsValidator : IValidateOptions<SockeyeServerOptions>
{
    // Measured, nothing was gained past 100-200 µs (docs/performance-journal.md); 10 ms leaves room to experiment and
    // still bounds a typo, since a loop under steady traffic polls for the whole window after every event.
    private static readonly TimeSpan MaxEventLoopPoll = TimeSpan.FromMilliseconds(10);

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, SockeyeServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.Listeners.Count == 0)
        {
            errors.Add("listeners: at least one endpoint is needed, e.g. 127.0.0.1:1080.");
        }

        for (int i = 0; i < options.Listeners.Count; i++)
        {
            if (options.Listeners[i] is null)
            {
                errors.Add($"listeners[{i}]: the endpoint is missing.");
            }
        }

        foreach ((System.Net.IPEndPoint endPoint, ProxyProtocolOptions proxy) in options.ProxyProtocol)
        {
            if (!options.Listeners.Contains(endPoint))
            {
                errors.Add($"proxyProtocol: {endPoint} is not one of the listeners.");
            }
            else if (proxy is null || proxy.TrustedProxies.Count == 0)
            {
                errors.Add($"listeners {endPoint}: proxyProtocol needs trustedProxies, the balancers allowed to send a PROXY header (e.g. [\"10.0.0.0/8\"]); without them every connection would be refused.");
            }
        }

        foreach ((System.Net.IPEndPoint endPoint, ListenerProtocols protocols) in options.Protocols)
        {
            if (!options.Listeners.Contains(endPoint))
            {
                errors.Add($"protocols: {endPoint} is not one of the listeners.");
            }
            else if ((protocols & ListenerProtocols.All) == ListenerProtocols.None || (protocols & ~ListenerProtocols.All) != 0)
            {
                errors.Add($"listeners {endPoint}: protocols must name at least one of socks5, socks4 and http, and nothing else.");
            }
        }

        if (options.Http.MaxHeaderBytes is < 1024 or > 1024 * 1024)
        {
            errors.Add($"http.maxHeaderBytes: {options.Http.MaxHeaderBytes} is out of range; use 1024 to 1048576 bytes.");
        }
        else if (options.Http.MaxRequestLineBytes < 256 || options.Http.MaxRequestLineBytes > options.Http.MaxHeaderBytes)
        {
            errors.Add($"http.maxRequestLineBytes: {options.Http.MaxRequestLineBytes} is out of range; use 256 bytes up to http.maxHeaderBytes ({options.Http.MaxHeaderBytes}).");
        }

        if (string.IsNullOrEmpty(options.Http.Realm) || options.Http.Realm.Length > 128 || !options.Http.Realm.All(static c => c is >= ' ' and <= '~'))
        {
            errors.Add("http.realm: use 1 to 128 printable ASCII characters.");
        }

        foreach (string user in options.Socks4.AllowWithUsers)
        {
            if (string.IsNullOrEmpty(user))
            {
                errors.Add("socks4.allowWithUsers: an entry is empty; name an account, or \"*\" for all of them.");
            }
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < options.Users.Count; i++)
        {
            SockeyeUser user = options.Users[i];
            CheckCredentialField(errors, $"users[{i}].name", user.Name);
            if (user.PasswordHash is null)
            {
                CheckCredentialField(errors, $"users[{i}].password", user.Password);
            }
            else if (!string.IsNullOrEmpty(user.Password))
            {
                errors.Add($"users[{i}]: give either a password or a password hash, not both.");
            }
            else if (!Authentication.PasswordHash.TryParse(user.PasswordHash, options.MinHashIterations, out _, out string? problem))
            {
                errors.Add($"users[{i}].passwordHash: {problem}");
            }

            if (!string.IsNullOrEmpty(user.Name) && !names.Add(user.Name))
            {
                errors.Add($"users[{i}].name: '{user.Name}' is configured twice; remove one.");
            }
        }

        // A Kerberos principal is nobody's configured account: with GSSAPI on, a rule may name one.
        CheckRules(errors, options.Rules, options.Gssapi is null ? names : null);
        CheckGssapi(errors, options.Gssapi);
        CheckTimeout(errors, "handshakeTimeout", options.HandshakeTimeout, allowDisabled: true);
        CheckTimeout(errors, "connectTimeout", options.ConnectTimeout, allowDisabled: false);
        CheckTimeout(errors, "idleTimeout", options.IdleTimeout, allowDisabled: true);
        CheckTimeout(errors, "shutdownTimeout", options.ShutdownTimeout, allowDisabled: false);
        CheckTimeout(errors, "bind.acceptTimeout", options.Bind.AcceptTimeout, allowDisabled: false);
        CheckTimeout(errors, "dnsCacheTtl", options.DnsCacheTtl, allowDisabled: true);
        CheckTimeout(errors, "udp.idleTimeout", options.Udp.IdleTimeout, allowDisabled: true);
        if (options.Udp.MaxDatagramBytes is < 512 or > 65535)
        {
            errors.Add($"udp.maxDatagramBytes: {options.Udp.MaxDatagramBytes} is out of range; use 512 to 65535.");
        }

        if (options.Udp.PortRange is { } relayPorts)
        {
            // Port 0 asks the kernel for any port: in a range it would let a relay escape the ports a firewall opened.
            if (relayPorts.First == 0)
            {
                errors.Add($"udp.portRange: {relayPorts} includes port 0, which is no port a relay can be bound to; give ports from 1 to 65535, e.g. 40000-40999.");
            }
            else if (relayPorts.First > relayPorts.Last)
            {
                errors.Add($"udp.portRange: {relayPorts.First}-{relayPorts.Last} is an empty range; write the lower port first.");
            }
        }

        CheckAdvertiseAddress(errors, options.Udp.AdvertiseAddressV4, System.Net.Sockets.AddressFamily.InterNetwork, "IPv4");
        CheckAdvertiseAddress(errors, options.Udp.AdvertiseAddressV6, System.Net.Sockets.AddressFamily.InterNetworkV6, "IPv6");

        if (options.Outbound.BindAddressV4 is { } v4 && v4.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            errors.Add($"outbound.bindAddress: {v4} was given as the IPv4 source address but is not IPv4.");
        }

        if (options.Outbound.BindAddressV6 is { } v6 && v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            errors.Add($"outbound.bindAddress: {v6} was given as the IPv6 source address but is not IPv6.");
        }

        CheckTimeout(errors, "authentication.failureDelay", options.Authentication.FailureDelay, allowDisabled: true);
        CheckTimeout(errors, "authentication.maxFailureDelay", options.Authentication.MaxFailureDelay, allowDisabled: true);
        CheckTimeout(errors, "authentication.banDuration", options.Authentication.BanDuration, allowDisabled: false);
        CheckTimeout(errors, "authentication.verifiedCacheTtl", options.Authentication.VerifiedCacheTtl, allowDisabled: true);
        CheckNotNegative(errors, "authentication.maxFailures", options.Authentication.MaxFailures);
        CheckNotNegative(errors, "limits.maxHandshakes", options.Limits.MaxHandshakes);
        CheckNotNegative(errors, "limits.maxSessions", options.Limits.MaxSessions);
        CheckNotNegative(errors, "limits.maxSessionsPerUser", options.Limits.MaxSessionsPerUser);
        CheckNotNegative(errors, "limits.maxSessionsPerClientAddress", options.Limits.MaxSessionsPerClientAddress);
        CheckBandwidth(errors, "limits.sessionBandwidth", options.Limits.SessionBytesPerSecond);
        CheckBandwidth(errors, "limits.userBandwidth", options.Limits.UserBytesPerSecond);
        CheckSharedLimits(errors, options.Limits.Shared);
        if (options.ListenBacklog is < 1 or > 65535)
        {
            errors.Add($"listenBacklog: {options.ListenBacklog} is out of range; use 1 to 65535.");
        }

        if (options.RelayBufferBytes is < 1024 or > 16 * 1024 * 1024)
        {
            errors.Add($"relayBufferBytes: {options.RelayBufferBytes} is out of range; use 1024 to 16777216.");
        }

        if (options.EventLoopPoll < TimeSpan.Zero || options.EventLoopPoll > MaxEventLoopPoll)
        {
            errors.Add($"eventLoopPoll: {options.EventLoopPoll.TotalMicroseconds} µs is out of range; use 0 (sleep at once) to 10ms.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckGssapi(List<string> errors, GssapiOptions? gssapi)
    {
        if (gssapi is null)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(gssapi.ServiceName) || gssapi.ServiceName.Any(static c => c is '/' or '@' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            errors.Add("gssapi.serviceName: name the service alone, without host or realm (e.g. rcmd, for rcmd/host@REALM).");
        }

        if (gssapi.MinimumProtection is not (GssapiProtectionLevel.None or GssapiProtectionLevel.Integrity or GssapiProtectionLevel.Confidentiality))
        {
            errors.Add($"gssapi.minimumProtection: {gssapi.MinimumProtection} is not a level the server can require; use none, integrity or confidentiality.");
        }

        if (gssapi.Keytab is { } keytab)
        {
            try
            {
                // Opened, not only looked for: a keytab the server's user cannot read fails every login, long after start.
                using FileStream stream = File.OpenRead(keytab);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                errors.Add($"gssapi.keytab: '{keytab}' cannot be read ({e.Message}); export the service principal's keys there (kadmin ktadd -k) and let the server's user read it.");
            }
        }
    }

    private static void CheckRules(List<string> errors, IList<AccessRule> rules, HashSet<string>? userNames)
    {
        for (int i = 0; i < rules.Count; i++)
        {
            AccessRule? rule = rules[i];
            string key = $"rules[{i}]";
            if (rule is null)
            {
                errors.Add($"{key}: the rule is missing.");
                continue;
            }

            if (!Enum.IsDefined(rule.Action))
            {
                errors.Add($"{key}.action: must be allow or deny.");
            }

            if ((rule.Commands & AccessCommands.All) == AccessCommands.None || (rule.Commands & ~AccessCommands.All) != 0)
            {
                errors.Add($"{key}.commands: name at least one of connect, bind and udp, or leave commands out for all three.");
            }

            for (int u = 0; u < rule.Users.Count; u++)
            {
                // A rule for a user nobody can log in as never matches: almost surely a typo.
                if (userNames is not null && !userNames.Contains(rule.Users[u]))
                {
                    errors.Add($"{key}.users[{u}]: '{rule.Users[u]}' is not a configured user; the rule could never match it.");
                }
            }

            for (int d = 0; d < rule.Destinations.Count; d++)
            {
                if (rule.Destinations[d] is null)
                {
                    errors.Add($"{key}.destinations[{d}]: the destination is missing.");
                }
            }
        }
    }

    private static void CheckNotNegative(List<string> errors, string key, int value)
    {
        if (value < 0)
        {
            errors.Add($"{key}: {value} is negative; use 0 for no limit or a positive number.");
        }
    }

    // Below 1 KiB/s a tenth of a second of the rate is less than a TCP segment; such a value is almost surely a unit slip.
    private static void CheckBandwidth(List<string> errors, string key, long bytesPerSecond)
    {
        if (bytesPerSecond < 0)
        {
            errors.Add($"{key}: {bytesPerSecond} is negative; use 0 for no limit or a rate in bytes per second, e.g. 10M.");
        }
        else if (bytesPerSecond is > 0 and < 1024)
        {
            errors.Add($"{key}: {bytesPerSecond} bytes per second is below the minimum of 1024 (1k); use 0 for no limit.");
        }
    }

    private static void CheckSharedLimits(List<string> errors, SharedLimitsOptions shared)
    {
        if (shared.Redis is { } redis && !Limits.Shared.RedisSharedLimits.IsValidConfiguration(redis, out string? problem))
        {
            errors.Add($"limits.shared.redis: {problem}");
        }

        if (string.IsNullOrEmpty(shared.KeyPrefix) || shared.KeyPrefix.Length > 64 || shared.KeyPrefix.Any(static c => c is '{' or '}' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            // Braces would break the hash tag that keeps every key of the prefix in one Redis Cluster slot.
            errors.Add($"limits.shared.keyPrefix: '{shared.KeyPrefix}' must be 1 to 64 characters without braces, white space or control characters.");
        }

        if (shared.Timeout < TimeSpan.FromMilliseconds(10) || shared.Timeout > TimeSpan.FromSeconds(10))
        {
            errors.Add($"limits.shared.timeout: {shared.Timeout.TotalMilliseconds} ms is out of range; use 10ms to 10s.");
        }

        if (shared.Lease < TimeSpan.FromSeconds(1) || shared.Lease > TimeSpan.FromMinutes(5))
        {
            errors.Add($"limits.shared.lease: {shared.Lease.TotalSeconds} s is out of range; use 1s to 5m.");
        }
        else if (shared.Lease <= 4 * shared.Timeout)
        {
            // Renewed every third of the lease, each renewal waiting up to the timeout: a lease must outlast a slow renewal.
            errors.Add($"limits.shared.lease: {shared.Lease.TotalSeconds} s must be more than four times limits.shared.timeout ({shared.Timeout.TotalMilliseconds} ms).");
        }
    }

    private static void CheckCredentialField(List<string> errors, string key, string? value)
    {
        int length = value is null ? 0 : Encoding.UTF8.GetByteCount(value);
        if (length is 0 or > 255)
        {
            errors.Add($"{key}: must be 1 to 255 bytes of UTF-8 (RFC 1929); it is {length}.");
        }
    }

    private static void CheckAdvertiseAddress(List<string> errors, System.Net.IPAddress? address, System.Net.Sockets.AddressFamily family, string familyName)
    {
        if (address is not null && address.AddressFamily != family)
        {
            errors.Add($"udp.advertiseAddress: {address} was given as the {familyName} address to announce but is not {familyName}.");
        }
    }

    private static void CheckTimeout(List<string> errors, string key, TimeSpan value, bool allowDisabled)
    {
        if (value == Timeout.InfiniteTimeSpan || value == TimeSpan.Zero)
        {
            if (!allowDisabled)
            {
                errors.Add($"{key}: must be a positive duration, e.g. 10s.");
            }

            return;
        }

        if (value < TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue)
        {
            errors.Add($"{key}: {value} is out of range; use a positive duration of at most 24 days.");
        }
    }
}
