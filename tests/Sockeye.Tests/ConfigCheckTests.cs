using Sockeye.Tests.TestSupport;

namespace Sockeye.Tests;

public class ConfigCheckTests
{
    [Fact]
    public async Task CheckConfig_ValidFileWithRules_ExitsZeroAndPrintsTheRulesInOrder()
    {
        using var config = new TempFile("""
            {
              "listeners": [ "0.0.0.0:1080" ],
              "users": [ { "name": "alice", "password": "secret" } ],
              "rules": [
                { "action": "deny", "destinations": [ "10.0.0.0/8" ], "log": true, "name": "no intranet" },
                { "action": "allow", "users": [ "alice" ], "commands": [ "connect" ], "ports": [ "443", "8000-8999" ] }
              ]
            }
            """);

        (int exitCode, string output, string error) = await RunAsync("check-config", config.Path);

        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        string[] lines = Lines(output);
        Assert.Equal($"{config.Path}: valid.", lines[0]);
        Assert.Contains("listeners: 0.0.0.0:1080 (socks5)", lines);
        Assert.Contains("authentication: username/password, 1 user", lines);
        Assert.Contains("rules (the first that matches decides; a request no rule matches is denied):", lines);
        Assert.Contains("1. deny   commands any  clients any  users any  destinations 10.0.0.0/8  ports any  log  # no intranet", lines);
        Assert.Contains("2. allow  commands connect  clients any  users alice  destinations any  ports 443, 8000-8999", lines);
    }

    [Fact]
    public async Task CheckConfig_AdminEndpointAndAtHostRule_ArePrintedAsWritten()
    {
        using var config = new TempFile("""
            {
              "admin": { "listen": "127.0.0.1:9180" },
              "metrics": { "perUser": true },
              "rules": [ { "action": "deny", "destinations": [ "@host" ] }, { "action": "allow" } ]
            }
            """);

        (int exitCode, string output, string error) = await RunAsync("check-config", config.Path);

        Assert.True(exitCode == 0, error);
        string[] lines = Lines(output);
        Assert.Contains("admin endpoint: http://127.0.0.1:9180/ (status page, /status.json, /metrics for Prometheus, /healthz, /readyz); no token; per-user series", lines);
        Assert.DoesNotContain(lines, line => line.StartsWith("metrics:", StringComparison.Ordinal));
        Assert.Contains("1. deny   commands any  clients any  users any  destinations @host  ports any", lines);
    }

    [Fact]
    public async Task CheckConfig_NoRulesListeningBeyondLoopback_PrintsTheBuiltInGuard()
    {
        using var config = new TempFile("""{ "listeners": [ "0.0.0.0:1080" ], "allowAnonymous": true }""");

        (int exitCode, string output, _) = await RunAsync("check-config", config.Path);

        Assert.Equal(0, exitCode);
        Assert.Contains("the built-in rules apply, which deny local destinations and this host's addresses because a listener is not on loopback", output, StringComparison.Ordinal);
        Assert.Contains("1. deny   commands connect, udp  clients any  users any  destinations 127.0.0.0/8, ::1/128, 169.254.0.0/16, fe80::/10, 0.0.0.0/8, ::/128  ports any  log  # built-in: local destinations", output, StringComparison.Ordinal);
        Assert.Contains("2. deny   commands connect, udp  clients any  users any  destinations @host  ports any  log  # built-in: this host's addresses", output, StringComparison.Ordinal);
        Assert.Contains("3. allow  commands any", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckConfig_MetricsExport_PrintsWhereAndHowOften()
    {
        using var config = new TempFile("""{ "metrics": { "otlpEndpoint": "http://127.0.0.1:4318", "exportInterval": "30s" } }""");

        (int exitCode, string output, _) = await RunAsync("check-config", config.Path);

        Assert.Equal(0, exitCode);
        Assert.Contains("metrics: pushed over OTLP/HTTP to http://127.0.0.1:4318/v1/metrics every 00:00:30", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckConfig_NoRulesOnLoopback_PrintsAllowEverything()
    {
        using var config = new TempFile("{}");

        (int exitCode, string output, _) = await RunAsync("check-config", config.Path);

        Assert.Equal(0, exitCode);
        Assert.Contains("listeners: 127.0.0.1:1080 (socks5, socks4, http)", output, StringComparison.Ordinal);
        Assert.Contains("authentication: none (NO AUTH)", output, StringComparison.Ordinal);
        Assert.Contains("metrics: not exported", output, StringComparison.Ordinal);
        Assert.Contains("which allows everything because every listener is on loopback", output, StringComparison.Ordinal);
        Assert.Single(Lines(output), line => line.StartsWith("1. ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CheckConfig_InvalidFile_ExitsTwoListingEveryProblem()
    {
        using var config = new TempFile("""{ "idleTimeout": "soon", "rules": [ { "action": "maybe" } ] }""");

        (int exitCode, string output, string error) = await RunAsync("check-config", config.Path);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        string[] lines = Lines(error);
        Assert.Contains(lines, line => line.StartsWith("sockeye: idleTimeout:", StringComparison.Ordinal));
        Assert.Contains("sockeye: rules[0].action: 'maybe' is not allow or deny.", lines);
        Assert.Equal($"sockeye: {config.Path}: 2 problems; the server would not start.", lines[^1]);
    }

    [Fact]
    public async Task CheckConfig_BadUdpPortRangeAndTwoIPv4AdvertiseAddresses_ExitsTwoNamingBoth()
    {
        using var config = new TempFile("""{ "udp": { "portRange": "40999-40000", "advertiseAddress": [ "203.0.113.5", "203.0.113.6" ] } }""");

        (int exitCode, string output, string error) = await RunAsync("check-config", config.Path);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        string[] lines = Lines(error);
        Assert.Contains("sockeye: udp.portRange: '40999-40000' is an empty range; write the lower port first.", lines);
        Assert.Contains("sockeye: udp.advertiseAddress: give at most one IPv4 address.", lines);
        Assert.Equal($"sockeye: {config.Path}: 2 problems; the server would not start.", lines[^1]);
    }

    [Fact]
    public async Task CheckConfig_MissingFile_ExitsTwo()
    {
        string path = Path.Combine(Path.GetTempPath(), $"sockeye-missing-{Guid.NewGuid():N}.json");

        (int exitCode, _, string error) = await RunAsync("check-config", path);

        Assert.Equal(2, exitCode);
        Assert.Contains($"cannot read '{path}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckConfig_NoFileArgument_ExitsTwo()
    {
        (int exitCode, _, string error) = await RunAsync("check-config");

        Assert.Equal(2, exitCode);
        Assert.StartsWith("sockeye: ", error, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exitCode = await SockeyeCommandLine.RunAsync(args, output, error).WaitAsync(TestTimeouts.ProcessStart);
        return (exitCode, output.ToString(), error.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
