using System.Net;
using Microsoft.Extensions.Logging;

namespace Sockeye.Server.Diagnostics;

/// <summary>Listener and host events, IDs 1000–1999.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(1001, LogLevel.Information, "Listening on {EndPoint}", EventName = "Listening")]
    public static partial void Listening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(1002, LogLevel.Warning, "Accept failed on {EndPoint} ({Failures} time(s) since the last report); still accepting", EventName = "AcceptFailed")]
    public static partial void AcceptFailed(ILogger logger, EndPoint endPoint, long failures, Exception exception);

    [LoggerMessage(1003, LogLevel.Information, "Stopped accepting; draining {SessionCount} session(s) for up to {GracePeriod}", EventName = "Draining")]
    public static partial void Draining(ILogger logger, int sessionCount, TimeSpan gracePeriod);

    [LoggerMessage(1004, LogLevel.Information, "Grace period over; closing {SessionCount} remaining session(s)", EventName = "ClosingRemaining")]
    public static partial void ClosingRemaining(ILogger logger, int sessionCount);

    [LoggerMessage(1005, LogLevel.Information, "Stopped", EventName = "Stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(1006, LogLevel.Information, "Users configured: {UserCount}; clients must authenticate with a username and password", EventName = "AuthenticationRequired")]
    public static partial void AuthenticationRequired(ILogger logger, int userCount);

    [LoggerMessage(1007, LogLevel.Information, "No users configured; clients connect without authentication", EventName = "NoAuthentication")]
    public static partial void NoAuthentication(ILogger logger);

    [LoggerMessage(1008, LogLevel.Error, "An event-loop handler failed; its socket was taken off the loop", EventName = "EventLoopHandlerFailed")]
    public static partial void EventLoopHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(1009, LogLevel.Critical, "An event loop failed: its {SocketCount} socket(s) were closed with their sessions, and a new loop takes new ones", EventName = "EventLoopWaitFailed")]
    public static partial void EventLoopWaitFailed(ILogger logger, int socketCount, Exception exception);

    [LoggerMessage(1010, LogLevel.Information,
        "Reloaded: {UserCount} user(s) and {RuleCount} configured rule(s) apply to new sessions, and these changed settings: {ChangedSettings}; open sessions keep theirs",
        EventName = "Reloaded")]
    public static partial void Reloaded(ILogger logger, int userCount, int ruleCount, string changedSettings);

    [LoggerMessage(1011, LogLevel.Information,
        "Open-file limit {Limit}: {Reserve} kept for the runtime and listeners, {PipeDescriptors} for splice pipes; room for {Tunnels} tunnels or BIND waits (2 descriptors each), {UdpAssociations} UDP associations (4 each), {Handshakes} handshakes at once",
        EventName = "DescriptorCeilings")]
    public static partial void DescriptorCeilings(ILogger logger, long limit, int reserve, int pipeDescriptors, long tunnels, long udpAssociations, int handshakes);

    [LoggerMessage(1012, LogLevel.Warning, "{Setting} {Configured} lowered to {Effective}: the open-file limit {Limit} leaves room for no more", EventName = "LimitLowered")]
    public static partial void LimitLowered(ILogger logger, string setting, int configured, int effective, long limit);

    [LoggerMessage(1013, LogLevel.Warning,
        "Out of descriptors for clients ({InUse} of {Capacity} held by sessions): new connections are closed right after accept, and requests answered X'01'; {Refused} refused since the last report",
        EventName = "DescriptorsExhausted")]
    public static partial void DescriptorsExhausted(ILogger logger, long inUse, long capacity, long refused);

    [LoggerMessage(1014, LogLevel.Warning, "Could not list this host's interface addresses; the built-in guard keeps denying the {AddressCount} it knew", EventName = "HostAddressesUnavailable")]
    public static partial void HostAddressesUnavailable(ILogger logger, int addressCount, Exception exception);

    [LoggerMessage(1015, LogLevel.Information, "This system does not report interface address changes; the built-in guard lists this host's addresses again every {RefreshInterval}", EventName = "HostAddressChangesNotReported")]
    public static partial void HostAddressChangesNotReported(ILogger logger, TimeSpan refreshInterval);

    [LoggerMessage(1016, LogLevel.Information, "Sessions run on the {Engine} engine", EventName = "TransportEngine")]
    public static partial void TransportEngine(ILogger logger, string engine);

    [LoggerMessage(1017, LogLevel.Information, "Stopped listening on {EndPoint} (reload); the sessions it accepted go on until they end", EventName = "ListenerStopped")]
    public static partial void ListenerStopped(ILogger logger, EndPoint endPoint);

    [LoggerMessage(1018, LogLevel.Warning, "Reload: {Setting} changed to {Configured}, which needs a restart: until then the server keeps {InForce}", EventName = "ReloadNeedsRestart")]
    public static partial void ReloadNeedsRestart(ILogger logger, string setting, string inForce, string configured);

    [LoggerMessage(1019, LogLevel.Warning,
        "Every port of udp.portRange {PortRange} is taken ({Held} held by this server's UDP associations, the rest by other processes): UDP ASSOCIATE requests are answered X'01'; {Refused} refused since the last report",
        EventName = "UdpPortsExhausted")]
    public static partial void UdpPortsExhausted(ILogger logger, string portRange, int held, long refused);

    [LoggerMessage(1020, LogLevel.Warning,
        "Shared limits unavailable ({Reason}): this instance enforces limits.maxSessionsPerUser and limits.userBandwidth on its own sessions until Redis answers again",
        EventName = "SharedLimitsUnavailable")]
    public static partial void SharedLimitsUnavailable(ILogger logger, string reason);

    [LoggerMessage(1021, LogLevel.Information, "Shared per-user limits in force through Redis at {Redis}, as instance {Instance}", EventName = "SharedLimitsInForce")]
    public static partial void SharedLimitsInForce(ILogger logger, string redis, string instance);

    [LoggerMessage(1022, LogLevel.Warning, "Route {Route} failed: {Reason} ({Failures} failure(s) of upstream routes since the last report); its fallback is tried where it has one, else the client is told",
        EventName = "UpstreamFailed")]
    public static partial void UpstreamFailed(ILogger logger, string route, string reason, long failures);

    [LoggerMessage(1023, LogLevel.Information, "GSSAPI authentication on: service {ServiceName}, keytab {Keytab}; protection level none (the tunnel is not wrapped)", EventName = "GssapiEnabled")]
    public static partial void GssapiEnabled(ILogger logger, string serviceName, string keytab);
}
