using Microsoft.Extensions.Logging;
using Sockeye.Server.Authentication;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Sessions;

/// <summary>What every session of one server shares: options, accounts, the CONNECT command, clocks and loggers.</summary>
internal sealed class SessionServices
{
    public SessionServices(SockeyeServerOptions options, UserDirectory users, ConnectCommand connect, TimeProvider timeProvider, ILoggerFactory loggerFactory)
    {
        Options = options;
        Users = users;
        Connect = connect;
        TimeProvider = timeProvider;
        SessionLogger = loggerFactory.CreateLogger("Sockeye.Session");
        AccessLogger = loggerFactory.CreateLogger(Diagnostics.AccessLog.Category);
    }

    public SockeyeServerOptions Options { get; }

    public UserDirectory Users { get; }

    public ConnectCommand Connect { get; }

    public TimeProvider TimeProvider { get; }

    public ILogger SessionLogger { get; }

    public ILogger AccessLogger { get; }
}
