using System.Net;
using System.Net.Sockets;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests;

/// <summary><c>sockeye health</c>, run in process against the real executable's admin endpoint and against no server at all.</summary>
public sealed class HealthCommandTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Healthz_OfARunningServer_ExitsZero()
    {
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, []);

        (int exitCode, string stdout, string error) = await RunAsync("health", $"http://127.0.0.1:{sockeye.AdminPort}/healthz");

        Assert.True(exitCode == 0, error);
        Assert.Equal("", error);
        Assert.Equal($"http://127.0.0.1:{sockeye.AdminPort}/healthz: 200 OK", Assert.Single(Lines(stdout)));
    }

    [Fact]
    public async Task ClosedPort_ExitsOneWithOnePlainLine()
    {
        int port = ClosedPort();

        (int exitCode, string stdout, string error) = await RunAsync("health", $"http://127.0.0.1:{port}/healthz");

        Assert.Equal(1, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal($"sockeye health: http://127.0.0.1:{port}/healthz: Connection refused (127.0.0.1:{port})", Assert.Single(Lines(error)));
    }

    [Fact]
    public async Task ServerThatNeverAnswers_ExitsOneWhenTheTimeoutRunsOut()
    {
        // Accepts the connection (the backlog does) and never answers.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        int port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var clock = System.Diagnostics.Stopwatch.StartNew();

        (int exitCode, _, string error) = await RunAsync("health", $"http://127.0.0.1:{port}/healthz", "--timeout", "300ms");

        Assert.Equal(1, exitCode);
        Assert.Equal($"sockeye health: http://127.0.0.1:{port}/healthz: no answer within 300ms.", Assert.Single(Lines(error)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Readyz_WhileDraining_ExitsOneAndQuotesWhy()
    {
        using var target = new TargetServer();
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, ["--shutdown-timeout", "30s"]);
        string readyz = $"http://127.0.0.1:{sockeye.AdminPort}/readyz";
        Assert.Equal(0, (await RunAsync("health", readyz)).ExitCode);

        // An open tunnel holds the drain open while the check runs.
        using Socket tunnel = await Socks5Client.ConnectAsync(sockeye.SocksPort, null, target.Port);
        using Socket far = await target.AcceptAsync();
        sockeye.Process.TerminateNow();
        await sockeye.Process.WaitForOutputAsync(new System.Text.RegularExpressions.Regex(@"Sockeye\.Server\[1003\]"), TestTimeouts.Default);

        (int exitCode, _, string error) = await RunAsync("health", readyz);
        Assert.Equal(1, exitCode);
        Assert.Equal($"sockeye health: {readyz} answered 503 Service Unavailable: not ready: draining", Assert.Single(Lines(error)));

        // Alive all the same: /healthz still answers while the tunnels drain.
        Assert.Equal(0, (await RunAsync("health", $"http://127.0.0.1:{sockeye.AdminPort}/healthz")).ExitCode);
    }

    [Fact]
    public async Task NotFound_ExitsOne()
    {
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, []);

        (int exitCode, _, string error) = await RunAsync("health", $"http://127.0.0.1:{sockeye.AdminPort}/nothing-here");

        Assert.Equal(1, exitCode);
        Assert.StartsWith($"sockeye health: http://127.0.0.1:{sockeye.AdminPort}/nothing-here answered 404 Not Found: not found", Assert.Single(Lines(error)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("ftp://127.0.0.1/healthz")]
    public async Task NotAnHttpUrl_ExitsOne_NotTwo_WhichDockerReserves(string url)
    {
        (int exitCode, _, string error) = await RunAsync("health", url);

        Assert.Equal(1, exitCode);
        Assert.Equal($"sockeye health: '{url}' is not an http:// or https:// URL.", Assert.Single(Lines(error)));
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("0")]
    public async Task BadTimeout_ExitsOneAndNamesTheOption(string timeout)
    {
        (int exitCode, _, string error) = await RunAsync("health", "--timeout", timeout);

        Assert.Equal(1, exitCode);
        Assert.StartsWith("sockeye health: --timeout:", Assert.Single(Lines(error)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutAUrl_AsksTheDefaultAdminAddress()
    {
        // Nothing is expected on 127.0.0.1:9180 in the test environment; the line shows which URL was asked.
        (int exitCode, _, string error) = await RunAsync("health", "--timeout", "2s");

        if (exitCode == 0)
        {
            return;
        }

        Assert.StartsWith($"sockeye health: {HealthCommand.DefaultUrl}", Assert.Single(Lines(error)), StringComparison.Ordinal);
    }

    /// <summary>A loopback port nothing listens on: one the system just gave out and took back.</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var error = new StringWriter();
        int exitCode = await SockeyeCommandLine.RunAsync(args, stdout, error, CancellationToken.None).WaitAsync(TestTimeouts.ProcessStart);
        return (exitCode, stdout.ToString(), error.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
