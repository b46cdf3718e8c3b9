using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Sockeye.Bench.Tests;

/// <summary>
/// A 30-second pass of the soak (<c>Sockeye.Bench soak</c>, issue 22) against the server built with the tests: mixed
/// CONNECT, BIND and UDP traffic with resets, stalls and refused targets, every byte checked. It asserts the verdict
/// (no byte or datagram lost or corrupted, no unexpected error, descriptors back to the start once the load drained)
/// and that every kind of operation ran; no speed, and no memory figure, which a run this short cannot judge.
/// </summary>
public sealed partial class SoakTests(ITestOutputHelper output)
{
    // 30 s of load, a few of warm-up, up to 30 s of drain, and the server's start, on a loaded machine.
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(4);

    private static readonly string[] Operations =
        ["connect", "connect, client stalls", "connect, target stalls", "connect, client resets", "connect, target resets", "connect, refused", "bind", "udp associate"];

    [Fact]
    public async Task ThirtySecondSoak_LosesNothing_AndLeaksNoDescriptors()
    {
        string summaryFile = Path.Combine(Path.GetTempPath(), $"sockeye-soak-{Guid.NewGuid():N}.md");
        string[] args =
        [
            BenchProcess.GeneratorDll, "soak",
            "--sockeye", BenchProcess.SockeyeDll,
            "--duration", "30",
            "--warm-up", "3",
            "--workers", "6",
            "--sample-interval", "5",
            "--max-transfer-kib", "256",
            "--output", summaryFile,
        ];
        try
        {
            (int exitCode, string transcript) = await BenchProcess.RunAsync(args, RunLimit, output);
            Assert.True(File.Exists(summaryFile), $"the soak wrote no summary (exit code {exitCode}):\n{transcript}");
            string summary = await File.ReadAllTextAsync(summaryFile);

            Assert.Matches(@"Bytes checked: [1-9][\d,]*; lost: 0; corrupted: 0\.", summary);
            Assert.Matches(@"Datagrams checked: [1-9][\d,]*; lost: 0; corrupted: 0\.", summary);
            foreach (string operation in Operations)
            {
                Match row = Regex.Match(summary, $@"^\| {Regex.Escape(operation)} \| ([\d,]+) \| ([\d,]+) \|$", RegexOptions.Multiline);
                Assert.True(row.Success, $"no row for {operation}:\n{summary}");
                Assert.NotEqual("0", row.Groups[1].Value);
                Assert.Equal("0", row.Groups[2].Value);
            }

            Match descriptors = DescriptorLine().Match(summary);
            Assert.True(descriptors.Success, summary);
            Assert.True(int.Parse(descriptors.Groups["endSockets"].Value, CultureInfo.InvariantCulture) <= int.Parse(descriptors.Groups["startSockets"].Value, CultureInfo.InvariantCulture) + 2, descriptors.Value);
            Assert.Contains("Verdict: PASS", summary, StringComparison.Ordinal);
            Assert.Equal(0, exitCode);
        }
        finally
        {
            File.Delete(summaryFile);
        }
    }

    [GeneratedRegex(@"Descriptors: start \d+ \((?<startSockets>\d+) sockets, .*?\), end \d+ \((?<endSockets>\d+) sockets,")]
    private static partial Regex DescriptorLine();
}
