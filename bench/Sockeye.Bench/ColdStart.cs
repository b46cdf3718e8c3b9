using System.Globalization;
using System.Text;

namespace Sockeye.Bench;

/// <summary>
/// The <c>warmup</c> scenario (issue 24): how a fresh instance, given no warm-up, comes up to speed. Its time to
/// listen, then 16 tunnel loops counted per second, and the proxy's CPU from its start to the end of that load.
/// </summary>
internal static class ColdStart
{
    /// <summary>The 1-based seconds whose tunnel rates the report gives.</summary>
    public static readonly int[] ReportedSeconds = [1, 2, 5, 10, 20];

    /// <summary>The seconds at the end whose mean rate stands for the steady state.</summary>
    public const int SteadySeconds = 5;

    /// <summary>How far from the steady state a second may be and still count as settled.</summary>
    public const double Tolerance = 0.10;

    /// <summary>Measures one fresh instance; nothing may have been asked of it before.</summary>
    public static async Task<ColdStartRun> MeasureAsync(ProxyUnderTest fresh, Targets targets, TimeSpan load)
    {
        (long[] perSecond, long errors) = await Scenarios.TunnelsPerSecondAsync(fresh, targets, (int)load.TotalSeconds);
        return new ColdStartRun(fresh.TimeToListen.TotalMilliseconds, [.. perSecond.Select(n => (double)n)], fresh.CpuSeconds(), errors);
    }

    /// <summary>The mean of the last <see cref="SteadySeconds"/> seconds (of all of them, when fewer).</summary>
    public static double SteadyMean(IReadOnlyList<double> perSecond) =>
        perSecond.Count == 0 ? 0 : perSecond.Skip(Math.Max(0, perSecond.Count - SteadySeconds)).Average();

    /// <summary>
    /// The first 1-based second from which every second to the end is within <see cref="Tolerance"/> of
    /// <see cref="SteadyMean"/>, or <see langword="null"/> when even the last one is not (the rate never settled).
    /// </summary>
    public static int? SecondsUntilSettled(IReadOnlyList<double> perSecond)
    {
        double steady = SteadyMean(perSecond);
        int? settled = null;
        for (int i = perSecond.Count - 1; i >= 0 && Math.Abs(perSecond[i] - steady) <= Tolerance * steady; i--)
        {
            settled = i + 1;
        }

        return settled;
    }

    /// <summary>
    /// The Markdown section: one column per subject, each figure the median of its runs (a run that never settled
    /// counts as later than any that did).
    /// </summary>
    public static string Section(IReadOnlyList<(string Subject, IReadOnlyList<ColdStartRun> Runs)> results, int loadSeconds, double generatorWarmUpSeconds)
    {
        var section = new StringBuilder();
        section.AppendLine("## Warm-up from a cold start");
        section.AppendLine();
        section.AppendLine(CultureInfo.InvariantCulture, $"Each column: fresh instances started for this figure alone, given no warm-up, then {loadSeconds} s of 16-worker tunnel");
        section.AppendLine("loops (those of the tunnels figure, by IPv4) counted per second from the moment they listen; medians of the runs.");
        section.AppendLine(CultureInfo.InvariantCulture, $"Settled: the first second from which every second is within {Tolerance * 100:0} % of the last {SteadySeconds} seconds' mean.");
        section.AppendLine(generatorWarmUpSeconds > 0
            ? string.Create(CultureInfo.InvariantCulture, $"The generator's own loop was warmed up first: {generatorWarmUpSeconds:0} s through a throw-away instance of the first server.")
            : "The generator's own loop was not warmed up first (`--warm-up 0`): the first column's early seconds include its JIT.");
        section.AppendLine("Time to listen includes the shell and `taskset` the bench starts every server through (a few ms). The proxy's CPU");
        section.AppendLine("is from its start to the end of the load: what the JIT spends counts.");
        section.AppendLine();
        section.Append("| Figure | Unit | ").AppendJoin(" | ", results.Select(r => r.Subject)).AppendLine(" |");
        section.Append("| --- | --- |").Append(string.Concat(Enumerable.Repeat(" ---: |", results.Count))).AppendLine();
        Row("Time to listen", "ms", run => run.TimeToListenMs, "0");
        foreach (int second in ReportedSeconds)
        {
            Row($"Tunnels/s in second {second}", "tunnels/s", run => second <= run.TunnelsPerSecond.Count ? run.TunnelsPerSecond[second - 1] : null, "#,0");
        }

        Row($"Tunnels/s, mean of the last {SteadySeconds} seconds", "tunnels/s", run => SteadyMean(run.TunnelsPerSecond), "#,0");
        section.Append(CultureInfo.InvariantCulture, $"| Seconds until within {Tolerance * 100:0} % of that mean | s |");
        foreach ((_, IReadOnlyList<ColdStartRun> runs) in results)
        {
            double? median = Median(runs.Select(run => (double?)(SecondsUntilSettled(run.TunnelsPerSecond) ?? double.PositiveInfinity)));
            section.Append(' ').Append(median switch
            {
                null => "—",
                double.PositiveInfinity => "never",
                double value => value.ToString("0.#", CultureInfo.InvariantCulture),
            }).Append(" |");
        }

        section.AppendLine();
        Row($"Proxy CPU from start to the end of the {loadSeconds} s", "CPU s", run => run.CpuSeconds, "0.00");
        Row("Errors (tunnels failed or over 5 s)", "errors", run => run.Errors, "0");
        return section.ToString();

        void Row(string figure, string unit, Func<ColdStartRun, double?> value, string format)
        {
            section.Append("| ").Append(figure).Append(" | ").Append(unit).Append(" |");
            foreach ((_, IReadOnlyList<ColdStartRun> runs) in results)
            {
                double? median = Median(runs.Select(value));
                section.Append(' ').Append(median?.ToString(format, CultureInfo.InvariantCulture) ?? "—").Append(" |");
            }

            section.AppendLine();
        }
    }

    private static double? Median(IEnumerable<double?> values)
    {
        double[] sorted = [.. values.OfType<double>().Order()];
        if (sorted.Length == 0)
        {
            return null;
        }

        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

/// <summary>One fresh instance's cold start.</summary>
/// <param name="TimeToListenMs">From starting the process to its first accepted connect.</param>
/// <param name="TunnelsPerSecond">Tunnels completed in each second of the load, the first second first.</param>
/// <param name="CpuSeconds">The proxy's CPU from its start to the end of the load.</param>
/// <param name="Errors">Tunnels that failed or took over 5 s.</param>
internal sealed record ColdStartRun(double TimeToListenMs, IReadOnlyList<double> TunnelsPerSecond, double CpuSeconds, long Errors);
