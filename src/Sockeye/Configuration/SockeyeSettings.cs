using Microsoft.Extensions.Logging;
using Sockeye.Server.Configuration;

namespace Sockeye.Configuration;

/// <summary>The daemon's effective settings: the server's options plus what only the executable uses.</summary>
internal sealed record SockeyeSettings(SockeyeServerOptions Server, LogLevel LogLevel, bool AllowAnonymous);
