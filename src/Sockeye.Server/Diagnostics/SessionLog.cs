using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Commands;
using Sockeye.Server.Sessions;

namespace Sockeye.Server.Diagnostics;

/// <summary>Per-session events: 2xxx handshake and authentication, 3xxx commands, 4xxx relay. Hostile input logs at Debug.</summary>
internal static partial class SessionLog
{
    [LoggerMessage(2001, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: malformed {Phase} ({ParseError})", EventName = "HandshakeMalformed")]
    public static partial void HandshakeMalformed(ILogger logger, long connectionId, EndPoint? clientEndPoint, HandshakePhase phase, Socks5ParseError parseError);

    [LoggerMessage(2002, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: no acceptable authentication method offered", EventName = "NoAcceptableMethod")]
    public static partial void NoAcceptableMethod(ILogger logger, long connectionId, EndPoint? clientEndPoint);

    [LoggerMessage(2003, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: authentication failed for user {User}", EventName = "AuthenticationFailed")]
    public static partial void AuthenticationFailed(ILogger logger, long connectionId, EndPoint? clientEndPoint, string user);

    [LoggerMessage(2004, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: handshake timed out in {Phase}", EventName = "HandshakeTimeout")]
    public static partial void HandshakeTimedOut(ILogger logger, long connectionId, EndPoint? clientEndPoint, HandshakePhase phase);

    [LoggerMessage(2005, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: closed by the client during {Phase}", EventName = "HandshakeAbandoned")]
    public static partial void HandshakeAbandoned(ILogger logger, long connectionId, EndPoint? clientEndPoint, HandshakePhase phase);

    [LoggerMessage(2006, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: socket error {SocketError} during {Phase}", EventName = "ClientSocketError")]
    public static partial void ClientSocketError(ILogger logger, long connectionId, EndPoint? clientEndPoint, HandshakePhase phase, SocketError socketError);

    [LoggerMessage(2007, LogLevel.Warning, "Client {ClientAddress} banned for {BanDuration} after {Failures} failed logins", EventName = "ClientBanned")]
    public static partial void ClientBanned(ILogger logger, IPAddress clientAddress, int failures, TimeSpan banDuration);

    [LoggerMessage(2008, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: login for user {User} refused, the address is banned", EventName = "LoginWhileBanned")]
    public static partial void LoginWhileBanned(ILogger logger, long connectionId, EndPoint? clientEndPoint, string user);

    [LoggerMessage(2009, LogLevel.Information, "Client {ClientAddress}: login failed for user {User}", EventName = "LoginFailed")]
    public static partial void LoginFailed(ILogger logger, IPAddress clientAddress, string user);

    [LoggerMessage(2010, LogLevel.Information, "Client {ClientAddress} offered no authentication method this server accepts; it expects {Expected}", EventName = "MethodRefused")]
    public static partial void MethodRefused(ILogger logger, IPAddress clientAddress, string expected);

    [LoggerMessage(2011, LogLevel.Information, "Client {ClientAddress} sent a malformed {Phase} ({ParseError}){Hint}", EventName = "HandshakeRefused")]
    public static partial void HandshakeRefused(ILogger logger, IPAddress clientAddress, HandshakePhase phase, Socks5ParseError parseError, string hint);

    [LoggerMessage(2012, LogLevel.Information, "{Count} more handshake(s) from {ClientAddress} turned away in the last {Window} without a line each (events 2009-2011, 2018 and 2024; each is at Debug)", EventName = "ClientNoticesHeldBack")]
    public static partial void ClientNoticesHeldBack(ILogger logger, long count, string clientAddress, TimeSpan window);

    [LoggerMessage(2013, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: PROXY protocol header refused: {Reason}", EventName = "ProxyHeaderRejected")]
    public static partial void ProxyHeaderRejected(ILogger logger, long connectionId, EndPoint? clientEndPoint, string reason);

    [LoggerMessage(2014, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: a balancer's health check (PROXY LOCAL), closed", EventName = "BalancerHealthCheck")]
    public static partial void BalancerHealthCheck(ILogger logger, long connectionId, EndPoint? clientEndPoint);

    [LoggerMessage(2015, LogLevel.Debug, "Session {ConnectionId}: the balancer at {BalancerEndPoint} gives the client as {ClientEndPoint}", EventName = "ProxyHeaderAccepted")]
    public static partial void ProxyHeaderAccepted(ILogger logger, long connectionId, EndPoint? balancerEndPoint, EndPoint clientEndPoint);

    [LoggerMessage(2016, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: {Protocol} is not spoken on this listener (listeners[].protocols), closed", EventName = "ProtocolDisabled")]
    public static partial void ProtocolDisabled(ILogger logger, long connectionId, EndPoint? clientEndPoint, string protocol);

    [LoggerMessage(2017, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: malformed {Protocol} request ({Problem})", EventName = "RequestMalformed")]
    public static partial void RequestMalformed(ILogger logger, long connectionId, EndPoint? clientEndPoint, string protocol, string problem);

    [LoggerMessage(2018, LogLevel.Information, "Client {ClientAddress} was turned away: {Reason}", EventName = "ClientTurnedAway")]
    public static partial void ClientTurnedAway(ILogger logger, IPAddress clientAddress, string reason);

    [LoggerMessage(2019, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: an HTTP request without Proxy-Authorization, answered 407", EventName = "HttpCredentialsMissing")]
    public static partial void HttpCredentialsMissing(ILogger logger, long connectionId, EndPoint? clientEndPoint);

    [LoggerMessage(2020, LogLevel.Debug, "Session {ConnectionId}: forwarding to {Destination} failed: {Problem}", EventName = "HttpOriginFailed")]
    public static partial void HttpOriginFailed(ILogger logger, long connectionId, string destination, string problem);

    [LoggerMessage(2021, LogLevel.Debug, "Session {ConnectionId}: {Destination} goes by route {Route} (rule {RuleNumber})", EventName = "RouteChosen")]
    public static partial void RouteChosen(ILogger logger, long connectionId, string destination, string route, int ruleNumber);

    [LoggerMessage(2022, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: GSSAPI authenticated {Principal} (protection level {AskedLevel} asked, {Level} given)", EventName = "GssapiAuthenticated")]
    public static partial void GssapiAuthenticated(ILogger logger, long connectionId, EndPoint? clientEndPoint, string principal, string askedLevel, string level);

    [LoggerMessage(2023, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: GSSAPI authentication failed: {Problem}", EventName = "GssapiFailed")]
    public static partial void GssapiFailed(ILogger logger, long connectionId, EndPoint? clientEndPoint, string problem);

    [LoggerMessage(2024, LogLevel.Information, "Client {ClientAddress}: GSSAPI login failed: {Problem}", EventName = "GssapiLoginFailed")]
    public static partial void GssapiLoginFailed(ILogger logger, IPAddress clientAddress, string problem);

    [LoggerMessage(2025, LogLevel.Information, "Session {ConnectionId} from {ClientEndPoint}: GSSAPI protection ended the connection: {Problem}", EventName = "GssapiProtectionFailed")]
    public static partial void GssapiProtectionFailed(ILogger logger, long connectionId, EndPoint? clientEndPoint, string problem);

    [LoggerMessage(3001, LogLevel.Debug, "Session {ConnectionId}: {Command} {Destination} failed with {ReplyCode} ({SocketError})", EventName = "ConnectFailed")]
    public static partial void ConnectFailed(ILogger logger, long connectionId, Socks5Command command, string destination, Socks5ReplyCode replyCode, SocketError socketError);

    // 3002 reserved: CommandNotSupported, logged while BIND and UDP ASSOCIATE were answered with X'07'.

    [LoggerMessage(3003, LogLevel.Debug, "Session {ConnectionId}: BIND for {Destination} ended without a peer ({BindOutcome}, {SocketError})", EventName = "BindFailed")]
    public static partial void BindFailed(ILogger logger, long connectionId, string destination, BindOutcome bindOutcome, SocketError socketError);

    [LoggerMessage(3004, LogLevel.Debug, "Session {ConnectionId}: UDP ASSOCIATE could not open a relay socket ({SocketError})", EventName = "UdpAssociateFailed")]
    public static partial void UdpAssociateFailed(ILogger logger, long connectionId, SocketError socketError);

    [LoggerMessage(3005, LogLevel.Debug, "Session {ConnectionId}: UDP relay open on {RelayEndPoint}", EventName = "UdpAssociated")]
    public static partial void UdpAssociated(ILogger logger, long connectionId, EndPoint relayEndPoint);

    [LoggerMessage(3006, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: {Command} to {Destination} for user {User} denied by rule {RuleNumber} ({RuleName})", EventName = "RuleDenied")]
    public static partial void RuleDenied(ILogger logger, long connectionId, EndPoint? clientEndPoint, string command, string destination, string user, int ruleNumber, string ruleName);

    [LoggerMessage(3007, LogLevel.Information, "Session {ConnectionId} from {ClientEndPoint}: {Command} to {Destination} for user {User} {Verdict} by rule {RuleNumber} ({RuleName})", EventName = "RuleApplied")]
    public static partial void RuleApplied(ILogger logger, long connectionId, EndPoint? clientEndPoint, string command, string destination, string user, string verdict, int ruleNumber, string ruleName);

    [LoggerMessage(4003, LogLevel.Debug, "Session {ConnectionId}: UDP association carried no datagram for {IdleTimeout}; closing it and its control connection", EventName = "UdpIdleTimeout")]
    public static partial void UdpIdleTimeout(ILogger logger, long connectionId, TimeSpan idleTimeout);

    [LoggerMessage(5001, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: {Command} for user {User} refused at a session limit", EventName = "SessionLimitReached")]
    public static partial void LimitReached(ILogger logger, long connectionId, EndPoint? clientEndPoint, string user, Socks5Command command);

    [LoggerMessage(5002, LogLevel.Debug, "Session {ConnectionId} from {ClientEndPoint}: unfinished handshake ({Phase}) closed to make room at the handshake limit", EventName = "HandshakeEvicted")]
    public static partial void HandshakeEvicted(ILogger logger, long connectionId, EndPoint? clientEndPoint, HandshakePhase phase);

    [LoggerMessage(4001, LogLevel.Debug, "Session {ConnectionId}: relay ended ({CloseReason}, {SocketError})", EventName = "RelayEnded")]
    public static partial void RelayEnded(ILogger logger, long connectionId, SessionCloseReason closeReason, SocketError socketError);

    [LoggerMessage(4002, LogLevel.Error, "Session {ConnectionId} from {ClientEndPoint}: unexpected error; connection reset", EventName = "SessionFault")]
    public static partial void SessionFault(ILogger logger, long connectionId, EndPoint? clientEndPoint, Exception exception);
}
