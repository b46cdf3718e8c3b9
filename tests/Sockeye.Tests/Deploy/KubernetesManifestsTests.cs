using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests.Deploy;

/// <summary>
/// deploy/k8s: the ConfigMap's configuration passes check-config with the environment the Deployment gives it, and the
/// Deployment, the Service and the configuration agree on paths, ports and the grace period. No cluster runs here, so
/// these are the promises that can be checked without one.
/// </summary>
public sealed partial class KubernetesManifestsTests(ITestOutputHelper output)
{
    // docs/configuration.md's example account: alice, password "example".
    private const string UsersFileLine = "alice:$pbkdf2-sha256$600000$436l429gQEFegfey7890zQ==$9BzGH8z3imOzSSRTTzdf0ci5REaKIfHh33Sd9ZWMJCQ=\n";

    [Fact]
    public async Task ConfigMap_WithTheDeploymentsEnvironment_PassesCheckConfig_WithoutAWarning()
    {
        JsonObject config = ConfigMapJson();
        Assert.Equal("/etc/sockeye/users/users", (string?)config["usersFile"]);
        using var directory = new TempDirectory();
        string users = directory.File("users");
        await File.WriteAllTextAsync(users, UsersFileLine);
        config["usersFile"] = users;
        string path = directory.File("sockeye.json");
        await File.WriteAllTextAsync(path, config.ToJsonString());

        // Every variable the Deployment sets is a setting: check-config reads them as the server would.
        string deployment = Manifest("deployment.yaml");
        var environment = new Dictionary<string, string>();
        foreach (Match variable in EnvironmentVariable().Matches(deployment))
        {
            environment[variable.Groups["name"].Value] = variable.Groups["name"].Value switch
            {
                "SOCKEYE_UDP__ADVERTISEADDRESS" => "10.1.2.3",
                "SOCKEYE_ADMIN__TOKEN" => "0123456789abcdef0123456789abcdef",
                string other => throw new Xunit.Sdk.XunitException($"deployment.yaml sets {other}, which this test does not know"),
            };
        }

        Assert.Equal(2, environment.Count);
        await using SockeyeProcess check = SockeyeProcess.Start(output, ["check-config", path], environment);
        Assert.True(await check.WaitForExitAsync(TestTimeouts.ProcessExit) == 0, check.Transcript);
        Assert.DoesNotContain("environment", check.Transcript, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("admin endpoint: http://0.0.0.0:9180/", check.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public void Deployment_ServiceAndConfiguration_AgreeOnPathsPortsAndTheGracePeriod()
    {
        JsonObject config = ConfigMapJson();
        string deployment = Manifest("deployment.yaml");
        string service = Manifest("service.yaml");

        // The configuration file the container is told to read is the ConfigMap's key where the volume mounts it.
        Assert.Contains("args: [ \"--config\", \"/etc/sockeye/config/sockeye.json\" ]", deployment, StringComparison.Ordinal);
        Assert.Contains("{ name: config, mountPath: /etc/sockeye/config, readOnly: true }", deployment, StringComparison.Ordinal);
        Assert.Contains("{ name: users, mountPath: /etc/sockeye/users, readOnly: true }", deployment, StringComparison.Ordinal);

        // The ports the configuration listens on are the container's named ports, which the Services target.
        Assert.Equal("0.0.0.0:1080", (string?)config["listeners"]![0]!["endpoint"]);
        Assert.Equal("0.0.0.0:9180", (string?)config["admin"]!["listen"]);
        Assert.Contains("{ name: socks, containerPort: 1080, protocol: TCP }", deployment, StringComparison.Ordinal);
        Assert.Contains("{ name: admin, containerPort: 9180, protocol: TCP }", deployment, StringComparison.Ordinal);
        Assert.Contains("targetPort: socks", service, StringComparison.Ordinal);
        Assert.Contains("targetPort: admin", service, StringComparison.Ordinal);
        Assert.Contains("httpGet: { path: /readyz, port: admin }", deployment, StringComparison.Ordinal);
        Assert.Contains("httpGet: { path: /healthz, port: admin }", deployment, StringComparison.Ordinal);

        // Behind the balancer, and UDP on the node's own ports.
        Assert.True((bool?)config["listeners"]![0]!["proxyProtocol"]);
        Assert.NotNull((string?)config["udp"]!["portRange"]);
        Assert.Contains("hostNetwork: true", deployment, StringComparison.Ordinal);
        Assert.Contains("enableServiceLinks: false", deployment, StringComparison.Ordinal);

        // The kubelet's SIGKILL comes after the drain (shutdownTimeout) and the host's 5 s more.
        int grace = int.Parse(GracePeriod().Match(deployment).Groups["seconds"].Value, CultureInfo.InvariantCulture);
        TimeSpan shutdown = TimeSpan.FromSeconds(int.Parse(((string)config["shutdownTimeout"]!).TrimEnd('s'), CultureInfo.InvariantCulture));
        Assert.True(TimeSpan.FromSeconds(grace) > shutdown + TimeSpan.FromSeconds(5), $"terminationGracePeriodSeconds {grace} is not longer than {shutdown} + 5 s");

        // The image runs as the Dockerfile's user.
        Assert.Contains("runAsUser: 1654", deployment, StringComparison.Ordinal);
    }

    private static string Manifest(string name) => File.ReadAllText(RepositoryFiles.PathOf("deploy/k8s/" + name));

    /// <summary>The sockeye.json key of configmap.yaml: the block under <c>sockeye.json: |</c>, its indentation removed.</summary>
    private static JsonObject ConfigMapJson()
    {
        string[] lines = Manifest("configmap.yaml").Split('\n');
        int start = Array.FindIndex(lines, line => line.Trim() == "sockeye.json: |") + 1;
        Assert.True(start > 0, "configmap.yaml has no sockeye.json key");
        var json = new System.Text.StringBuilder();
        for (int i = start; i < lines.Length && (lines[i].StartsWith("    ", StringComparison.Ordinal) || lines[i].Trim().Length == 0); i++)
        {
            json.AppendLine(lines[i].Length >= 4 ? lines[i][4..] : "");
        }

        return JsonNode.Parse(json.ToString())!.AsObject();
    }

    [GeneratedRegex(@"- name: (?<name>SOCKEYE_[A-Z0-9_]+)")]
    private static partial Regex EnvironmentVariable();

    [GeneratedRegex(@"terminationGracePeriodSeconds: (?<seconds>\d+)")]
    private static partial Regex GracePeriod();
}
