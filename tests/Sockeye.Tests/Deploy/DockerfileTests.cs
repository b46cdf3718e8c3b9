using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sockeye.Configuration;
using Sockeye.Tests.TestSupport;

namespace Sockeye.Tests.Deploy;

/// <summary>
/// deploy/Dockerfile's promises, read statically: no image can be pulled where the tests run (no registry but NuGet,
/// npm and Debian's), so the image is never built here. What is checked: the NativeAOT publish, the non-root user, the
/// health check through <c>sockeye health</c>, the ports and the config path, each against the example config, the
/// unit and the docs that must agree with it, and every file the build copies from the repository.
/// </summary>
public sealed class DockerfileTests
{
    private const string ConfigPath = "/etc/sockeye/sockeye.json";

    private static readonly List<(string Instruction, string Arguments)> Instructions = ReadInstructions(RepositoryFiles.PathOf("deploy/Dockerfile"));

    [Fact]
    public void BuildStage_PublishesTheNativeAotExecutable_WithTheSdkAndClang()
    {
        Assert.Equal("mcr.microsoft.com/dotnet/sdk:10.0 AS build", Instructions.First(i => i.Instruction == "FROM").Arguments);
        string[] runs = [.. Instructions.Where(i => i.Instruction == "RUN").Select(i => i.Arguments)];
        Assert.Contains(runs, run => run.Contains("apt-get install", StringComparison.Ordinal) && run.Contains("clang", StringComparison.Ordinal)
            && run.Contains("zlib1g-dev", StringComparison.Ordinal));
        string publish = Assert.Single(runs, run => run.Contains("dotnet publish", StringComparison.Ordinal));
        foreach (string part in new[] { "dotnet publish src/Sockeye ", "-c Release", "-r linux-x64", "-p:PublishAot=true", "-o /out" })
        {
            Assert.Contains(part, publish, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void RuntimeStage_IsRuntimeDeps_AndRunsAsTheImagesNonRootUser()
    {
        int runtime = Instructions.FindLastIndex(i => i.Instruction == "FROM");
        Assert.StartsWith("mcr.microsoft.com/dotnet/runtime-deps:10.0", Instructions[runtime].Arguments, StringComparison.Ordinal);
        Assert.Contains(Instructions.Skip(runtime), i => i.Instruction == "COPY" && i.Arguments == "--from=build /out/sockeye /app/sockeye");

        // The base image's own non-root user, by the UID it publishes; never root.
        string user = Assert.Single(Instructions.Skip(runtime), i => i.Instruction == "USER").Arguments;
        Assert.Equal("$APP_UID", user);
        Assert.DoesNotContain(Instructions, i => i.Instruction == "USER" && i.Arguments is "root" or "0" or "0:0");
    }

    [Fact]
    public void HealthCheck_RunsSockeyeHealth_AgainstTheAdminEndpointTheExampleConfigures()
    {
        string healthCheck = Assert.Single(Instructions, i => i.Instruction == "HEALTHCHECK").Arguments;
        int cmd = healthCheck.IndexOf("CMD ", StringComparison.Ordinal);
        Assert.True(cmd > 0, healthCheck);

        // Exec form: the chiseled image has no shell to run a string with.
        string[] command = JsonSerializer.Deserialize<string[]>(healthCheck[(cmd + 4)..])!;
        Assert.Equal("/app/sockeye", command[0]);
        Assert.Equal("health", command[1]);
        var url = new Uri(command[2]);
        Assert.Equal("/healthz", url.AbsolutePath);
        Assert.True(IPAddress.IsLoopback(IPAddress.Parse(url.Host)), $"{url} is not on loopback: the check runs inside the container");
        Assert.Equal(AdminPort(), url.Port);
    }

    [Fact]
    public void Exposes_TheExamplesSocksAndAdminPorts()
    {
        string[] exposed = Assert.Single(Instructions, i => i.Instruction == "EXPOSE").Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        JsonObject example = Example();
        string listener = (string)example["listeners"]![0]!["endpoint"]!;
        Assert.True(EndPointParser.TryParse(listener, out IPEndPoint? socks, out _));
        Assert.Equal(IPAddress.Any, socks!.Address);
        Assert.Equal([socks.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), AdminPort().ToString(System.Globalization.CultureInfo.InvariantCulture)], exposed);
    }

    [Fact]
    public void Entrypoint_ReadsTheConfigWhereTheUnitAndTheDocsPutIt()
    {
        string[] entrypoint = JsonSerializer.Deserialize<string[]>(Assert.Single(Instructions, i => i.Instruction == "ENTRYPOINT").Arguments)!;
        Assert.Equal(["/app/sockeye", "--config", ConfigPath], entrypoint);
        Assert.Contains($"ExecStart=/usr/local/bin/sockeye --config {ConfigPath}\n", File.ReadAllText(RepositoryFiles.PathOf("deploy/sockeye.service")), StringComparison.Ordinal);

        // The operator's guide installs the example at that path.
        Assert.Contains(File.ReadAllLines(RepositoryFiles.PathOf("docs/operations.md")), line =>
            line.Contains("deploy/sockeye.example.json", StringComparison.Ordinal) && line.Contains(ConfigPath, StringComparison.Ordinal));
    }

    [Fact]
    public void EveryFileTheBuildCopies_IsInTheRepository_AndNotIgnored()
    {
        string[] ignored = File.ReadAllLines(RepositoryFiles.PathOf(".dockerignore"));
        foreach (string pattern in new[] { "**/bin/", "**/obj/", ".git/", "**/TestResults/" })
        {
            Assert.Contains(pattern, ignored);
        }

        foreach ((_, string arguments) in Instructions.Where(i => i.Instruction == "COPY" && !i.Arguments.StartsWith("--", StringComparison.Ordinal)))
        {
            string[] paths = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (string source in paths[..^1])
            {
                string path = RepositoryFiles.PathOf(source);
                Assert.True(File.Exists(path) || Directory.Exists(path), $"COPY {source}: not in the repository");
            }
        }
    }

    private static JsonObject Example() => JsonNode.Parse(File.ReadAllText(RepositoryFiles.PathOf("deploy/sockeye.example.json")))!.AsObject();

    private static int AdminPort()
    {
        Assert.True(EndPointParser.TryParse((string)Example()["admin"]!["listen"]!, out IPEndPoint? admin, out _));
        return admin!.Port;
    }

    /// <summary>The Dockerfile's instructions, continuation lines joined and comments left out, each with its arguments.</summary>
    private static List<(string Instruction, string Arguments)> ReadInstructions(string path)
    {
        var instructions = new List<(string, string)>();
        string pending = "";
        foreach (string raw in File.ReadAllLines(path))
        {
            string line = raw.Trim();
            if (line.StartsWith('#') || (line.Length == 0 && pending.Length == 0))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1].Trim() + " ";
                continue;
            }

            line = pending + line;
            pending = "";
            if (line.Length == 0)
            {
                continue;
            }

            int space = line.IndexOf(' ', StringComparison.Ordinal);
            instructions.Add((line[..space].ToUpperInvariant(), line[(space + 1)..].Trim()));
        }

        return instructions;
    }
}
