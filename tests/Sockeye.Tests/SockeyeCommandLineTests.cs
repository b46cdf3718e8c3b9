using System.Net;
using System.Net.Sockets;
using Sockeye.Tests.TestSupport;

namespace Sockeye.Tests;

public class SockeyeCommandLineTests
{
    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("-?")]
    public async Task RunAsync_Help_ExitsZeroAndListsTheOptions(string option)
    {
        (int exitCode, string output, string error) = await RunAsync(option);

        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        foreach (string name in new[] { "--listen", "--user", "--users-file", "--config", "--log-level", "--allow-anonymous", "--idle-timeout", "--shutdown-timeout" })
        {
            Assert.Contains(name, output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task RunAsync_Version_ExitsZeroAndPrintsOneLine()
    {
        // In process the entry assembly is the test host, so the number itself is checked in ProcessTests.
        (int exitCode, string output, string error) = await RunAsync("--version");

        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        Assert.Single(Lines(output));
    }

    [Fact]
    public async Task RunAsync_UnknownOption_ExitsTwoWithOneErrorLine()
    {
        (int exitCode, string output, string error) = await RunAsync("--bogus");

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        string line = Assert.Single(Lines(error));
        Assert.StartsWith("sockeye: ", line, StringComparison.Ordinal);
        Assert.Contains("--bogus", line, StringComparison.Ordinal);
        Assert.Contains("--help", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_OptionWithoutItsValue_ExitsTwo()
    {
        (int exitCode, _, string error) = await RunAsync("--listen");

        Assert.Equal(2, exitCode);
        Assert.NotEmpty(Lines(error));
    }

    [Theory]
    [InlineData("--listen", "nonsense")]
    [InlineData("-l", "nonsense")]
    [InlineData("--listen", "::1:1080")]
    public async Task RunAsync_BadListen_ExitsTwoAndTheErrorNamesListen(string option, string value)
    {
        (int exitCode, _, string error) = await RunAsync(option, value);

        Assert.Equal(2, exitCode);
        Assert.Contains(Lines(error), line => line.StartsWith("sockeye: --listen:", StringComparison.Ordinal) && line.Contains(value, StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_BadDurationOption_ExitsTwoAndTheErrorNamesIt()
    {
        (int exitCode, _, string error) = await RunAsync("--listen", "127.0.0.1:0", "--shutdown-timeout", "soon");

        Assert.Equal(2, exitCode);
        Assert.StartsWith("sockeye: --shutdown-timeout:", Assert.Single(Lines(error)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--user")]
    [InlineData("-u")]
    public async Task RunAsync_BadUser_ExitsTwoAndNeverEchoesThePassword(string option)
    {
        (int exitCode, string output, string error) = await RunAsync("--listen", "127.0.0.1:0", option, ":hunter2");

        Assert.Equal(2, exitCode);
        Assert.StartsWith("sockeye: --user:", Assert.Single(Lines(error)), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error + output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--config")]
    [InlineData("-c")]
    public async Task RunAsync_MissingConfigFile_ExitsTwoAndTheErrorNamesConfig(string option)
    {
        string path = Path.Combine(Path.GetTempPath(), $"sockeye-missing-{Guid.NewGuid():N}.json");

        (int exitCode, _, string error) = await RunAsync(option, path);

        Assert.Equal(2, exitCode);
        string line = Assert.Single(Lines(error));
        Assert.StartsWith("sockeye: --config:", line, StringComparison.Ordinal);
        Assert.Contains(path, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_NonexistentConfigDirectory_ExitsTwoAndTheErrorNamesConfig()
    {
        (int exitCode, _, string error) = await RunAsync("--config", "/nonexistent-sockeye-dir/sockeye.json");

        Assert.Equal(2, exitCode);
        Assert.StartsWith("sockeye: --config:", Assert.Single(Lines(error)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_ConfigFileNotJson_ExitsTwoAndSaysSo()
    {
        using var config = new TempFile("""{ "listeners": [ "127.0.0.1:0" ], """);

        (int exitCode, _, string error) = await RunAsync("--config", config.Path);

        Assert.Equal(2, exitCode);
        string line = Assert.Single(Lines(error));
        Assert.StartsWith("sockeye: --config:", line, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_ConfigFileNotJson_SaysWhereTheParserStopped_CountingFromOne()
    {
        // Issue 19: "a malformed JSON config is reported without a line or column". A doubled comma on the third line.
        using var config = new TempFile("{\n  \"listen\": [\"127.0.0.1:0\"],\n  \"idleTimeout\": \"5m\",,\n}\n");

        (int exitCode, _, string error) = await RunAsync("--config", config.Path);

        Assert.Equal(2, exitCode);
        string line = Assert.Single(Lines(error));
        Assert.Contains("is not valid JSON: line 3, column 23: ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", line, StringComparison.Ordinal);
    }

    [Fact]
    public void DescribeJsonError_NoPositionKnown_GivesTheConfigurationLayersReason()
    {
        var duplicate = new FormatException("A duplicate key 'a' was found.");

        Assert.Equal("A duplicate key 'a' was found.", SockeyeCommandLine.DescribeJsonError(new InvalidDataException("Failed to load", duplicate)));
    }

    [Fact]
    public async Task RunAsync_ConfigFileWithUnknownKey_ExitsTwoAndNamesTheKey()
    {
        using var config = new TempFile("""{ "listeners": [ "127.0.0.1:0" ], "idleTimout": "30s" }""");

        (int exitCode, _, string error) = await RunAsync("--config", config.Path);

        Assert.Equal(2, exitCode);
        Assert.StartsWith("sockeye: idleTimout:", Assert.Single(Lines(error)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_SeveralProblems_ExitsTwoAndReportsEachOnItsOwnLine()
    {
        (int exitCode, _, string error) = await RunAsync(
            "--listen", "127.0.0.1:0", "--idle-timeout", "5x", "--connect-timeout", "abc", "--log-level", "loud");

        Assert.Equal(2, exitCode);
        string[] lines = Lines(error);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, line => Assert.StartsWith("sockeye: --", line, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0.0.0.0:0")]
    [InlineData("*:0")]
    public async Task RunAsync_NonLoopbackListenWithoutUsers_ExitsTwoMentioningOpenProxy(string listen)
    {
        (int exitCode, _, string error) = await RunAsync("--listen", listen);

        Assert.Equal(2, exitCode);
        Assert.Contains("open proxy", Assert.Single(Lines(error)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_PortInUse_ExitsOneAndSaysThePortIsInUse()
    {
        using var blocker = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        blocker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        blocker.Listen();
        int port = ((IPEndPoint)blocker.LocalEndPoint!).Port;

        // Should the server start after all, the token stops it and the exit code (0) fails the test.
        using var stop = new CancellationTokenSource(TestTimeouts.Default);
        (int exitCode, _, string error) = await RunAsync(stop.Token, "--listen", $"127.0.0.1:{port}");

        Assert.Equal(1, exitCode);
        string line = Assert.Single(Lines(error));
        Assert.StartsWith("sockeye: ", line, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port}", line, StringComparison.Ordinal);
        Assert.Contains("in use", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_AddressNotOnThisMachine_ExitsOneAndSaysSo()
    {
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): no machine has it, so bind fails without any traffic.
        using var stop = new CancellationTokenSource(TestTimeouts.Default);
        (int exitCode, _, string error) = await RunAsync(stop.Token, "--listen", "192.0.2.1:0", "--user", "alice:secret");

        Assert.Equal(1, exitCode);
        Assert.Contains("does not belong to this machine", Assert.Single(Lines(error)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_SecondListenerPortInUse_ExitsOneAndReleasesTheFirst()
    {
        using var blocker = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        blocker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        blocker.Listen();
        int busyPort = ((IPEndPoint)blocker.LocalEndPoint!).Port;

        // A free port for the first listener: taken from the OS, released, then asked for by the server.
        int freePort;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            freePort = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        using var stop = new CancellationTokenSource(TestTimeouts.Default);
        (int exitCode, _, string error) = await RunAsync(stop.Token, "--listen", $"127.0.0.1:{freePort}", "--listen", $"127.0.0.1:{busyPort}");

        Assert.Equal(1, exitCode);
        Assert.Contains("in use", error, StringComparison.Ordinal);

        // The listener that did open was closed again: its port can be bound at once.
        using var rebind = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        rebind.Bind(new IPEndPoint(IPAddress.Loopback, freePort));
    }

    [Fact]
    public async Task RunAsync_ServingUntilTokenCancelled_RelaysThenExitsZero()
    {
        // The console logger writes to the real console, so the port cannot be read back from the output here:
        // take a free port from the OS, release it, and poll until the server has it (ProcessTests use port 0).
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        using var stop = new CancellationTokenSource();
        using var output = new StringWriter();
        using var error = new StringWriter();
        Task<int> run = SockeyeCommandLine.RunAsync(["--listen", $"127.0.0.1:{port}", "--log-level", "none"], output, error, stop.Token);
        try
        {
            using var target = new TargetServer();
            using (Socket client = await ConnectWhenListeningAsync(port, target.Port, run, error))
            using (Socket upstream = await target.AcceptAsync())
            {
                byte[] ping = "ping"u8.ToArray();
                await Socks5Client.SendAsync(client, ping);
                Assert.Equal(ping, await Socks5Client.ReceiveExactlyAsync(upstream, ping.Length));
            }

            await stop.CancelAsync();
            Assert.Equal(0, await run.WaitAsync(TestTimeouts.ProcessExit));
            Assert.Equal("", error.ToString());
        }
        finally
        {
            // Never leave a server running in the test process.
            await stop.CancelAsync();
            await Task.WhenAny(run, Task.Delay(TestTimeouts.ProcessExit));
        }
    }

    /// <summary>Polls, bounded, until the in-process server accepts; returns an open tunnel to <paramref name="targetPort"/>.</summary>
    private static async Task<Socket> ConnectWhenListeningAsync(int proxyPort, int targetPort, Task<int> run, StringWriter error)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.ProcessStart;
        for (int attempt = 0; ; attempt++)
        {
            Assert.False(run.IsCompleted, $"sockeye stopped before it listened: {error}");
            try
            {
                return await Socks5Client.ConnectAsync(proxyPort, credentials: null, targetPort);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused && attempt < 400 && DateTime.UtcNow < deadline)
            {
                await Task.WhenAny(run, Task.Delay(TimeSpan.FromMilliseconds(25)));
            }
        }
    }

    private static Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args) => RunAsync(CancellationToken.None, args);

    [Fact]
    public async Task RunAsync_AdminOffLoopbackWithoutToken_ExitsTwoAndSaysWhy()
    {
        (int exitCode, _, string error) = await RunAsync("--listen", "127.0.0.1:0", "--admin-listen", "0.0.0.0:9180");

        Assert.Equal(2, exitCode);
        Assert.Contains("--admin-listen: 0.0.0.0:9180 is not a loopback address, and admin.token is not set", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_AdminTokenTooShort_ExitsTwoAndNeverEchoesIt()
    {
        using var directory = new TempDirectory();
        string config = directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, """{ "admin": { "listen": "127.0.0.1:0", "token": "hunter2" } }""");
        (int exitCode, string output, string error) = await RunAsync("--config", config);

        Assert.Equal(2, exitCode);
        Assert.Contains("admin.token: too short (7 characters)", error, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", output + error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "admin": { "token": "0123456789abcdef0123" } }""", "admin.token: set, but admin.listen is not")]
    [InlineData("""{ "admin": { "listen": "127.0.0.1:0", "port": 1 } }""", "admin.port: unknown setting")]
    [InlineData("""{ "admin": { "listen": "nowhere" } }""", "admin.listen: 'nowhere' is not HOST:PORT")]
    [InlineData("""{ "metrics": { "perUser": "sometimes" } }""", "metrics.perUser: 'sometimes' is not true or false")]
    [InlineData("""{ "listeners": [ { "endpoint": "127.0.0.1:0", "proxyProtocol": true } ] }""", "listeners[0].trustedProxies: required with proxyProtocol")]
    [InlineData("""{ "listeners": [ { "endpoint": "127.0.0.1:0", "protocols": [ "socks6" ] } ] }""", "listeners[0].protocols: 'socks6' is not a protocol")]
    [InlineData("""{ "listeners": [ { "endpoint": "127.0.0.1:0", "protocols": [ ] } ] }""", "listeners[0].protocols: names no protocol")]
    [InlineData("""{ "socks4": { "allowWithUser": [ "alice" ] } }""", "socks4.allowWithUser: unknown setting")]
    [InlineData("""{ "http": { "maxHeaderBytes": 100 } }""", "http.maxHeaderBytes: 100 is out of range")]
    [InlineData("""{ "http": { "maxRequestLineBytes": 65536 } }""", "http.maxRequestLineBytes: 65536 is out of range")]
    [InlineData("""{ "http": { "via": "maybe" } }""", "http.via: 'maybe' is not true or false")]
    [InlineData("""{ "http": { "realm": "" } }""", "http.realm: use 1 to 128 printable ASCII characters")]
    [InlineData("""{ "listeners": [ { "endpoint": "127.0.0.1:0", "trustedProxies": [ "10.0.0.0/8" ] } ] }""", "listeners[0].trustedProxies: set, but proxyProtocol is not true")]
    [InlineData("""{ "listeners": [ { "endpoint": "127.0.0.1:0", "proxyProtocol": true, "trustedProxies": [ "balancer" ] } ] }""", "listeners[0].trustedProxies: ")]
    [InlineData("""{ "listeners": [ { "endpoint": "127.0.0.1:0", "proxyProtocol": "yes", "trustedProxies": [ "10.0.0.1" ] } ] }""", "listeners[0].proxyProtocol: 'yes' is not true or false")]
    [InlineData("""{ "listeners": [ { "endpoint": "127.0.0.1:0", "proxy": true } ] }""", "listeners[0].proxy: unknown setting")]
    public async Task RunAsync_BadAdminOrListenerSettings_ExitTwoNamingTheKey(string json, string expected)
    {
        using var directory = new TempDirectory();
        string config = directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, json);
        (int exitCode, _, string error) = await RunAsync("--config", config);

        Assert.Equal(2, exitCode);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(CancellationToken cancellationToken, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exitCode = await SockeyeCommandLine.RunAsync(args, output, error, cancellationToken).WaitAsync(TestTimeouts.ProcessStart);
        return (exitCode, output.ToString(), error.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
