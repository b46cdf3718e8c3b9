using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests.Deploy;

/// <summary>
/// deploy/grafana-dashboard.json asks only for series the executable really publishes, under the names a real scrape of
/// its /metrics shows, and shows every metric family the scrape has; its queries parse as PromQL.
/// </summary>
public sealed partial class GrafanaDashboardTests(ITestOutputHelper output)
{
    private const string DashboardPath = "deploy/grafana-dashboard.json";
    private const string Password = "correct horse battery";
    private const string DatasourceInput = "${DS_PROMETHEUS}";

    [Fact]
    public void Dashboard_IsGrafanaJson_WithThePrometheusDatasourceAsAnInput()
    {
        JsonObject dashboard = Dashboard();

        Assert.Equal(39, (int)dashboard["schemaVersion"]!);
        JsonNode input = Assert.Single(dashboard["__inputs"]!.AsArray())!;
        Assert.Equal("DS_PROMETHEUS", (string?)input["name"]);
        Assert.Equal("prometheus", (string?)input["pluginId"]);

        var ids = new HashSet<int>();
        foreach (JsonNode? panel in dashboard["panels"]!.AsArray())
        {
            Assert.True(ids.Add((int)panel!["id"]!), $"panel id {panel["id"]} is used twice");
            if ((string?)panel["type"] == "row")
            {
                continue;
            }

            string title = (string)panel["title"]!;
            Assert.Equal(DatasourceInput, (string?)panel["datasource"]?["uid"]);
            JsonArray targets = panel["targets"]!.AsArray();
            Assert.True(targets.Count > 0, $"panel '{title}' has no query");
            Assert.All(targets, target => Assert.Equal(DatasourceInput, (string?)target!["datasource"]?["uid"]));
        }

        Assert.All(dashboard["templating"]!["list"]!.AsArray(), variable => Assert.Equal(DatasourceInput, (string?)variable!["datasource"]?["uid"]));
    }

    [Fact]
    public async Task Dashboard_QueriesOnlyMetricsARealScrapeHas_AndEveryFamilyItHas()
    {
        using var directory = new TempDirectory();
        string config = directory.File("sockeye.json");
        // Shared limits with a Redis that is not there (nothing listens on port 1): the instance serves on its own limits,
        // and publishes the shared limits' state (0) as it would with one.
        await File.WriteAllTextAsync(config, """
            {
              "metrics": { "perUser": true },
              "limits": { "shared": { "redis": "127.0.0.1:1" } },
              "rules": [ { "action": "deny", "ports": [ 1 ], "name": "no port 1" }, { "action": "allow" } ]
            }
            """);
        using var target = new TargetServer();
        await using AdminProcess sockeye = await AdminProcess.StartAsync(output, ["--config", config, "--user", $"alice:{Password}"]);

        // A tunnel that ends, a failed login and a denied request: every histogram gets a recording and every counter a
        // series (the gauges and the counters read from the server's own statistics are there from the start).
        await RelayAndCloseAsync(sockeye.SocksPort, target);
        await FailLoginAsync(sockeye.SocksPort);
        await RequestDeniedAsync(sockeye.SocksPort);
        string metrics = await ScrapeUntilAsync(sockeye, text =>
            text.Contains("sockeye_rule_denials_total{", StringComparison.Ordinal)
            && text.Contains("sockeye_session_duration_seconds_bucket{", StringComparison.Ordinal)
            && AuthenticationFailed().IsMatch(text)
            && text.Contains("sockeye_user_bytes_total{", StringComparison.Ordinal));

        var scraped = new HashSet<string>(StringComparer.Ordinal);
        var families = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in metrics.Split('\n'))
        {
            if (TypeLine().Match(line) is { Success: true } type)
            {
                families[type.Groups["name"].Value] = type.Groups["type"].Value;
            }
            else if (SampleName().Match(line) is { Success: true } sample)
            {
                scraped.Add(sample.Value);
            }
        }

        HashSet<string> used = MetricNames(Dashboard());
        Assert.All(used, name => Assert.True(scraped.Contains(name), $"the dashboard queries {name}, which the scrape does not have:\n{metrics}"));

        foreach ((string family, string type) in families)
        {
            if (family == "target_info")
            {
                continue;
            }

            string[] names = type == "histogram" ? [$"{family}_bucket", $"{family}_sum", $"{family}_count"] : [family];
            Assert.True(names.Any(used.Contains), $"{family} ({type}) is published but no panel shows it; add one to {DashboardPath}");
        }
    }

    [ProgramFact("/usr/bin/promtool", "prometheus")]
    public async Task Dashboard_Queries_ParseAsPromQl()
    {
        // promtool parses a rule's expression as Prometheus would: each query becomes a recording rule.
        var rules = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        int index = 0;
        foreach (string expr in Queries(Dashboard()))
        {
            rules.Append(System.Globalization.CultureInfo.InvariantCulture, $"      - record: sockeye:dashboard_query_{++index}\n")
                .Append("        expr: ").Append(JsonSerializer.Serialize(expr)).Append('\n');
        }

        using var directory = new TempDirectory();
        string file = directory.File("rules.yml");
        await File.WriteAllTextAsync(file, rules.ToString());

        (int exitCode, string stdout, string error) = await ExternalProgram.RunAsync("/usr/bin/promtool", "check", "rules", file);

        Assert.True(exitCode == 0, $"promtool check rules exited with {exitCode}:\n{stdout}{error}\n{rules}");
        Assert.Contains($"SUCCESS: {index} rules found", stdout, StringComparison.Ordinal);
    }

    private static JsonObject Dashboard() => JsonNode.Parse(File.ReadAllText(RepositoryFiles.PathOf(DashboardPath)))!.AsObject();

    /// <summary>Every panel's query, rows' nested panels included.</summary>
    private static IEnumerable<string> Queries(JsonObject dashboard)
    {
        foreach (JsonNode? panel in dashboard["panels"]!.AsArray().Concat(dashboard["panels"]!.AsArray().SelectMany(p => p!["panels"]?.AsArray() ?? [])))
        {
            foreach (JsonNode? target in panel!["targets"]?.AsArray() ?? [])
            {
                yield return (string)target!["expr"]!;
            }
        }
    }

    /// <summary>
    /// The metric names the queries and the variables select. A PromQL identifier is a metric name unless it names a
    /// function (followed by a parenthesis) or sits in a label matcher, a grouping clause, a range or a string.
    /// </summary>
    private static HashSet<string> MetricNames(JsonObject dashboard)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (string expr in Queries(dashboard))
        {
            string bare = NotMetricNames().Replace(expr, " ");
            foreach (Match identifier in Identifier().Matches(bare))
            {
                names.Add(identifier.Groups["name"].Value);
            }
        }

        foreach (JsonNode? variable in dashboard["templating"]!["list"]!.AsArray())
        {
            Match labelValues = LabelValuesOf().Match((string)variable!["definition"]!);
            Assert.True(labelValues.Success, $"variable {variable["name"]}: not a label_values(METRIC…) query");
            names.Add(labelValues.Groups["name"].Value);
        }

        return names;
    }

    private static async Task RelayAndCloseAsync(int socksPort, TargetServer target)
    {
        using Socket tunnel = await Socks5Client.ConnectAsync(socksPort, ("alice", Password), target.Port);
        using Socket far = await target.AcceptAsync();
        byte[] payload = Encoding.ASCII.GetBytes("dashboard");
        await Socks5Client.SendAsync(tunnel, payload);
        Assert.Equal(payload, await Socks5Client.ReceiveExactlyAsync(far, payload.Length));
        tunnel.Shutdown(SocketShutdown.Both);
        far.Shutdown(SocketShutdown.Both);
    }

    private static async Task FailLoginAsync(int socksPort)
    {
        using Socket socket = await ConnectAsync(socksPort);
        Assert.Equal(new byte[] { 0x01, 0x01 }, await Socks5Client.AuthenticateAsync(socket, "mallory", "guess"));
    }

    /// <summary>A CONNECT to port 1, which the config's first rule denies: reply X'02'.</summary>
    private static async Task RequestDeniedAsync(int socksPort)
    {
        using Socket socket = await ConnectAsync(socksPort);
        Assert.Equal(new byte[] { 0x01, 0x00 }, await Socks5Client.AuthenticateAsync(socket, "alice", Password));
        await Socks5Client.SendAsync(socket, [0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 1]);
        Assert.Equal(new byte[] { 0x05, 0x02 }, await Socks5Client.ReceiveExactlyAsync(socket, 2));
    }

    /// <summary>A connection that offered username/password and had it chosen.</summary>
    private static async Task<Socket> ConnectAsync(int socksPort)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, socksPort)).DefaultTimeout();
        await Socks5Client.SendAsync(socket, [0x05, 0x01, 0x02]);
        Assert.Equal(new byte[] { 0x05, 0x02 }, await Socks5Client.ReceiveExactlyAsync(socket, 2));
        return socket;
    }

    private static async Task<string> ScrapeUntilAsync(AdminProcess sockeye, Func<string, bool> complete)
    {
        var clock = Stopwatch.StartNew();
        string last = "";
        while (clock.Elapsed < TestTimeouts.Default)
        {
            last = await sockeye.Http.GetStringAsync("metrics");
            if (complete(last))
            {
                return last;
            }

            await Task.Delay(100);
        }

        throw new Xunit.Sdk.XunitException($"/metrics never had every series the test waited for; last answer:\n{last}");
    }

    [GeneratedRegex(@"^sockeye_authentications_total\{[^}]*sockeye_outcome=""failed""", RegexOptions.Multiline)]
    private static partial Regex AuthenticationFailed();

    [GeneratedRegex(@"^# TYPE (?<name>\S+) (?<type>\S+)")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^[a-zA-Z_:][a-zA-Z0-9_:]*")]
    private static partial Regex SampleName();

    // Strings, label matchers, ranges, and the label lists of by, without, on and ignoring.
    [GeneratedRegex(@"""(?:[^""\\]|\\.)*""|\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex NotMetricNames();

    [GeneratedRegex(@"(?<![\w.])(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")]
    private static partial Regex Identifier();

    [GeneratedRegex(@"^label_values\((?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)")]
    private static partial Regex LabelValuesOf();
}
