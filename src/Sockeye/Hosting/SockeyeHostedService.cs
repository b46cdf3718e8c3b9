using Microsoft.Extensions.Hosting;
using Sockeye.Server;

namespace Sockeye.Hosting;

/// <summary>Runs a <see cref="SockeyeServer"/> for the lifetime of the host: SIGINT/SIGTERM stop it with a drain.</summary>
/// <remarks>
/// The server starts inside the host's start, after the console lifetime has installed its signal handlers, so a
/// SIGTERM that arrives right after "Listening on" is drained like any other.
/// </remarks>
internal sealed class SockeyeHostedService : IHostedService
{
    private readonly SockeyeServer _server;

    public SockeyeHostedService(SockeyeServer server) => _server = server;

    public Task StartAsync(CancellationToken cancellationToken) => _server.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => _server.StopAsync(cancellationToken);
}
