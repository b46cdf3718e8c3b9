using System.Globalization;
using Xunit.Abstractions;

namespace Sockeye.Bench.Tests;

/// <summary>
/// A short pass of the load generator (bench/Sockeye.Bench), as a user runs it, against the server built with the
/// tests: every scenario must complete with its byte counts checked, no tunnel error and no datagram lost. Its figures
/// are not asserted: speed is what the full run in docs/performance.md reports, on a quiet machine.
/// </summary>
public sealed class LoadGeneratorTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task ShortPass_MeasuresEveryScenarioAndEveryServer_WithoutFailures()
    {
        string report = Path.Combine(Path.GetTempPath(), $"sockeye-bench-{Guid.NewGuid():N}.md");
        List<string> args =
        [
            BenchProcess.GeneratorDll,
            "--sockeye", BenchProcess.SockeyeDll,
            "--variants", "splice",
            "--runs", "1",
            "--gib", "0.0625",
            "--duration", "0.3",
            "--warm-up", "0",
            "--tunnels", "100",
            "--datagrams", "1000",
            "--output", report,
        ];
        string[] peers = AvailablePeers();
        if (peers.Length > 0)
        {
            args.AddRange(["--compare", string.Join(',', peers)]);
        }

        try
        {
            (int exitCode, string transcript) = await BenchProcess.RunAsync(args, RunLimit, output);
            Assert.True(exitCode == 0, $"the load generator exited with {exitCode}:\n{transcript}");
            string document = await File.ReadAllTextAsync(report);
            output.WriteLine(document);

            Assert.DoesNotContain("Scenarios that failed", document, StringComparison.Ordinal);
            string[] columns = ["direct", "sockeye (splice)", .. peers];
            Dictionary<string, Dictionary<string, string>> table = ReadResults(document);
            foreach (string column in columns)
            {
                Assert.Equal("0.00", table["Errors in the 16-worker run"][column]);
            }

            foreach (string row in (string[])["UDP datagrams lost of 1000, 64-byte payload", "UDP datagrams lost of 1000, 1200-byte payload"])
            {
                foreach (string column in columns)
                {
                    // microsocks has no UDP ASSOCIATE.
                    Assert.Equal(column == "microsocks" ? "—" : "0.00", table[row][column]);
                }
            }

            // The tunnels' CPU comes with its user-space part, never more than the whole.
            double tunnelCpu = double.Parse(table["Proxy CPU s per 10 000 tunnels, 16 workers"]["sockeye (splice)"], CultureInfo.InvariantCulture);
            double userCpu = double.Parse(table["Proxy user-space CPU s per 10 000 tunnels, 16 workers"]["sockeye (splice)"], CultureInfo.InvariantCulture);
            Assert.InRange(userCpu, 0, tunnelCpu + 0.01);

            // Every figure of Sockeye was measured: a number, not a dash for a missing one.
            foreach ((string figure, Dictionary<string, string> cells) in table)
            {
                Assert.True(double.TryParse(cells["sockeye (splice)"].Replace(",", "", StringComparison.Ordinal), out _), $"{figure}: '{cells["sockeye (splice)"]}'");
            }
        }
        finally
        {
            File.Delete(report);
        }
    }

    /// <summary>microsocks and Dante, where their Debian packages are installed; CI installs them and must use them.</summary>
    private static string[] AvailablePeers()
    {
        var peers = new List<string>();
        if (File.Exists("/usr/bin/microsocks"))
        {
            peers.Add("microsocks");
        }

        if (File.Exists("/usr/sbin/danted"))
        {
            peers.Add("dante");
        }

        bool inCi = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        Assert.False(inCi && peers.Count < 2, "CI must install microsocks and dante-server (.ci/run)");
        return [.. peers];
    }

    /// <summary>The table's rows by figure, each a map from column header to cell.</summary>
    private static Dictionary<string, Dictionary<string, string>> ReadResults(string document)
    {
        string[] lines = document.Split('\n');
        int header = Array.FindIndex(lines, line => line.StartsWith("| Figure |", StringComparison.Ordinal));
        Assert.True(header >= 0, "the report has no results table");
        string[] names = Cells(lines[header]);
        var rows = new Dictionary<string, Dictionary<string, string>>();
        for (int i = header + 2; i < lines.Length && lines[i].StartsWith('|'); i++)
        {
            string[] cells = Cells(lines[i]);
            var row = new Dictionary<string, string>();
            for (int column = 0; column < names.Length && column < cells.Length; column++)
            {
                row[names[column]] = cells[column];
            }

            rows[cells[0]] = row;
        }

        return rows;
    }

    private static string[] Cells(string line) =>
        line.Trim().Trim('|').Split('|').Select(cell => cell.Trim()).ToArray();
}
