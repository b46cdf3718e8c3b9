using System.Net;
using Microsoft.Extensions.Logging;
using Sockeye.Protocol.Socks5;
using Sockeye.Server.Sessions;

namespace Sockeye.Server.Diagnostics;

/// <summary>One line per session that made a request, in category <c>Sockeye.Access</c>.</summary>
internal static partial class AccessLog
{
    /// <summary>The logger category of the access log, so that operators can route it on its own.</summary>
    public const string Category = "Sockeye.Access";

    [LoggerMessage(2900, LogLevel.Information,
        "{ClientEndPoint} user={User} {Command} {Destination} reply={ReplyCode} up={BytesUp} down={BytesDown} ms={DurationMs} close={CloseReason}",
        EventName = "Access")]
    public static partial void Session(ILogger logger, EndPoint? clientEndPoint, string user, Socks5Command command, string destination,
        Socks5ReplyCode replyCode, long bytesUp, long bytesDown, long durationMs, SessionCloseReason closeReason);
}
