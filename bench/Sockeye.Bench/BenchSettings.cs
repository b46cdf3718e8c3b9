namespace Sockeye.Bench;

internal sealed record BenchSettings(
    string Sockeye,
    string[] Variants,
    string[] Compare,
    string[] Scenarios,
    Pinning Pinning,
    int Runs,
    long ThroughputBytes,
    TimeSpan TunnelDuration,
    TimeSpan JitWarmUp,
    int MemoryTunnels,
    int Datagrams,
    string? AotBinary,
    IReadOnlyList<PublishedBuild> Builds,
    TimeSpan ColdStartLoad,
    string? Hev,
    string? Output,
    string[] CommandLine)
{
    /// <summary>The repository's Release build of the daemon.</summary>
    public static string DefaultSockeye()
    {
        string? directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "Sockeye.slnx")))
        {
            directory = Path.GetDirectoryName(directory);
        }

        return directory is null
            ? "sockeye"
            : Path.Combine(directory, "src", "Sockeye", "bin", "Release", "net10.0", "sockeye.dll");
    }

    public bool Wants(string scenario) => Scenarios.Contains(scenario, StringComparer.OrdinalIgnoreCase);
}
