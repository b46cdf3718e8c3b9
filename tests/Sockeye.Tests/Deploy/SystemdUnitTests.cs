using Sockeye.Configuration;
using Sockeye.Server.Configuration;
using Sockeye.Tests.TestSupport;

namespace Sockeye.Tests.Deploy;

/// <summary>
/// deploy/sockeye.service as systemd itself reads it: systemd-analyze verify (no unknown directive, no warning, every
/// command executable) and its offline security review. No systemd runs here, so the sandbox is not started: what the
/// unit does at run time is for a real host (docs/operations.md).
/// </summary>
public sealed class SystemdUnitTests
{
    private const string UnitPath = "deploy/sockeye.service";
    private const string InstalledExecutable = "/usr/local/bin/sockeye";

    [ProgramFact("/usr/bin/systemd-analyze", "systemd")]
    public async Task Unit_PassesSystemdAnalyzeVerify_WithoutAWord()
    {
        using var directory = new TempDirectory();
        string unit = InstallForAnalysis(directory);

        (int exitCode, string output, string error) = await ExternalProgram.RunAsync("/usr/bin/systemd-analyze", "verify", unit);

        // verify exits 0 on an unknown key or a bad value, which it only reports ("Unknown key 'X' in section
        // [Service], ignoring."): anything it says at all fails the test.
        Assert.True(exitCode == 0 && output.Length == 0 && error.Length == 0,
            $"systemd-analyze verify exited with {exitCode}:\n{output}{error}");
    }

    [ProgramFact("/usr/bin/systemd-analyze", "systemd")]
    public async Task Unit_SecurityExposure_StaysAtMostTwo()
    {
        using var directory = new TempDirectory();
        string unit = InstallForAnalysis(directory);

        // The review scores what a service may do from 0 (nothing) to 10 (everything), and --threshold takes tenths.
        // The unit scores 1.6; a hardening line lost would take it over 2.
        (int exitCode, string output, string error) = await ExternalProgram.RunAsync(
            "/usr/bin/systemd-analyze", "security", "--offline=true", "--threshold=20", "--no-pager", unit);

        string overall = output.Split('\n').LastOrDefault(line => line.Contains("Overall exposure level", StringComparison.Ordinal)) ?? "";
        Assert.True(exitCode == 0, $"systemd-analyze security exited with {exitCode}: {overall}\n{output}{error}");
    }

    [Fact]
    public void Unit_DrainsOnSigterm_AndSystemdWaitsForTheDrain()
    {
        Dictionary<string, List<string>> service = ReadSection(File.ReadAllText(RepositoryFiles.PathOf(UnitPath)), "Service");

        Assert.Equal(["notify"], service["Type"]);
        Assert.Equal([$"{InstalledExecutable} --config /etc/sockeye/sockeye.json"], service["ExecStart"]);
        Assert.Equal("/bin/kill -HUP $MAINPID", service["ExecReload"][^1]);
        Assert.Equal(["SIGTERM"], service["KillSignal"]);
        Assert.Equal(["on-failure"], service["Restart"]);

        // The host gives the drain shutdownTimeout and 5 s more before it gives up (SockeyeCommandLine.ConfigureHost);
        // systemd must wait longer still, or its SIGKILL cuts the drain short.
        Assert.True(DurationParser.TryParse(Assert.Single(service["TimeoutStopSec"]), out TimeSpan stopTimeout));
        TimeSpan drain = new SockeyeServerOptions().ShutdownTimeout + TimeSpan.FromSeconds(5);
        Assert.True(stopTimeout > drain, $"TimeoutStopSec={stopTimeout} does not outlast the default drain of {drain}");
    }

    [Fact]
    public void Unit_IsHardened_WithoutBreakingTheRuntime()
    {
        Dictionary<string, List<string>> service = ReadSection(File.ReadAllText(RepositoryFiles.PathOf(UnitPath)), "Service");

        foreach ((string key, string value) in new[]
        {
            ("DynamicUser", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"),
            ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"), ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
            ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"), ("LogsDirectory", "sockeye"), ("ConfigurationDirectory", "sockeye"),
        })
        {
            Assert.True(service.TryGetValue(key, out List<string>? values) && values.Contains(value), $"{key}={value} is missing");
        }

        Assert.True(long.Parse(Assert.Single(service["LimitNOFILE"]), System.Globalization.CultureInfo.InvariantCulture) >= 65536);

        // A JIT build writes the code it compiles into memory it then executes.
        Assert.False(service.ContainsKey("MemoryDenyWriteExecute"), "MemoryDenyWriteExecute would crash a JIT build");
    }

    /// <summary>
    /// A copy of the unit in <paramref name="directory"/>, with the executable the build made in place of
    /// /usr/local/bin/sockeye: verify checks that every command it names can be run.
    /// </summary>
    private static string InstallForAnalysis(TempDirectory directory)
    {
        string executable = Path.Combine(AppContext.BaseDirectory, "sockeye");
        Assert.True(File.Exists(executable), $"{executable} (the build's apphost) is missing");
        string text = File.ReadAllText(RepositoryFiles.PathOf(UnitPath));
        Assert.Contains(InstalledExecutable, text, StringComparison.Ordinal);
        string unit = directory.File("sockeye.service");
        File.WriteAllText(unit, text.Replace(InstalledExecutable, executable, StringComparison.Ordinal));
        return unit;
    }

    /// <summary>The KEY=VALUE lines of one [section] of a unit file, each key's values in order; comments left out.</summary>
    private static Dictionary<string, List<string>> ReadSection(string unit, string section)
    {
        var values = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        string? current = null;
        foreach (string raw in unit.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }

            if (line[0] == '[')
            {
                current = line.Trim('[', ']');
                continue;
            }

            int equals = line.IndexOf('=', StringComparison.Ordinal);
            if (current == section && equals > 0)
            {
                string key = line[..equals].Trim();
                if (!values.TryGetValue(key, out List<string>? list))
                {
                    values[key] = list = [];
                }

                list.Add(line[(equals + 1)..].Trim());
            }
        }

        return values;
    }
}
