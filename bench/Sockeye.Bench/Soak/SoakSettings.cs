namespace Sockeye.Bench.Soak;

/// <summary>The soak's settings, from the <c>soak</c> command's options.</summary>
/// <param name="Sockeye">The sockeye executable or sockeye.dll under test.</param>
/// <param name="Engine">The server's relay engine (<c>SOCKEYE_RELAY__ENGINE</c>), or <see langword="null"/> for its default.</param>
/// <param name="Duration">How long the measured load runs.</param>
/// <param name="WarmUp">Load before the measured run, after which the resting descriptors are taken as the start.</param>
/// <param name="Workers">Concurrent clients.</param>
/// <param name="SampleInterval">Time between two samples of the proxy's descriptors and memory.</param>
/// <param name="MaxTransfer">The most bytes one direction of a transfer carries.</param>
/// <param name="OperationLimit">The longest one operation may take before it counts as an error.</param>
/// <param name="Seed">Seeds each worker's choices, so a run's mix can be repeated.</param>
/// <param name="Output">A file to write the summary to, or <see langword="null"/>.</param>
/// <param name="CommandLine">The command line, for the summary.</param>
internal sealed record SoakSettings(
    string Sockeye,
    string? Engine,
    TimeSpan Duration,
    TimeSpan WarmUp,
    int Workers,
    TimeSpan SampleInterval,
    long MaxTransfer,
    TimeSpan OperationLimit,
    int Seed,
    string? Output,
    string[] CommandLine);
