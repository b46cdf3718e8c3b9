using System.Net;
using Sockeye.Client;
using Sockeye.Server;
using Sockeye.Server.Configuration;

namespace Sockeye.Client.Tests.Infrastructure;

/// <summary>A real <see cref="SockeyeServer"/> on loopback with an OS-assigned port: the proxy most tests go through.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private TestServer(SockeyeServer server, CapturingLoggerFactory logs)
    {
        Server = server;
        Logs = logs;
    }

    /// <summary>Everything the server logged, for assertion messages.</summary>
    public CapturingLoggerFactory Logs { get; }

    public SockeyeServer Server { get; }

    public IPEndPoint EndPoint => Server.LocalEndPoints[0];

    /// <summary>This server as a proxy, optionally with credentials.</summary>
    public Socks5Proxy Proxy(string? user = null, string? password = null) =>
        user is null ? new Socks5Proxy(EndPoint) : new Socks5Proxy(EndPoint, new NetworkCredential(user, password));

    public static async Task<TestServer> StartAsync(Action<SockeyeServerOptions>? configure = null, IPAddress? listenAddress = null)
    {
        var options = new SockeyeServerOptions();
        options.Listeners.Add(new IPEndPoint(listenAddress ?? IPAddress.Loopback, 0));

        // A test that leaves a tunnel open should not wait the production grace period at dispose.
        options.ShutdownTimeout = TimeSpan.FromSeconds(1);
        configure?.Invoke(options);
        var logs = new CapturingLoggerFactory();
        var server = new SockeyeServer(options, logs, timeProvider: null);
        await server.StartAsync().DefaultTimeout();
        return new TestServer(server, logs);
    }

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
