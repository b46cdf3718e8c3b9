using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;

namespace Sockeye.Tests;

/// <summary>
/// Every JSON example in the README and docs/ is a configuration a reader may copy as it stands: <c>sockeye
/// check-config</c> must accept each one (issue 19: "several JSON examples in docs/configuration.md fail check-config
/// when copied as they stand").
/// </summary>
public sealed partial class DocumentedExamplesTests
{
    public static TheoryData<string, int> JsonExamples()
    {
        var examples = new TheoryData<string, int>();
        foreach ((string document, int index, _) in ReadJsonExamples())
        {
            examples.Add(document, index);
        }

        return examples;
    }

    [Fact]
    public void TheDocsHaveJsonExamples_SoTheTheoryBelowChecksSomething()
    {
        Assert.Contains(ReadJsonExamples(), example => example.Document == "docs/configuration.md");
    }

    [Theory]
    [MemberData(nameof(JsonExamples))]
    public async Task JsonExample_AsItStands_PassesCheckConfig(string document, int index)
    {
        string json = ReadJsonExamples().Single(example => example.Document == document && example.Index == index).Json;
        using var config = new TempFile(json);
        using var output = new StringWriter();
        using var error = new StringWriter();

        int exitCode = await SockeyeCommandLine.RunAsync(["check-config", config.Path], output, error, CancellationToken.None)
            .WaitAsync(TestTimeouts.ProcessStart);

        Assert.True(exitCode == 0, $"{document}, JSON example {index + 1}:\n{json}\n{error}");
        Assert.StartsWith($"{config.Path}: valid.", output.ToString(), StringComparison.Ordinal);
    }

    private static List<(string Document, int Index, string Json)> ReadJsonExamples()
    {
        string root = RepositoryFiles.Root;
        var documents = new List<string> { Path.Combine(root, "README.md") };
        documents.AddRange(Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md"));
        var examples = new List<(string, int, string)>();
        foreach (string path in documents.Order(StringComparer.Ordinal))
        {
            string document = Path.GetRelativePath(root, path).Replace('\\', '/');
            int index = 0;
            foreach (Match match in JsonBlock().Matches(File.ReadAllText(path)))
            {
                examples.Add((document, index++, match.Groups["json"].Value));
            }
        }

        return examples;
    }

    [GeneratedRegex(@"^```json\r?\n(?<json>.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex JsonBlock();
}
