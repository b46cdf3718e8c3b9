using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests;

/// <summary>The built executable, run as a child process as a user or a service manager would run it.</summary>
public partial class ProcessTests
{
    private static readonly (string, string) Alice = ("alice", "secret");

    private readonly ITestOutputHelper _output;

    public ProcessTests(ITestOutputHelper output)
    {
        _output = output;
    }

    [Fact]
    public async Task Process_Version_PrintsTheProductVersionAndExitsZero()
    {
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--version"]);

        int exitCode = await sockeye.WaitForExitAsync(TestTimeouts.ProcessExit);

        Assert.Equal(0, exitCode);
        Assert.StartsWith("0.1.0", sockeye.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_ListenWithUser_RelaysAnAuthenticatedTunnelBothWays()
    {
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", "127.0.0.1:0", "--user", "alice:secret"]);
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();

        using Socket client = await Socks5Client.ConnectAsync(port, Alice, target.Port);
        using Socket upstream = await target.AcceptAsync();

        await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "hello");
        Assert.False(sockeye.HasExited);
    }

    [Fact]
    public async Task Process_ListenWithUser_RefusesWrongPasswordAndAnonymousClientsWithoutLoggingThePassword()
    {
        const string wrongPassword = "not-the-password-7f3a";
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", "127.0.0.1:0", "--user", "alice:secret", "--log-level", "trace"]);
        int port = await sockeye.WaitForListeningPortAsync();

        using (Socket client = await Socks5Client.ConnectToProxyAsync(port))
        {
            await Socks5Client.SendAsync(client, [0x05, 0x01, 0x02]);
            Assert.Equal(new byte[] { 0x05, 0x02 }, await Socks5Client.ReceiveExactlyAsync(client, 2));
            byte[] status = await Socks5Client.AuthenticateAsync(client, "alice", wrongPassword);
            Assert.Equal(0x01, status[0]);
            Assert.NotEqual(0x00, status[1]);
            await Socks5Client.AssertClosedByPeerAsync(client, TestTimeouts.Default);
        }

        using (Socket anonymous = await Socks5Client.ConnectToProxyAsync(port))
        {
            // Only "no authentication" offered: X'FF', no acceptable method.
            await Socks5Client.SendAsync(anonymous, [0x05, 0x01, 0x00]);
            Assert.Equal(new byte[] { 0x05, 0xFF }, await Socks5Client.ReceiveExactlyAsync(anonymous, 2));
        }

        // The failure is logged at debug level, by user name only.
        await sockeye.WaitForOutputAsync(AuthenticationFailedLine(), TestTimeouts.Default);
        Assert.DoesNotContain(wrongPassword, sockeye.Transcript, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", sockeye.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_LogFormatJson_EveryLineIsAJsonObject_TheAccessLogWithItsFieldsByName()
    {
        // Issue 19: --log-format json writes JSON lines through Microsoft.Extensions.Logging's JSON console formatter.
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", "127.0.0.1:0", "--user", "alice:secret", "--log-format", "json"]);
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();
        using (Socket client = await Socks5Client.ConnectAsync(port, Alice, target.Port))
        using (Socket upstream = await target.AcceptAsync())
        {
            await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "hello");
        }

        await sockeye.WaitForOutputAsync(JsonAccessLine(), TestTimeouts.Default);
        await sockeye.TerminateAsync();

        string[] lines = sockeye.Transcript.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.NotEmpty(lines);
        foreach (string line in lines)
        {
            using var document = System.Text.Json.JsonDocument.Parse(line);
            Assert.True(document.RootElement.TryGetProperty("EventId", out _), line);
        }

        string access = Array.Find(lines, line => line.Contains("\"EventId\":2900", StringComparison.Ordinal))!;
        using var accessLine = System.Text.Json.JsonDocument.Parse(access);
        System.Text.Json.JsonElement state = accessLine.RootElement.GetProperty("State");
        Assert.Equal("alice", state.GetProperty("User").GetString());
        Assert.Equal("Sockeye.Access", accessLine.RootElement.GetProperty("Category").GetString());
        Assert.True(state.TryGetProperty("BytesUp", out _));
    }

    [Fact]
    public async Task Process_AccessLogPath_LinesGoToTheFile_AndSurviveARenameAndSigusr1WithoutLoss()
    {
        // Issue 19: accessLog.path sends the access log to its own file, reopened on SIGUSR1 so logrotate can move it.
        using var directory = new TempDirectory();
        string path = Path.Combine(directory.Path, "access.log");
        string rotated = path + ".1";
        using var config = new TempFile($$"""{ "listeners": [ "127.0.0.1:0" ], "accessLog": { "path": "{{path}}" } }""");
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--config", config.Path]);
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();

        await OneTunnelAsync(port, target, "first");
        await WaitUntilAsync(() => File.Exists(path) && File.ReadAllLines(path).Length == 1);

        // A session that ends after the move and before the signal: its line goes on into the moved file, and it is
        // there before the signal is sent (a session's line is written once the server has closed it, after the client).
        File.Move(path, rotated);
        await OneTunnelAsync(port, target, "moved");
        await WaitUntilAsync(() => File.ReadAllLines(rotated).Length == 2);
        sockeye.ReopenLogs();
        await WaitUntilAsync(() => File.Exists(path));
        await OneTunnelAsync(port, target, "after");
        await WaitUntilAsync(() => File.ReadAllLines(path).Length == 1);

        // Nothing lost, nothing written twice.
        string[] old = File.ReadAllLines(rotated);
        Assert.Equal(2, old.Length);
        Assert.All(old.Concat(File.ReadAllLines(path)), line => Assert.Contains(" user=- Connect 127.0.0.1:", line, StringComparison.Ordinal));
        Assert.DoesNotContain("Sockeye.Access[2900]", sockeye.Transcript, StringComparison.Ordinal);
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, for at most <see cref="TestTimeouts.Default"/>.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        DateTime until = DateTime.UtcNow + TestTimeouts.Default;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "the condition did not become true in time");
            await Task.Delay(20);
        }
    }

    private static async Task OneTunnelAsync(int port, TargetServer target, string text)
    {
        using Socket client = await Socks5Client.ConnectAsync(port, null, target.Port);
        using Socket upstream = await target.AcceptAsync();
        await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, text);
    }

    [GeneratedRegex("\"EventId\":2900")]
    private static partial Regex JsonAccessLine();

    [Fact]
    public async Task Process_SigtermWithTunnelOpen_KeepsRelayingThenExitsZeroOnceTheTunnelCloses()
    {
        // A long grace period: exiting well before it proves the drain ended because the tunnel closed.
        await using SockeyeProcess sockeye = SockeyeProcess.Start(
            _output,
            ["--listen", "127.0.0.1:0", "--user", "alice:secret", "--shutdown-timeout", "60s"]);
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();
        Socket client = await Socks5Client.ConnectAsync(port, Alice, target.Port);
        Socket upstream = await target.AcceptAsync();
        try
        {
            await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "before");

            await sockeye.TerminateAsync();
            Match draining = await sockeye.WaitForOutputAsync(DrainingLine(), TestTimeouts.Default);
            Assert.Equal("1", draining.Groups["count"].Value);

            // Draining: the open tunnel still works both ways, but no new client gets in.
            await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "during the drain");
            using (var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                SocketException refused = await Assert.ThrowsAsync<SocketException>(
                    () => late.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).DefaultTimeout());
                Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
            }

            Assert.False(sockeye.HasExited, sockeye.Transcript);
        }
        finally
        {
            client.Dispose();
            upstream.Dispose();
        }

        int exitCode = await sockeye.WaitForExitAsync(TestTimeouts.ProcessExit);

        Assert.Equal(0, exitCode);
        Assert.Contains("Stopped", sockeye.Transcript, StringComparison.Ordinal);
        Assert.DoesNotContain("Grace period over", sockeye.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_SigtermWithTunnelLeftOpen_ClosesItAfterTheShutdownTimeoutAndExitsZero()
    {
        await using SockeyeProcess sockeye = SockeyeProcess.Start(
            _output,
            ["--listen", "127.0.0.1:0", "--user", "alice:secret", "--shutdown-timeout", "1s"]);
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();
        using Socket client = await Socks5Client.ConnectAsync(port, Alice, target.Port);
        using Socket upstream = await target.AcceptAsync();
        await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "ping");

        await sockeye.TerminateAsync();
        int exitCode = await sockeye.WaitForExitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, exitCode);
        await Socks5Client.AssertClosedByPeerAsync(client, TestTimeouts.Default);
        await Socks5Client.AssertClosedByPeerAsync(upstream, TestTimeouts.Default);
        Assert.Matches(@"Grace period over; closing 1 remaining session", sockeye.Transcript);
    }

    [Fact]
    public async Task Process_SigtermRightAfterListening_ExitsZero()
    {
        // The window is a few milliseconds wide: a few tries, each signalling as soon as the line is read, find it.
        for (int attempt = 0; attempt < 5; attempt++)
        {
            await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", "127.0.0.1:0"]);
            await sockeye.WaitForListeningPortAsync();

            sockeye.TerminateNow();

            Assert.Equal(0, await sockeye.WaitForExitAsync(TestTimeouts.ProcessExit));
        }
    }

    [Fact]
    public async Task Process_EnvironmentVariables_ListenerAndIdleTimeoutAreHonoured()
    {
        await using SockeyeProcess sockeye = SockeyeProcess.Start(
            _output,
            [],
            new Dictionary<string, string>
            {
                ["SOCKEYE_LISTENERS__0__ENDPOINT"] = "127.0.0.1:0",
                ["SOCKEYE_IDLETIMEOUT"] = "1s",
            });
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();

        // No user configured: the listener is loopback, so "no authentication" is accepted.
        using Socket client = await Socks5Client.ConnectAsync(port, credentials: null, target.Port);
        using Socket upstream = await target.AcceptAsync();
        await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "then silence");

        // The default idle timeout is 5 minutes: a close within seconds is the environment's 1s.
        await Socks5Client.AssertClosedByPeerAsync(client, TestTimeouts.Default);
        await sockeye.WaitForOutputAsync(IdleTimeoutClose(), TestTimeouts.Default);
        Assert.False(sockeye.HasExited);
    }

    [Fact]
    public async Task Process_BadEnvironmentVariable_ExitsTwoNamingTheKey()
    {
        await using SockeyeProcess sockeye = SockeyeProcess.Start(
            _output,
            ["--listen", "127.0.0.1:0"],
            new Dictionary<string, string> { ["SOCKEYE_IDLETIMEOUT"] = "banana" });

        int exitCode = await sockeye.WaitForExitAsync(TestTimeouts.ProcessExit);

        Assert.Equal(2, exitCode);
        Assert.Contains("[stderr] sockeye: idleTimeout: 'banana'", sockeye.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_ConfigFile_ListenerAndUsersAreRead()
    {
        using var config = new TempFile("""
            {
              "listeners": [ { "endpoint": "127.0.0.1:0" } ],
              "users": [ { "name": "alice", "password": "secret" } ],
              "idleTimeout": "30s"
            }
            """);
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--config", config.Path]);
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();

        using Socket client = await Socks5Client.ConnectAsync(port, Alice, target.Port);
        using Socket upstream = await target.AcceptAsync();
        await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "configured");

        // The configured user makes authentication required.
        using Socket anonymous = await Socks5Client.ConnectToProxyAsync(port);
        await Socks5Client.SendAsync(anonymous, [0x05, 0x01, 0x00]);
        Assert.Equal(new byte[] { 0x05, 0xFF }, await Socks5Client.ReceiveExactlyAsync(anonymous, 2));
    }

    [Fact]
    public async Task Process_Sighup_ReloadsUsersFromTheConfigFile_KeepsThemWhenTheFileIsBroken()
    {
        using var config = new TempFile(ConfigWithUser("alice", "secret"));
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--config", config.Path]);
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();
        using (Socket client = await Socks5Client.ConnectAsync(port, Alice, target.Port))
        using (Socket upstream = await target.AcceptAsync())
        {
            await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "before");
        }

        File.WriteAllText(config.Path, ConfigWithUser("bob", "hunter2"));
        sockeye.Hangup();
        await sockeye.WaitForOutputAsync(ReloadedLine(), TestTimeouts.Default);

        Assert.Equal(0x01, await Socks5Client.LoginStatusAsync(port, "alice", "secret"));
        using (Socket client = await Socks5Client.ConnectAsync(port, ("bob", "hunter2"), target.Port))
        using (Socket upstream = await target.AcceptAsync())
        {
            await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "after");
        }

        File.WriteAllText(config.Path, """{ "users": [ { "name": "carol", """);
        sockeye.Hangup();
        await sockeye.WaitForOutputAsync(ReloadFailedLine(), TestTimeouts.Default);

        Assert.False(sockeye.HasExited);
        Assert.Equal(0x00, await Socks5Client.LoginStatusAsync(port, "bob", "hunter2"));
        Assert.Equal(0x01, await Socks5Client.LoginStatusAsync(port, "carol", "x"));
    }

    [Fact]
    public async Task Process_Sighup_ReloadsWhenStartedWithTheSignalIgnored()
    {
        // nohup starts its command with SIGHUP ignored, and the runtime leaves an ignored signal ignored when a handler
        // is registered for it: without taking the signal back, `kill -HUP` would do nothing at all.
        using var config = new TempFile(ConfigWithUser("alice", "secret"));
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--config", config.Path], hangupIgnored: true);
        int port = await sockeye.WaitForListeningPortAsync();
        await sockeye.WaitForOutputAsync(HangupTakenBackLine(), TestTimeouts.Default);

        File.WriteAllText(config.Path, ConfigWithUser("bob", "hunter2"));
        sockeye.Hangup();
        await sockeye.WaitForOutputAsync(ReloadedLine(), TestTimeouts.Default);

        Assert.False(sockeye.HasExited);
        Assert.Equal(0x01, await Socks5Client.LoginStatusAsync(port, "alice", "secret"));
        Assert.Equal(0x00, await Socks5Client.LoginStatusAsync(port, "bob", "hunter2"));
    }

    [Fact]
    public async Task Process_MetricsOtlp_PushesTheSockeyeServerMeterToTheCollector()
    {
        using var collector = new FakeOtlpCollector();
        await using SockeyeProcess sockeye = SockeyeProcess.Start(
            _output,
            ["--listen", "127.0.0.1:0", "--metrics-otlp", $"http://127.0.0.1:{collector.Port}"],
            new Dictionary<string, string> { ["SOCKEYE_METRICS__EXPORTINTERVAL"] = "200ms" });
        int port = await sockeye.WaitForListeningPortAsync();
        await sockeye.WaitForOutputAsync(MetricsExportLine(), TestTimeouts.Default);
        using var target = new TargetServer();
        using (Socket client = await Socks5Client.ConnectAsync(port, null, target.Port))
        using (Socket upstream = await target.AcceptAsync())
        {
            await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "counted");
        }

        // The session ends as both sides close; a later export carries it and its bytes. Not the first export naming
        // "sockeye.sessions", "connect" and "succeeded": one taken while the tunnel was being set up has those (the
        // active-sessions gauge, the connect histogram's reply) and no relayed byte yet.
        FakeOtlpCollector.Export? export = null;
        for (int attempt = 0; attempt < 100 && export is null; attempt++)
        {
            export = collector.Exports.FirstOrDefault(e => e.Contains("sockeye.sessions") && e.Contains("connect") && e.Contains("succeeded") && e.Contains("sockeye.relay.bytes"));
            if (export is null)
            {
                await Task.Delay(100);
            }
        }

        Assert.NotNull(export);
        Assert.Equal("/v1/metrics", export.Path);
        Assert.Equal("application/x-protobuf", export.ContentType);
        Assert.True(export.Contains("Sockeye.Server"));
    }

    [Fact]
    public async Task Process_PortInUse_ExitsOneAndSaysSo()
    {
        using var blocker = new TargetServer();
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", $"127.0.0.1:{blocker.Port}"]);

        int exitCode = await sockeye.WaitForExitAsync(TestTimeouts.ProcessExit);

        Assert.Equal(1, exitCode);
        Assert.Contains($"[stderr] sockeye: cannot listen on 127.0.0.1:{blocker.Port}: the port is already in use", sockeye.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_PortInUse_PrintsNoStackTrace()
    {
        using var blocker = new TargetServer();
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", $"127.0.0.1:{blocker.Port}"]);

        Assert.Equal(1, await sockeye.WaitForExitAsync(TestTimeouts.ProcessExit));
        Assert.DoesNotContain("Exception", sockeye.Transcript, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"draining (?<count>\d+) session")]
    private static partial Regex DrainingLine();

    [GeneratedRegex(@"authentication failed for user alice")]
    private static partial Regex AuthenticationFailedLine();

    [GeneratedRegex(@"close=IdleTimeout")]
    private static partial Regex IdleTimeoutClose();

    private static string ConfigWithUser(string name, string password) => $$"""
        {
          "listeners": [ { "endpoint": "127.0.0.1:0" } ],
          "users": [ { "name": "{{name}}", "password": "{{password}}" } ]
        }
        """;

    [GeneratedRegex(@"Sockeye\.Server\[1010\] Reloaded: 1 user\(s\)")]
    private static partial Regex ReloadedLine();

    [GeneratedRegex(@"Sockeye\[1104\] Reload failed, the settings in force are unchanged: --config: .* is not valid JSON")]
    private static partial Regex ReloadFailedLine();

    [GeneratedRegex(@"Sockeye\[1106\] SIGHUP was ignored when the process started")]
    private static partial Regex HangupTakenBackLine();

    [GeneratedRegex(@"Sockeye\[1105\] Pushing metrics over OTLP/HTTP to http://127\.0\.0\.1:\d+/v1/metrics every 00:00:00\.2")]
    private static partial Regex MetricsExportLine();
}
