using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sockeye.Protocol.Gssapi;
using Sockeye.Server.Configuration;
using Sockeye.Users;

namespace Sockeye.Configuration;

/// <summary>
/// Builds the effective settings from the config file, SOCKEYE_* environment variables and the command line (in rising
/// precedence), and reports every problem at once, each as one line that names the key and says what is wrong.
/// Read by hand rather than by the reflection binder: it stays trimming- and AOT-safe, and "10" can mean ten seconds.
/// </summary>
internal static class SettingsReader
{
    public static readonly IPEndPoint DefaultListener = new(IPAddress.Loopback, 1080);

    /// <summary>The prefix of the environment variables that are settings: <c>SOCKEYE_IDLETIMEOUT</c> is <c>idleTimeout</c>.</summary>
    public const string EnvironmentPrefix = "SOCKEYE_";

    private static readonly HashSet<string> KnownKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "listeners", "users", "usersFile", "handshakeTimeout", "connectTimeout", "idleTimeout", "shutdownTimeout",
        "listenBacklog", "relay", "relayBufferBytes", "relayMode", "eventLoopPoll", "dnsCacheTtl", "allowAnonymous", "logLevel", "logFormat", "bind", "udp", "limits", "authentication", "outbound",
        "rules", "metrics", "accessLog", "admin", "socks4", "http", "gssapi",
    };

    private static readonly HashSet<string> KnownHttpKeys = new(StringComparer.OrdinalIgnoreCase) { "maxRequestLineBytes", "maxHeaderBytes", "via", "realm" };

    private static readonly HashSet<string> KnownGssapiKeys = new(StringComparer.OrdinalIgnoreCase) { "serviceName", "keytab", "stripRealm", "minimumProtection" };

    private static readonly HashSet<string> KnownSocks4Keys = new(StringComparer.OrdinalIgnoreCase) { "allowWithUsers" };

    private static readonly HashSet<string> KnownMetricsKeys = new(StringComparer.OrdinalIgnoreCase) { "otlpEndpoint", "exportInterval", "perUser" };

    private static readonly HashSet<string> KnownAdminKeys = new(StringComparer.OrdinalIgnoreCase) { "listen", "token" };

    private static readonly HashSet<string> KnownBindKeys = new(StringComparer.OrdinalIgnoreCase) { "advertiseAddress", "acceptTimeout" };

    private static readonly HashSet<string> KnownListenerKeys = new(StringComparer.OrdinalIgnoreCase) { "endpoint", "proxyProtocol", "trustedProxies", "protocols" };

    private static readonly HashSet<string> KnownRelayKeys = new(StringComparer.OrdinalIgnoreCase) { "engine" };

    private static readonly HashSet<string> KnownLimitKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "maxHandshakes", "maxSessions", "maxSessionsPerUser", "maxSessionsPerClientAddress", "sessionBandwidth", "userBandwidth", "shared",
    };

    private static readonly HashSet<string> KnownSharedLimitKeys = new(StringComparer.OrdinalIgnoreCase) { "redis", "keyPrefix", "timeout", "lease" };

    private static readonly HashSet<string> KnownAuthenticationKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "failureDelay", "maxFailureDelay", "maxFailures", "banDuration", "verifiedCacheTtl", "banExempt",
    };

    private static readonly HashSet<string> KnownUdpKeys = new(StringComparer.OrdinalIgnoreCase) { "advertiseAddress", "portRange", "maxDatagramBytes", "idleTimeout", "segmentationOffload" };

    public static SockeyeSettings? Read(IConfiguration configuration, CommandLineValues commandLine, List<string> errors)
    {
        var options = new SockeyeServerOptions();
        var ignoredVariables = new List<string>();
        foreach (IConfigurationSection section in configuration.GetChildren())
        {
            if (KnownKeys.Contains(section.Key))
            {
                continue;
            }

            if (VariablesGivingOnly(configuration, section.Key) is { } variables)
            {
                ignoredVariables.AddRange(variables);
            }
            else
            {
                errors.Add($"{section.Key}: unknown setting; see docs/configuration.md for the keys Sockeye reads.");
            }
        }

        ReadListeners(configuration, commandLine, options, errors);
        ReadUsers(configuration, commandLine, options, errors);
        options.HandshakeTimeout = ReadDuration(commandLine.HandshakeTimeout, "--handshake-timeout", configuration, "handshakeTimeout", options.HandshakeTimeout, errors);
        options.ConnectTimeout = ReadDuration(commandLine.ConnectTimeout, "--connect-timeout", configuration, "connectTimeout", options.ConnectTimeout, errors);
        options.IdleTimeout = ReadDuration(commandLine.IdleTimeout, "--idle-timeout", configuration, "idleTimeout", options.IdleTimeout, errors);
        options.ShutdownTimeout = ReadDuration(commandLine.ShutdownTimeout, "--shutdown-timeout", configuration, "shutdownTimeout", options.ShutdownTimeout, errors);
        ReadBindAndUdp(configuration, options, errors);
        ReadSocks4(configuration, options, errors);
        ReadHttp(configuration, options, errors);
        ReadGssapi(configuration, options, errors);
        RulesReader.Read(configuration.GetSection("rules"), options.Rules, errors);
        options.ListenBacklog = ReadInt(configuration, "listenBacklog", options.ListenBacklog, errors);
        options.RelayBufferBytes = ReadInt(configuration, "relayBufferBytes", options.RelayBufferBytes, errors);
        options.RelayEngine = ReadRelayEngine(configuration, errors);
        options.EventLoopPoll = ReadDuration(null, "", configuration, "eventLoopPoll", options.EventLoopPoll, errors);
        bool allowAnonymous = commandLine.AllowAnonymous || ReadBool(configuration, "allowAnonymous", errors);
        LogLevel logLevel = ReadLogLevel(commandLine.LogLevel is null ? "logLevel" : "--log-level", commandLine.LogLevel ?? configuration["logLevel"], errors);
        bool jsonLogs = ReadJsonLogs(commandLine.LogFormat is null ? "logFormat" : "--log-format", commandLine.LogFormat ?? configuration["logFormat"], errors);

        bool listenerErrorReported = errors.Exists(static e => e.StartsWith("listeners", StringComparison.Ordinal) || e.StartsWith("--listen", StringComparison.Ordinal));
        ValidateOptionsResult validation = new SockeyeServerOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            foreach (string failure in validation.Failures)
            {
                // "No listener" only restates a listener error already reported, with its real cause.
                if (!(listenerErrorReported && failure.StartsWith("listeners:", StringComparison.Ordinal)))
                {
                    errors.Add(failure);
                }
            }
        }

        MetricsSettings metrics = ReadMetrics(configuration, commandLine, errors);
        options.PerUserMetrics = ParseBool(configuration["metrics:perUser"], "metrics.perUser", errors);
        CheckOpenProxy(options, allowAnonymous, errors);
        string? accessLogPath = ReadAccessLogPath(configuration.GetSection("accessLog"), errors);
        AdminSettings? admin = ReadAdmin(configuration.GetSection("admin"), commandLine, errors);
        return errors.Count == 0
            ? new SockeyeSettings(options, logLevel, allowAnonymous, metrics)
            {
                JsonLogs = jsonLogs, AccessLogPath = accessLogPath, Admin = admin, IgnoredEnvironmentVariables = [.. ignoredVariables.Order(StringComparer.Ordinal)],
            }
            : null;
    }

    /// <summary>
    /// The environment variable that alone gives the unknown top-level <paramref name="key"/>, as a one-element list;
    /// null when the config file (or any source but the environment) gives the key too, or when the environment gives
    /// keys under it: each makes it an error.
    /// </summary>
    /// <remarks>
    /// Kubernetes gives every pod of a namespace with a Service named <c>sockeye</c> variables such as
    /// <c>SOCKEYE_PORT=tcp://10.0.0.1:1080</c>, <c>SOCKEYE_SERVICE_HOST</c> and <c>SOCKEYE_PORT_1080_TCP_ADDR</c>, which
    /// share our prefix but hold no setting. None has a double underscore, so only a variable without one is let
    /// through: an unknown key inside a section, known (<c>SOCKEYE_UDP__BOGUS</c>) or not, is a mistyped setting, as in
    /// the file, and stays an error. A typo in a top-level variable (<c>SOCKEYE_IDLETIMOUT</c>) is let through too: the
    /// warning at start names it.
    /// </remarks>
    private static List<string>? VariablesGivingOnly(IConfiguration configuration, string key)
    {
        if (configuration is not IConfigurationRoot root)
        {
            return null;
        }

        List<string>? variables = null;
        foreach (IConfigurationProvider provider in root.Providers)
        {
            bool value = provider.TryGet(key, out _);
            bool children = provider.GetChildKeys([], key).Any();
            if (!value && !children)
            {
                continue;
            }

            if (provider is not EnvironmentVariablesConfigurationProvider || children)
            {
                return null;
            }

            // The provider keeps the name's case, less the prefix.
            variables ??= [EnvironmentPrefix + key];
        }

        return variables;
    }

    /// <summary>
    /// <c>metrics.otlpEndpoint</c> (or <c>--metrics-otlp</c>): the collector's OTLP/HTTP address, to which
    /// <c>/v1/metrics</c> is added when it has no path; <c>metrics.exportInterval</c>: how often to push.
    /// </summary>
    private static MetricsSettings ReadMetrics(IConfiguration configuration, CommandLineValues commandLine, List<string> errors)
    {
        IConfigurationSection section = configuration.GetSection("metrics");
        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (!KnownMetricsKeys.Contains(child.Key))
            {
                errors.Add($"metrics.{child.Key}: unknown setting; see docs/configuration.md for the keys Sockeye reads.");
            }
        }

        (string name, string? text) = commandLine.MetricsOtlp is { } option ? ("--metrics-otlp", option) : ("metrics.otlpEndpoint", section["otlpEndpoint"]);
        Uri? endpoint = null;
        if (!string.IsNullOrEmpty(text))
        {
            if (Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            {
                endpoint = uri.AbsolutePath == "/" ? new Uri(uri, "/v1/metrics") : uri;
            }
            else
            {
                errors.Add($"{name}: '{text}' is not an http:// or https:// URL; give the collector's OTLP/HTTP address, e.g. http://127.0.0.1:4318.");
            }
        }

        TimeSpan interval = ReadDuration(null, "", configuration, "metrics:exportInterval", MetricsSettings.DefaultExportInterval, errors, "metrics.exportInterval");
        if (interval < TimeSpan.FromMilliseconds(100) || interval > TimeSpan.FromDays(1))
        {
            errors.Add($"metrics.exportInterval: {configuration["metrics:exportInterval"]} is out of range; use 100ms to 1d.");
            interval = MetricsSettings.DefaultExportInterval;
        }

        return new MetricsSettings(endpoint, interval);
    }

    private static void ReadListeners(IConfiguration configuration, CommandLineValues commandLine, SockeyeServerOptions options, List<string> errors)
    {
        if (commandLine.Listen.Count > 0)
        {
            foreach (string text in commandLine.Listen)
            {
                AddListener(options, "--listen", text, errors);
            }

            return;
        }

        IConfigurationSection section = configuration.GetSection("listeners");
        if (section.Value is not null)
        {
            // A single value, as an environment variable gives it: SOCKEYE_LISTENERS=127.0.0.1:1080,[::1]:1080.
            foreach (string text in section.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                AddListener(options, "listeners", text, errors);
            }

            return;
        }

        bool configured = false;
        foreach (IConfigurationSection listener in section.GetChildren())
        {
            // Either "listeners": ["127.0.0.1:1080"] or "listeners": [{ "endpoint": "127.0.0.1:1080" }].
            configured = true;
            string key = $"listeners[{listener.Key}]";
            string? text = listener.Value;
            if (text is not null)
            {
                AddListener(options, key, text, errors);
                continue;
            }

            CheckSectionKeys(listener, key, KnownListenerKeys, errors);
            if (AddListener(options, key + ".endpoint", listener["endpoint"], errors) is { } endPoint)
            {
                ReadProxyProtocol(listener, key, endPoint, options, errors);
                ReadProtocols(listener, key, endPoint, options, errors);
            }
        }

        if (!configured)
        {
            options.Listeners.Add(DefaultListener);
        }
    }

    private static void ReadBindAndUdp(IConfiguration configuration, SockeyeServerOptions options, List<string> errors)
    {
        CheckSectionKeys(configuration.GetSection("bind"), "bind", KnownBindKeys, errors);
        CheckSectionKeys(configuration.GetSection("relay"), "relay", KnownRelayKeys, errors);
        CheckSectionKeys(configuration.GetSection("udp"), "udp", KnownUdpKeys, errors);
        options.Bind.AdvertiseAddress = ReadAddress(configuration, "bind:advertiseAddress", "bind.advertiseAddress", errors);
        options.Bind.AcceptTimeout = ReadDuration(null, "", configuration, "bind:acceptTimeout", options.Bind.AcceptTimeout, errors, "bind.acceptTimeout");
        (options.Udp.AdvertiseAddressV4, options.Udp.AdvertiseAddressV6) = ReadAddressPerFamily(configuration.GetSection("udp:advertiseAddress"), "udp.advertiseAddress", errors);
        options.Udp.PortRange = ReadRelayPortRange(configuration["udp:portRange"], errors);
        options.DnsCacheTtl = ReadDuration(null, "", configuration, "dnsCacheTtl", options.DnsCacheTtl, errors);
        options.Udp.MaxDatagramBytes = ReadInt(configuration, "udp:maxDatagramBytes", options.Udp.MaxDatagramBytes, errors, "udp.maxDatagramBytes");
        options.Udp.IdleTimeout = ReadDuration(null, "", configuration, "udp:idleTimeout", options.Udp.IdleTimeout, errors, "udp.idleTimeout");
        options.Udp.SegmentationOffload = configuration["udp:segmentationOffload"] is null || ParseBool(configuration["udp:segmentationOffload"], "udp.segmentationOffload", errors);
        ReadOutbound(configuration.GetSection("outbound"), options.Outbound, errors);
        CheckSectionKeys(configuration.GetSection("authentication"), "authentication", KnownAuthenticationKeys, errors);
        AuthenticationOptions authentication = options.Authentication;
        authentication.FailureDelay = ReadDuration(null, "", configuration, "authentication:failureDelay", authentication.FailureDelay, errors, "authentication.failureDelay");
        authentication.MaxFailureDelay = ReadDuration(null, "", configuration, "authentication:maxFailureDelay", authentication.MaxFailureDelay, errors, "authentication.maxFailureDelay");
        authentication.MaxFailures = ReadInt(configuration, "authentication:maxFailures", authentication.MaxFailures, errors, "authentication.maxFailures");
        authentication.BanDuration = ReadDuration(null, "", configuration, "authentication:banDuration", authentication.BanDuration, errors, "authentication.banDuration");
        authentication.VerifiedCacheTtl = ReadDuration(null, "", configuration, "authentication:verifiedCacheTtl", authentication.VerifiedCacheTtl, errors, "authentication.verifiedCacheTtl");
        ReadBanExempt(configuration, authentication, errors);
        CheckSectionKeys(configuration.GetSection("limits"), "limits", KnownLimitKeys, errors);
        LimitsOptions limits = options.Limits;
        limits.MaxHandshakes = ReadInt(configuration, "limits:maxHandshakes", limits.MaxHandshakes, errors, "limits.maxHandshakes");
        limits.MaxSessions = ReadInt(configuration, "limits:maxSessions", limits.MaxSessions, errors, "limits.maxSessions");
        limits.MaxSessionsPerUser = ReadInt(configuration, "limits:maxSessionsPerUser", limits.MaxSessionsPerUser, errors, "limits.maxSessionsPerUser");
        limits.MaxSessionsPerClientAddress = ReadInt(configuration, "limits:maxSessionsPerClientAddress", limits.MaxSessionsPerClientAddress, errors, "limits.maxSessionsPerClientAddress");
        limits.SessionBytesPerSecond = ReadByteRate(configuration, "limits:sessionBandwidth", limits.SessionBytesPerSecond, errors, "limits.sessionBandwidth");
        limits.UserBytesPerSecond = ReadByteRate(configuration, "limits:userBandwidth", limits.UserBytesPerSecond, errors, "limits.userBandwidth");
        ReadSharedLimits(configuration, limits.Shared, errors);
    }

    /// <summary><c>limits.shared</c>: the Redis that per-user limits are shared through (docs/configuration.md, "Shared limits").</summary>
    private static void ReadSharedLimits(IConfiguration configuration, SharedLimitsOptions shared, List<string> errors)
    {
        CheckSectionKeys(configuration.GetSection("limits:shared"), "limits.shared", KnownSharedLimitKeys, errors);
        if (configuration["limits:shared:redis"] is { } redis)
        {
            shared.Redis = string.IsNullOrWhiteSpace(redis) ? null : redis.Trim();
        }

        shared.KeyPrefix = configuration["limits:shared:keyPrefix"] ?? shared.KeyPrefix;
        shared.Timeout = ReadDuration(null, "", configuration, "limits:shared:timeout", shared.Timeout, errors, "limits.shared.timeout");
        shared.Lease = ReadDuration(null, "", configuration, "limits:shared:lease", shared.Lease, errors, "limits.shared.lease");
    }

    private static long ReadByteRate(IConfiguration configuration, string key, long defaultValue, List<string> errors, string displayKey)
    {
        string? text = configuration[key];
        if (text is null)
        {
            return defaultValue;
        }

        if (ByteRateParser.TryParse(text, out long value, out string problem))
        {
            return value;
        }

        errors.Add($"{displayKey}: '{text}' {problem}.");
        return defaultValue;
    }

    /// <summary>
    /// <c>outbound.bindAddress</c>: one address, or a list with at most one IPv4 and one IPv6 address, each the source of
    /// the server's connections of its family.
    /// </summary>
    private static void ReadOutbound(IConfigurationSection section, OutboundOptions outbound, List<string> errors)
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (!string.Equals(child.Key, "bindAddress", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"outbound.{child.Key}: unknown setting; see docs/configuration.md for the keys Sockeye reads.");
            }
        }

        (outbound.BindAddressV4, outbound.BindAddressV6) = ReadAddressPerFamily(section.GetSection("bindAddress"), "outbound.bindAddress", errors);
    }

    /// <summary>
    /// A setting that is one address, or a list (or one comma-separated string) with at most one IPv4 and one IPv6
    /// address, each for its family: <c>outbound.bindAddress</c>, <c>udp.advertiseAddress</c>.
    /// </summary>
    private static (IPAddress? V4, IPAddress? V6) ReadAddressPerFamily(IConfigurationSection section, string key, List<string> errors)
    {
        List<string> texts = section.Value is { } single
            ? [.. single.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]
            : [.. section.GetChildren().Select(c => c.Value ?? "")];
        IPAddress? v4 = null;
        IPAddress? v6 = null;
        foreach (string text in texts)
        {
            if (!IPAddress.TryParse(text, out IPAddress? address))
            {
                errors.Add($"{key}: '{text}' is not an IPv4 or IPv6 address.");
            }
            else if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            {
                if (v4 is not null)
                {
                    errors.Add($"{key}: give at most one IPv4 address.");
                }

                v4 = address;
            }
            else
            {
                if (v6 is not null)
                {
                    errors.Add($"{key}: give at most one IPv6 address.");
                }

                v6 = address;
            }
        }

        return (v4, v6);
    }

    /// <summary>
    /// <c>udp.portRange</c>: the ports relay sockets are bound to, <c>40000-40999</c> (or one port, for one association
    /// at a time). Port 0 and a reversed range are refused by the options' validator, which library hosts get too.
    /// </summary>
    private static PortRange? ReadRelayPortRange(string? text, List<string> errors)
    {
        if (text is null)
        {
            return null;
        }

        if (PortRange.TryParse(text, out PortRange range, out string? problem))
        {
            return range;
        }

        errors.Add($"udp.portRange: {problem}.");
        return null;
    }

    /// <summary><c>authentication.banExempt</c>: client networks or addresses, written as the rules' <c>clients</c> are.</summary>
    private static void ReadBanExempt(IConfiguration configuration, AuthenticationOptions authentication, List<string> errors)
    {
        foreach (string text in RulesReader.ReadList(configuration.GetSection("authentication"), "banExempt"))
        {
            if (RulesReader.TryParseClientNetwork(text, out IPNetwork network, out string? problem))
            {
                authentication.BanExempt.Add(network);
            }
            else
            {
                errors.Add($"authentication.banExempt: {problem ?? $"'{text}' is not a network (such as 127.0.0.0/8) or an address"}.");
            }
        }
    }

    private static void CheckSectionKeys(IConfigurationSection section, string name, HashSet<string> known, List<string> errors)
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (!known.Contains(child.Key))
            {
                errors.Add($"{name}.{child.Key}: unknown setting; see docs/configuration.md for the keys Sockeye reads.");
            }
        }
    }

    private static IPAddress? ReadAddress(IConfiguration configuration, string path, string key, List<string> errors)
    {
        string? text = configuration[path];
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (IPAddress.TryParse(text.Trim(), out IPAddress? address))
        {
            return address;
        }

        errors.Add($"{key}: '{text}' is not an IPv4 or IPv6 address.");
        return null;
    }

    private static IPEndPoint? AddListener(SockeyeServerOptions options, string key, string? text, List<string> errors)
    {
        if (EndPointParser.TryParse(text, out IPEndPoint? endPoint, out string problem))
        {
            options.Listeners.Add(endPoint!);
            return endPoint;
        }

        errors.Add($"{key}: {problem}.");
        return null;
    }

    /// <summary>
    /// <c>listeners[i].proxyProtocol</c> and <c>trustedProxies</c>: the listener reads a PROXY protocol header, from
    /// these balancers only, before SOCKS. <c>trustedProxies</c> is written as the rules' <c>clients</c> are.
    /// </summary>
    private static void ReadProxyProtocol(IConfigurationSection listener, string key, IPEndPoint endPoint, SockeyeServerOptions options, List<string> errors)
    {
        bool proxyProtocol = ParseBool(listener["proxyProtocol"], key + ".proxyProtocol", errors);
        var proxy = new ProxyProtocolOptions();
        foreach (string text in RulesReader.ReadList(listener, "trustedProxies"))
        {
            if (RulesReader.TryParseClientNetwork(text, out IPNetwork network, out string? problem))
            {
                proxy.TrustedProxies.Add(network);
            }
            else
            {
                errors.Add($"{key}.trustedProxies: {problem ?? $"'{text}' is not a network (such as 10.0.0.0/8) or an address"}.");
            }
        }

        if (!proxyProtocol)
        {
            if (proxy.TrustedProxies.Count > 0)
            {
                errors.Add($"{key}.trustedProxies: set, but proxyProtocol is not true: the listener reads no PROXY header.");
            }

            return;
        }

        if (proxy.TrustedProxies.Count == 0)
        {
            errors.Add($"{key}.trustedProxies: required with proxyProtocol: the balancers allowed to send a PROXY header, e.g. [\"10.0.0.0/8\"].");
            return;
        }

        if (!options.ProxyProtocol.TryAdd(endPoint, proxy))
        {
            errors.Add($"{key}: {endPoint} is listed twice with proxyProtocol.");
        }
    }

    /// <summary>
    /// <c>listeners[i].protocols</c>: <c>["socks5", "socks4", "http"]</c> or any of them, as a list or a comma-separated
    /// string. Absent: all of them on a loopback listener, SOCKS5 alone on any other (<see cref="ListenerProtocolDefaults"/>).
    /// </summary>
    private static void ReadProtocols(IConfigurationSection listener, string key, IPEndPoint endPoint, SockeyeServerOptions options, List<string> errors)
    {
        if (!listener.GetSection("protocols").Exists())
        {
            return;
        }

        ListenerProtocols protocols = ListenerProtocols.None;
        foreach (string text in RulesReader.ReadList(listener, "protocols"))
        {
            ListenerProtocols protocol = text.ToLowerInvariant() switch
            {
                "socks5" => ListenerProtocols.Socks5,
                "socks4" or "socks4a" => ListenerProtocols.Socks4,
                "http" => ListenerProtocols.Http,
                _ => ListenerProtocols.None,
            };
            if (protocol == ListenerProtocols.None)
            {
                errors.Add($"{key}.protocols: '{text}' is not a protocol; use socks5, socks4 (which includes SOCKS4a) or http.");
            }

            protocols |= protocol;
        }

        if (protocols == ListenerProtocols.None)
        {
            errors.Add($"{key}.protocols: names no protocol; use any of socks5, socks4 and http, or leave it out for the default.");
            return;
        }

        if (!options.Protocols.TryAdd(endPoint, protocols))
        {
            errors.Add($"{key}: {endPoint} is listed twice with protocols.");
        }
    }

    /// <summary><c>socks4.allowWithUsers</c>: the accounts a SOCKS4 client may use by USERID alone, <c>*</c> for all.</summary>
    private static void ReadSocks4(IConfiguration configuration, SockeyeServerOptions options, List<string> errors)
    {
        IConfigurationSection socks4 = configuration.GetSection("socks4");
        CheckSectionKeys(socks4, "socks4", KnownSocks4Keys, errors);
        foreach (string user in RulesReader.ReadList(socks4, "allowWithUsers"))
        {
            options.Socks4.AllowWithUsers.Add(user);
        }
    }

    /// <summary><c>http</c>: the HTTP proxy's head bounds, <c>Via</c> and the realm of its 407 challenge.</summary>
    private static void ReadHttp(IConfiguration configuration, SockeyeServerOptions options, List<string> errors)
    {
        CheckSectionKeys(configuration.GetSection("http"), "http", KnownHttpKeys, errors);
        options.Http.MaxRequestLineBytes = ReadInt(configuration, "http:maxRequestLineBytes", options.Http.MaxRequestLineBytes, errors, "http.maxRequestLineBytes");
        options.Http.MaxHeaderBytes = ReadInt(configuration, "http:maxHeaderBytes", options.Http.MaxHeaderBytes, errors, "http.maxHeaderBytes");
        if (configuration["http:via"] is not null)
        {
            options.Http.Via = ParseBool(configuration["http:via"], "http.via", errors);
        }

        options.Http.Realm = configuration["http:realm"] ?? options.Http.Realm;
    }

    /// <summary><c>gssapi</c>: GSSAPI authentication (RFC 1961), on when the section is there.</summary>
    private static void ReadGssapi(IConfiguration configuration, SockeyeServerOptions options, List<string> errors)
    {
        IConfigurationSection section = configuration.GetSection("gssapi");
        if (!section.Exists())
        {
            return;
        }

        CheckSectionKeys(section, "gssapi", KnownGssapiKeys, errors);
        var gssapi = new GssapiOptions { Keytab = section["keytab"], StripRealm = ParseBool(section["stripRealm"], "gssapi.stripRealm", errors) };
        gssapi.ServiceName = section["serviceName"] ?? gssapi.ServiceName;
        gssapi.MinimumProtection = section["minimumProtection"]?.ToLowerInvariant() switch
        {
            null or "none" => GssapiProtectionLevel.None,
            "integrity" => GssapiProtectionLevel.Integrity,
            "confidentiality" => GssapiProtectionLevel.Confidentiality,
            string other => Invalid(other),
        };
        options.Gssapi = gssapi;

        GssapiProtectionLevel Invalid(string text)
        {
            errors.Add($"gssapi.minimumProtection: '{text}' is not none, integrity or confidentiality.");
            return GssapiProtectionLevel.None;
        }
    }

    private static void ReadUsers(IConfiguration configuration, CommandLineValues commandLine, SockeyeServerOptions options, List<string> errors)
    {
        IConfigurationSection section = configuration.GetSection("users");
        if (section.Value is not null)
        {
            // A single value, as an environment variable gives it: SOCKEYE_USERS=alice:secret. Not split on commas:
            // a password may contain one.
            AddUser(options, "users", section.Value, errors);
        }

        foreach (IConfigurationSection user in section.GetChildren())
        {
            // Either "users": ["alice:secret"] or "users": [{ "name": "alice", "password": "secret" }].
            if (user.Value is not null)
            {
                AddUser(options, $"users[{user.Key}]", user.Value, errors);
            }
            else
            {
                options.Users.Add(new SockeyeUser(user["name"] ?? "", user["password"] ?? ""));
            }
        }

        foreach (string text in commandLine.Users)
        {
            AddUser(options, "--user", text, errors);
        }

        (string key, string? path) = commandLine.UsersFile is not null ? ("--users-file", commandLine.UsersFile) : ("usersFile", configuration["usersFile"]);
        if (!string.IsNullOrWhiteSpace(path))
        {
            ReadUsersFile(options, key, path, errors);
        }
    }

    /// <summary>
    /// The accounts of a users file, added to those of <c>--user</c> and <c>users</c>. The file is refused whole (with
    /// one error per problem, each naming FILE:LINE) if it is not a regular file, if its group or others may write it,
    /// or if any line is bad; a name given in both places is an error too.
    /// </summary>
    private static void ReadUsersFile(SockeyeServerOptions options, string key, string path, List<string> errors)
    {
        var problems = new List<string>();
        UsersFile? file = UsersFile.Load(path, missingIsEmpty: false, checkHashes: true, problems);
        if (file is null)
        {
            errors.AddRange(problems.Select(problem => $"{key}: {problem}"));
            return;
        }

        var inline = new HashSet<string>(options.Users.Select(static u => u.Name), StringComparer.Ordinal);
        foreach ((string name, string hash, int lineNumber) in file.Entries)
        {
            if (inline.Contains(name))
            {
                errors.Add($"{key}: {path}:{lineNumber}: user '{name}' is also given with --user or \"users\"; keep one.");
                continue;
            }

            options.Users.Add(SockeyeUser.FromPasswordHash(name, hash));
        }
    }

    private static void AddUser(SockeyeServerOptions options, string key, string text, List<string> errors)
    {
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == text.Length - 1)
        {
            // Never echo the value: it may be a password.
            errors.Add($"{key}: expected NAME:PASSWORD, both non-empty.");
            return;
        }

        options.Users.Add(new SockeyeUser(text[..colon], text[(colon + 1)..]));
    }

    private static TimeSpan ReadDuration(string? commandLineValue, string optionName, IConfiguration configuration, string key, TimeSpan defaultValue, List<string> errors, string? displayKey = null)
    {
        (string name, string? text) = commandLineValue is not null ? (optionName, commandLineValue) : (displayKey ?? key, configuration[key]);
        if (text is null)
        {
            return defaultValue;
        }

        if (DurationParser.TryParse(text, out TimeSpan value))
        {
            return value;
        }

        errors.Add($"{name}: '{text}' is not a duration; write e.g. 30s, 5m, 250ms, 1h or 00:05:00.");
        return defaultValue;
    }

    private static int ReadInt(IConfiguration configuration, string key, int defaultValue, List<string> errors, string? displayKey = null)
    {
        string? text = configuration[key];
        key = displayKey ?? key;
        if (text is null)
        {
            return defaultValue;
        }

        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
        {
            return value;
        }

        errors.Add($"{key}: '{text}' is not a whole number.");
        return defaultValue;
    }

    /// <summary>
    /// <c>relay.engine</c> (auto, linux, portable) or, in the older spelling, <c>relayMode</c> (auto, splice, copy): the
    /// same choice, so giving both is accepted only when they agree.
    /// </summary>
    private static RelayEngine ReadRelayEngine(IConfiguration configuration, List<string> errors)
    {
        RelayEngine? engine = ReadEngine(configuration, errors);
        RelayEngine? mode = configuration["relayMode"] is null ? null : ReadOlderRelayMode(configuration, errors);
        if (engine is { } chosen && mode is { } older && chosen != older)
        {
            errors.Add("relay.engine and relayMode disagree; give relay.engine only (relayMode is its older name).");
        }

        return engine ?? mode ?? RelayEngine.Auto;
    }

    private static RelayEngine? ReadEngine(IConfiguration configuration, List<string> errors)
    {
        string? text = configuration["relay:engine"];
        switch (text?.Trim().ToUpperInvariant())
        {
            case null:
                return null;
            case "" or "AUTO":
                return RelayEngine.Auto;
            case "LINUX" when OperatingSystem.IsLinux():
                return RelayEngine.Linux;
            case "LINUX":
                errors.Add("relay.engine: linux needs Linux; use auto or portable.");
                return RelayEngine.Auto;
            case "PORTABLE":
                return RelayEngine.Portable;
            default:
                errors.Add($"relay.engine: '{text}' is not an engine; use auto, linux or portable.");
                return RelayEngine.Auto;
        }
    }

    private static RelayEngine ReadOlderRelayMode(IConfiguration configuration, List<string> errors)
    {
        string? text = configuration["relayMode"];
        switch (text?.Trim().ToUpperInvariant())
        {
            case null or "" or "AUTO":
                return RelayEngine.Auto;
            case "SPLICE" when OperatingSystem.IsLinux():
                return RelayEngine.Linux;
            case "SPLICE":
                errors.Add("relayMode: splice needs Linux; use auto or copy.");
                return RelayEngine.Auto;
            case "COPY":
                return RelayEngine.Portable;
            default:
                errors.Add($"relayMode: '{text}' is not a relay mode; use auto, splice or copy.");
                return RelayEngine.Auto;
        }
    }

    private static bool ReadBool(IConfiguration configuration, string key, List<string> errors) => ParseBool(configuration[key], key, errors);

    /// <summary>A true/false setting; absent is false, anything else is one error naming <paramref name="key"/>.</summary>
    internal static bool ParseBool(string? text, string key, List<string> errors)
    {
        if (text is null)
        {
            return false;
        }

        if (bool.TryParse(text, out bool value))
        {
            return value;
        }

        errors.Add($"{key}: '{text}' is not true or false.");
        return false;
    }

    /// <summary>
    /// <c>admin.listen</c> (or <c>--admin-listen</c>) and <c>admin.token</c>: where the admin endpoint listens, and the
    /// bearer token it asks for. Off without a listen address. Off loopback a token is required, as a SOCKS listener
    /// off loopback requires users: an open admin endpoint would tell anyone who uses the proxy and for what.
    /// </summary>
    private static AdminSettings? ReadAdmin(IConfigurationSection section, CommandLineValues commandLine, List<string> errors)
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (!KnownAdminKeys.Contains(child.Key))
            {
                errors.Add($"admin.{child.Key}: unknown setting; see docs/configuration.md for the keys Sockeye reads.");
            }
        }

        (string key, string? text) = commandLine.AdminListen is { } option ? ("--admin-listen", option) : ("admin.listen", section["listen"]);
        string? token = section["token"];
        if (text is null)
        {
            if (token is not null)
            {
                errors.Add("admin.token: set, but admin.listen is not: the admin endpoint is off.");
            }

            return null;
        }

        if (!EndPointParser.TryParse(text, out IPEndPoint? endPoint, out string problem))
        {
            errors.Add($"{key}: {problem}.");
            return null;
        }

        if (token is not null && token.Length < AdminSettings.MinTokenLength)
        {
            errors.Add($"admin.token: too short ({token.Length} characters); use at least {AdminSettings.MinTokenLength}, e.g. the output of 'openssl rand -hex 32'.");
            return null;
        }

        if (token is null && !IPAddress.IsLoopback(endPoint!.Address))
        {
            errors.Add($"{key}: {endPoint} is not a loopback address, and admin.token is not set: anyone who can reach it would see who uses the proxy. Set admin.token (or SOCKEYE_ADMIN__TOKEN), or listen on 127.0.0.1 or [::1].");
            return null;
        }

        return new AdminSettings(endPoint!, token);
    }

    /// <summary><c>accessLog.path</c>: the file the access log goes to; checked for being writable when the server starts.</summary>
    private static string? ReadAccessLogPath(IConfigurationSection section, List<string> errors)
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (!string.Equals(child.Key, "path", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"accessLog.{child.Key}: unknown setting; see docs/configuration.md for the keys Sockeye reads.");
            }
        }

        string? path = section["path"];
        if (path is not null && string.IsNullOrWhiteSpace(path))
        {
            errors.Add("accessLog.path: give a file, or leave the key out for the console.");
            return null;
        }

        return path;
    }

    /// <summary><c>text</c> (the default) or <c>json</c>: whether the console log is JSON lines.</summary>
    private static bool ReadJsonLogs(string key, string? text, List<string> errors)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case null or "text":
                return false;
            case "json":
                return true;
            default:
                errors.Add($"{key}: '{text}' is not a log format; use text or json.");
                return false;
        }
    }

    private static LogLevel ReadLogLevel(string key, string? text, List<string> errors)
    {
        switch (text?.Trim().ToUpperInvariant())
        {
            case null or "" or "INFORMATION" or "INFO":
                return LogLevel.Information;
            case "TRACE":
                return LogLevel.Trace;
            case "DEBUG":
                return LogLevel.Debug;
            case "WARNING" or "WARN":
                return LogLevel.Warning;
            case "ERROR":
                return LogLevel.Error;
            case "CRITICAL":
                return LogLevel.Critical;
            case "NONE":
                return LogLevel.None;
            default:
                errors.Add($"{key}: '{text}' is not a log level; use trace, debug, information, warning, error, critical or none.");
                return LogLevel.Information;
        }
    }

    private static void CheckOpenProxy(SockeyeServerOptions options, bool allowAnonymous, List<string> errors)
    {
        if (options.Users.Count > 0 || options.Gssapi is not null || allowAnonymous)
        {
            return;
        }

        foreach (IPEndPoint endPoint in options.Listeners)
        {
            if (!IPAddress.IsLoopback(endPoint.Address))
            {
                errors.Add(
                    $"listeners: {endPoint} is not a loopback address and no users are configured, so anyone who can reach it could use " +
                    "this server as an open proxy. Add a user (--user NAME:PASSWORD or \"users\" in the config), listen on 127.0.0.1 or [::1], " +
                    "or pass --allow-anonymous (\"allowAnonymous\": true) if an open proxy is really what you want.");
                return;
            }
        }
    }
}
