using System.Net;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Server.Commands;
using Sockeye.Server.Configuration;
using Sockeye.Server.Rules;

namespace Sockeye.Server.Tests.Infrastructure;

/// <summary>A real <see cref="SockeyeServer"/> on 127.0.0.1 with an OS-assigned port.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly FakeTimeProvider? _fakeTime;

    private TestServer(SockeyeServer server, SockeyeServerOptions options, CapturingLoggerFactory logs, FakeTimeProvider? fakeTime)
    {
        _fakeTime = fakeTime;
        Server = server;
        Options = options;
        Logs = logs;
    }

    /// <summary>Everything the server logged.</summary>
    public CapturingLoggerFactory Logs { get; }

    public SockeyeServer Server { get; }

    public SockeyeServerOptions Options { get; }

    public IPEndPoint EndPoint => Server.LocalEndPoints[0];

    public static async Task<TestServer> StartAsync(Action<SockeyeServerOptions>? configure = null, IHostResolver? resolver = null, IPAddress? listenAddress = null,
        TimeProvider? timeProvider = null, IHostAddressProvider? hostAddresses = null, Sockeye.Server.Limits.DescriptorBudget? descriptors = null)
    {
        var options = new SockeyeServerOptions();
        options.Listeners.Add(new IPEndPoint(listenAddress ?? IPAddress.Loopback, 0));

        // A test that leaves a tunnel open should not wait the production grace period at dispose.
        options.ShutdownTimeout = TimeSpan.FromSeconds(1);
        configure?.Invoke(options);
#if PORTABLE_ENGINE
        // The portable test assembly (tests/Sockeye.Server.Tests.Portable): a server that leaves the choice to the
        // platform runs on the runtime's sockets, so every such test covers the portable engine too.
        if (options.RelayEngine == RelayEngine.Auto)
        {
            options.RelayEngine = RelayEngine.Portable;
        }
#endif
        var logs = new CapturingLoggerFactory();
        var server = new SockeyeServer(options, logs, timeProvider, resolver ?? SystemHostResolver.Instance, hostAddresses, descriptors);
        await server.StartAsync();
        return new TestServer(server, options, logs, timeProvider as FakeTimeProvider);
    }

    public async ValueTask DisposeAsync()
    {
        Task stop = Server.DisposeAsync().AsTask();
        if (_fakeTime is not null)
        {
            // On a simulated clock the grace period (and a paced relay's wait for tokens) only passes if someone moves it.
            for (int i = 0; i < 1000 && !stop.IsCompleted; i++)
            {
                _fakeTime.Advance(TimeSpan.FromMilliseconds(100));
                await Task.WhenAny(stop, Task.Delay(5));
            }
        }

        await stop.DefaultTimeout();
    }
}
