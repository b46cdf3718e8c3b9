using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;

namespace Sockeye.Tests.Deploy;

/// <summary>docs/operations.md's queries and alerting rules are ones Prometheus accepts as they stand.</summary>
public sealed partial class OperationsGuideTests
{
    private const string GuidePath = "docs/operations.md";

    [ProgramFact("/usr/bin/promtool", "prometheus")]
    public async Task Queries_ParseAsPromQl()
    {
        // Each query of a ```promql block (comment lines above it, blank lines between) becomes a recording rule.
        var rules = new StringBuilder("groups:\n  - name: guide\n    rules:\n");
        int count = 0;
        foreach (Match block in PromQlBlock().Matches(File.ReadAllText(RepositoryFiles.PathOf(GuidePath))))
        {
            foreach (string paragraph in block.Groups["body"].Value.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
            {
                string expr = string.Join(' ', paragraph.Split('\n').Where(line => !line.TrimStart().StartsWith('#')).Select(line => line.Trim()));
                if (expr.Length > 0)
                {
                    rules.Append(System.Globalization.CultureInfo.InvariantCulture, $"      - record: sockeye:guide_query_{++count}\n")
                        .Append("        expr: ").Append(JsonSerializer.Serialize(expr)).Append('\n');
                }
            }
        }

        Assert.True(count >= 3, $"{GuidePath} has {count} PromQL queries");
        await AssertPromtoolAcceptsAsync(rules.ToString(), count);
    }

    [ProgramFact("/usr/bin/promtool", "prometheus")]
    public async Task AlertingRules_PassPromtool()
    {
        string[] groups = [.. YamlBlock().Matches(File.ReadAllText(RepositoryFiles.PathOf(GuidePath)))
            .Select(block => block.Groups["body"].Value)
            .Where(body => body.StartsWith("groups:", StringComparison.Ordinal))];

        string rules = Assert.Single(groups);
        await AssertPromtoolAcceptsAsync(rules, AlertLine().Count(rules));
    }

    [Fact]
    public void Readme_LinksTheGuide()
    {
        Assert.Contains("[docs/operations.md](docs/operations.md)", File.ReadAllText(RepositoryFiles.PathOf("README.md")), StringComparison.Ordinal);
    }

    private static async Task AssertPromtoolAcceptsAsync(string rules, int count)
    {
        using var directory = new TempDirectory();
        string file = directory.File("rules.yml");
        await File.WriteAllTextAsync(file, rules);

        (int exitCode, string output, string error) = await ExternalProgram.RunAsync("/usr/bin/promtool", "check", "rules", file);

        Assert.True(exitCode == 0, $"promtool check rules exited with {exitCode}:\n{output}{error}\n{rules}");
        Assert.Contains($"SUCCESS: {count} rules found", output, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^```promql\r?\n(?<body>.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex PromQlBlock();

    [GeneratedRegex(@"^```yaml\r?\n(?<body>.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex YamlBlock();

    [GeneratedRegex(@"^\s+- alert: ", RegexOptions.Multiline)]
    private static partial Regex AlertLine();
}
