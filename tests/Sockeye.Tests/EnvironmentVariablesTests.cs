using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests;

/// <summary>
/// Issue 20: the variables Kubernetes sets in every pod of a namespace with a Service named <c>sockeye</c> share the
/// settings' prefix but are no setting. The executable starts with them, and says once which it ignored.
/// </summary>
public class EnvironmentVariablesTests
{
    private static readonly Dictionary<string, string> KubernetesServiceVariables = new()
    {
        ["SOCKEYE_PORT"] = "tcp://10.0.0.1:1080",
        ["SOCKEYE_PORT_1080_TCP_ADDR"] = "10.0.0.1",
        ["SOCKEYE_SERVICE_HOST"] = "10.0.0.1",
        ["SOCKEYE_SERVICE_PORT"] = "1080",
    };

    private const string Warning =
        "Ignored SOCKEYE_* environment variables that name no setting: SOCKEYE_PORT, SOCKEYE_PORT_1080_TCP_ADDR, SOCKEYE_SERVICE_HOST, SOCKEYE_SERVICE_PORT";

    private readonly ITestOutputHelper _output;

    public EnvironmentVariablesTests(ITestOutputHelper output)
    {
        _output = output;
    }

    [Fact]
    public async Task Process_KubernetesServiceVariables_StartsListensAndWarnsOnceNamingThem()
    {
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", "127.0.0.1:0"], KubernetesServiceVariables);

        await sockeye.WaitForListeningPortAsync();

        Assert.False(sockeye.HasExited);
        Assert.Single(Regex.Matches(sockeye.Transcript, Regex.Escape(Warning)));
        Assert.Contains("[1111]", sockeye.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_UnknownKeyInTheConfigFile_StillExitsTwo_WithTheVariablesSet()
    {
        // The file gives the key one of the variables gives too: the file's typo is not excused by the environment.
        using var config = new TempFile("""{ "listeners": [ "127.0.0.1:0" ], "service_host": "10.0.0.1" }""");
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--config", config.Path], KubernetesServiceVariables);

        int exitCode = await sockeye.WaitForExitAsync(TestTimeouts.ProcessExit);

        Assert.Equal(2, exitCode);
        Assert.Contains("sockeye: service_host: unknown setting", sockeye.Transcript, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task CheckConfig_KubernetesServiceVariables_PrintsTheWarningAndExitsZero()
    {
        using var config = new TempFile("""{ "listeners": [ "127.0.0.1:1080" ] }""");
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["check-config", config.Path], KubernetesServiceVariables);

        int exitCode = await sockeye.WaitForExitAsync(TestTimeouts.ProcessExit);

        Assert.Equal(0, exitCode);
        Assert.Contains(
            "sockeye: warning: ignored SOCKEYE_* environment variables that name no setting: SOCKEYE_PORT, SOCKEYE_PORT_1080_TCP_ADDR, SOCKEYE_SERVICE_HOST, SOCKEYE_SERVICE_PORT",
            sockeye.Transcript, StringComparison.Ordinal);
        Assert.Contains($"{config.Path}: valid.", sockeye.Transcript, StringComparison.Ordinal);
    }
}
