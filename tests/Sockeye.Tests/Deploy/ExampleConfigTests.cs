using System.Text.Json.Nodes;
using Sockeye.Tests.TestSupport;

namespace Sockeye.Tests.Deploy;

/// <summary>deploy/sockeye.example.json, the configuration the unit and the image start with, passes check-config.</summary>
public sealed class ExampleConfigTests
{
    private const string ExamplePath = "deploy/sockeye.example.json";

    // docs/configuration.md's example account: alice, password "example".
    private const string UsersFileLine = "alice:$pbkdf2-sha256$600000$436l429gQEFegfey7890zQ==$9BzGH8z3imOzSSRTTzdf0ci5REaKIfHh33Sd9ZWMJCQ=\n";

    [Fact]
    public async Task Example_WithItsUsersFileInPlace_PassesCheckConfig()
    {
        // The example names /etc/sockeye/users, which check-config requires to exist and be readable; everything else
        // is checked as it stands, with the users file pointed at a copy that does exist.
        JsonObject example = JsonNode.Parse(await File.ReadAllTextAsync(RepositoryFiles.PathOf(ExamplePath)))!.AsObject();
        Assert.Equal("/etc/sockeye/users", (string?)example["usersFile"]);
        using var directory = new TempDirectory();
        string users = directory.File("users");
        await File.WriteAllTextAsync(users, UsersFileLine);
        example["usersFile"] = users;
        string config = directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, example.ToJsonString());
        using var output = new StringWriter();
        using var error = new StringWriter();

        int exitCode = await SockeyeCommandLine.RunAsync(["check-config", config], output, error, CancellationToken.None).WaitAsync(TestTimeouts.ProcessStart);

        Assert.True(exitCode == 0, $"{ExamplePath}:\n{error}");
        Assert.StartsWith($"{config}: valid.", output.ToString(), StringComparison.Ordinal);

        // A listener a container's published port can reach, made safe by the users file rather than by loopback.
        Assert.Contains("listeners: 0.0.0.0:1080", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("authentication: username/password, 1 user", output.ToString(), StringComparison.Ordinal);

        // Its rules keep the built-in guard, this host's own addresses included.
        Assert.Matches(@"2\. deny +commands connect, udp .*destinations @host .*# this host's addresses", output.ToString());
    }

    [Fact]
    public async Task Example_WithoutTheUsersFile_IsRefused_SoItNeverStartsAsAnOpenProxy()
    {
        JsonObject example = JsonNode.Parse(await File.ReadAllTextAsync(RepositoryFiles.PathOf(ExamplePath)))!.AsObject();
        using var directory = new TempDirectory();
        example["usersFile"] = directory.File("missing");
        string config = directory.File("sockeye.json");
        await File.WriteAllTextAsync(config, example.ToJsonString());
        using var output = new StringWriter();
        using var error = new StringWriter();

        int exitCode = await SockeyeCommandLine.RunAsync(["check-config", config], output, error, CancellationToken.None).WaitAsync(TestTimeouts.ProcessStart);

        Assert.Equal(2, exitCode);
        Assert.Contains("usersFile:", error.ToString(), StringComparison.Ordinal);
    }
}
