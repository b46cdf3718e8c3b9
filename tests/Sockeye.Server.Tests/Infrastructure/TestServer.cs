using System.Net;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;

namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>A real <see cref="SockeyeServer"/> on 127.0.0.1 with an OS-assigned port.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private TestServer(SockeyeServer server, SockeyeServerOptions options, CapturingLoggerFactory logs)
    {
        Server = server;
        Options = options;
        Logs = logs;
    }

    /// <summary>Everything the server logged.</summary>
    public CapturingLoggerFactory Logs { get; }

    public SockeyeServer Server { get; }

    public SockeyeServerOptions Options { get; }

    public IPEndPoint EndPoint => Server.LocalEndPoints[0];

    public static async Task<TestServer> StartAsync(Action<SockeyeServerOptions>? configure = null, IHostResolver? resolver = null, IPAddress? listenAddress = null)
    {
        var options = new SockeyeServerOptions();
        options.Listeners.Add(new IPEndPoint(listenAddress ?? IPAddress.Loopback, 0));

        // A test that leaves a tunnel open should not wait the production grace period at dispose.
        options.ShutdownTimeout = TimeSpan.FromSeconds(1);
        configure?.Invoke(options);
        var logs = new CapturingLoggerFactory();
        var server = new SockeyeServer(options, logs, timeProvider: null, resolver ?? SystemHostResolver.Instance);
        await server.StartAsync();
        return new TestServer(server, options, logs);
    }

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
