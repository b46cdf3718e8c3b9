using System.Diagnostics;
using System.Globalization;
using System.Text;
using Sockeye.Client;

namespace Sockeye.Bench.Soak;

/// <summary>
/// The soak (issue 22): a Sockeye process under mixed CONNECT, BIND and UDP ASSOCIATE traffic with faults for a set
/// time, every byte checked end to end, its descriptors and memory sampled throughout. The verdict fails on any byte
/// lost or corrupted, any unexpected error, descriptors not back to where they started once the load has drained, or
/// memory that grew beyond <see cref="MemoryGrowthFactor"/> and <see cref="MemoryGrowthBytes"/>. See bench/README.md.
/// </summary>
internal sealed class Soak(SoakSettings settings)
{
    /// <summary>Sockets the proxy may hold beyond its resting count at the start, once the load has drained.</summary>
    public const int SocketSlack = 2;

    /// <summary>Other descriptors (epoll, eventfd, files) the proxy may hold beyond its resting count at the start.</summary>
    public const int OtherDescriptorSlack = 2;

    /// <summary>
    /// Splice pipes the proxy may hold beyond the start, per worker: it pools the pipes it rents (up to 256, two
    /// descriptors each), so a new peak of concurrent tunnels, two directions each, leaves more pooled.
    /// </summary>
    public const int PipeDescriptorsPerWorker = 4;

    /// <summary>Mean RSS over the last third of the samples may be at most this times the first third's, plus <see cref="MemoryGrowthBytes"/>.</summary>
    public const double MemoryGrowthFactor = 1.25;

    public const long MemoryGrowthBytes = 16L << 20;

    /// <summary>Shorter runs are not judged on memory: their RSS still follows the runtime's warm-up (JIT tiers, heap sizing).</summary>
    public static readonly TimeSpan MemoryJudgedFrom = TimeSpan.FromMinutes(2);

    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(30);

    private readonly List<SoakSample> _samples = [];
    private readonly SoakStats _stats = new();

    public async Task<int> RunAsync()
    {
        Native.RaiseFileLimit();
        var environment = new Dictionary<string, string>();
        if (settings.Engine is { } engine)
        {
            environment["SOCKEYE_RELAY__ENGINE"] = engine;
        }

        // Longer than any operation may take: a target connection still open then is one the proxy failed to close.
        using var targets = new SoakTargets(_stats, settings.OperationLimit + TimeSpan.FromSeconds(30));
        await using ProxyUnderTest proxy = await ProxyUnderTest.StartSockeyeAsync("sockeye", settings.Sockeye, cpus: null, withUser: false, environment);
        int pid = proxy.Process!.Id;
        var client = new Socks5Client(new Socks5Proxy(proxy.EndPoint!)) { ConnectTimeout = settings.OperationLimit };
        Console.WriteLine($"soak: sockeye pid {pid} on {proxy.EndPoint}, {settings.Workers} workers, {settings.WarmUp.TotalSeconds:0} s warm-up, {settings.Duration.TotalSeconds:0} s measured");

        await RunWorkersAsync(client, targets, settings.WarmUp, seedOffset: 0);
        SoakSample start = await DrainAsync(pid, targets, Stopwatch.StartNew(), until: null) with { Elapsed = TimeSpan.Zero };
        Console.WriteLine($"at rest after warm-up: {start.Sockets} sockets, {start.Pipes} pipe ends, {start.OtherDescriptors} other descriptors, RSS {Mib(start.ResidentBytes)} MiB");
        long operationsBeforeMeasuring = _stats.TotalOperations();

        var clock = Stopwatch.StartNew();
        using var sampling = new CancellationTokenSource();
        Task sampler = SampleAsync(pid, clock, sampling.Token);
        await RunWorkersAsync(client, targets, settings.Duration, seedOffset: settings.Workers);
        await sampling.CancelAsync();
        await sampler;
        TimeSpan loadTime = clock.Elapsed;
        SoakSample end = await DrainAsync(pid, targets, clock, until: start);
        string? exit = proxy.ExitReport();

        int targetsStillOpen = targets.OpenConnections;
        string summary = Summarize(start, end, loadTime, operationsBeforeMeasuring, exit, targetsStillOpen, out bool passed);
        Console.WriteLine(summary);
        if (settings.Output is { } output)
        {
            await File.WriteAllTextAsync(output, summary);
        }

        return passed ? 0 : 1;
    }

    private async Task RunWorkersAsync(Socks5Client client, SoakTargets targets, TimeSpan duration, int seedOffset)
    {
        DateTime until = DateTime.UtcNow + duration;
        var workers = new Task[settings.Workers];
        for (int i = 0; i < workers.Length; i++)
        {
            var worker = new SoakWorker(client, targets, _stats, settings.OperationLimit, settings.MaxTransfer, settings.Seed + seedOffset + i);
            workers[i] = Task.Run(() => worker.RunAsync(until));
        }

        await Task.WhenAll(workers);
    }

    private async Task SampleAsync(int pid, Stopwatch clock, CancellationToken stop)
    {
        Console.WriteLine(SoakSample.Header);
        using var timer = new PeriodicTimer(settings.SampleInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                SoakSample sample = Take(pid, clock);
                _samples.Add(sample);
                Console.WriteLine(sample.Row());
            }
        }
        catch (OperationCanceledException)
        {
            // The load is over.
        }
    }

    /// <summary>
    /// Waits, at most <see cref="DrainLimit"/>, for the load to drain: every target connection ended and the proxy's
    /// sockets back to <paramref name="until"/>'s (or, with none, steady for a second), then samples.
    /// </summary>
    private async Task<SoakSample> DrainAsync(int pid, SoakTargets targets, Stopwatch clock, SoakSample? until)
    {
        var waited = Stopwatch.StartNew();
        SoakSample sample = Take(pid, clock);
        int steadyFor = 0;
        while (waited.Elapsed < DrainLimit)
        {
            await Task.Delay(250);
            SoakSample next = Take(pid, clock);
            steadyFor = next.Sockets == sample.Sockets ? steadyFor + 1 : 0;
            sample = next;
            bool targetsDone = targets.OpenConnections == 0;
            if (targetsDone && (until is null ? steadyFor >= 4 : sample.Sockets <= until.Sockets))
            {
                break;
            }
        }

        return sample;
    }

    private SoakSample Take(int pid, Stopwatch clock)
    {
        (int sockets, int pipes, int other) = ProcessStats.Descriptors(pid);
        return new SoakSample(
            clock.Elapsed, sockets, pipes, other, ProcessStats.ResidentBytes(pid),
            _stats.TotalOperations(), _stats.TotalErrors(), _stats.BytesChecked, _stats.BytesLost, _stats.BytesCorrupted);
    }

    private string Summarize(SoakSample start, SoakSample end, TimeSpan loadTime, long operationsBeforeMeasuring, string? exit, int targetsStillOpen, out bool passed)
    {
        var failures = new List<string>();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Command: `{string.Join(' ', settings.CommandLine)}`");
        text.AppendLine(CultureInfo.InvariantCulture, $"Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} CPUs; engine {settings.Engine ?? "default"}");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Load: {settings.Workers} workers, {settings.WarmUp.TotalSeconds:0} s warm-up then {loadTime.TotalSeconds:0} s measured, transfers up to {settings.MaxTransfer / 1024} KiB each way, seed {settings.Seed}");
        text.AppendLine();

        text.AppendLine("| Operation | Count | Errors |");
        text.AppendLine("| --- | ---: | ---: |");
        for (int i = 0; i < SoakStats.OperationCount; i++)
        {
            var operation = (SoakOperation)i;
            text.AppendLine(CultureInfo.InvariantCulture, $"| {SoakStats.Name(operation)} | {_stats.Operations(operation):N0} | {_stats.Errors(operation):N0} |");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"| target side | — | {_stats.TargetErrors:N0} |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| all (warm-up included; measured: {_stats.TotalOperations() - operationsBeforeMeasuring:N0}) | {_stats.TotalOperations():N0} | {_stats.TotalErrors():N0} |");
        text.AppendLine();

        text.AppendLine(CultureInfo.InvariantCulture, $"Bytes checked: {_stats.BytesChecked:N0}; lost: {_stats.BytesLost:N0}; corrupted: {_stats.BytesCorrupted:N0}.");
        text.AppendLine(CultureInfo.InvariantCulture, $"Datagrams checked: {_stats.DatagramsChecked:N0}; lost: {_stats.DatagramsLost:N0}; corrupted: {_stats.DatagramsCorrupted:N0}.");
        text.AppendLine();

        var series = new List<SoakSample>(_samples.Count + 2) { start };
        series.AddRange(_samples);
        series.Add(end);
        text.AppendLine("Proxy process over time (first row: at rest after the warm-up; last: after the load drained):");
        text.AppendLine();
        text.AppendLine(SoakSample.Header);
        text.AppendLine(SoakSample.Rule);
        foreach (SoakSample sample in Thin(series, 12))
        {
            text.AppendLine(sample.Row());
        }

        text.AppendLine();
        int maxDescriptors = 0;
        long maxResident = 0;
        foreach (SoakSample sample in series)
        {
            maxDescriptors = Math.Max(maxDescriptors, sample.Descriptors);
            maxResident = Math.Max(maxResident, sample.ResidentBytes);
        }

        text.AppendLine(CultureInfo.InvariantCulture,
            $"Descriptors: start {start.Descriptors} ({start.Sockets} sockets, {start.Pipes} pipe ends, {start.OtherDescriptors} other), end {end.Descriptors} ({end.Sockets} sockets, {end.Pipes} pipe ends, {end.OtherDescriptors} other), max {maxDescriptors}.");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"RSS: start {Mib(start.ResidentBytes)} MiB, end {Mib(end.ResidentBytes)} MiB, max {Mib(maxResident)} MiB.");

        if (_stats.BytesLost > 0 || _stats.BytesCorrupted > 0)
        {
            failures.Add($"{_stats.BytesLost:N0} bytes lost and {_stats.BytesCorrupted:N0} corrupted");
        }

        if (_stats.DatagramsLost > 0 || _stats.DatagramsCorrupted > 0)
        {
            failures.Add($"{_stats.DatagramsLost:N0} datagrams lost and {_stats.DatagramsCorrupted:N0} corrupted");
        }

        if (_stats.TotalErrors() > 0)
        {
            failures.Add($"{_stats.TotalErrors():N0} unexpected errors");
        }

        if (exit is not null)
        {
            failures.Add(exit);
        }

        if (targetsStillOpen > 0)
        {
            // Every client has closed or reset by now: the proxy should have closed their targets' sides too.
            failures.Add($"{targetsStillOpen} target connections still open {DrainLimit.TotalSeconds:0} s after the load stopped");
        }

        if (end.Sockets > start.Sockets + SocketSlack)
        {
            failures.Add($"{end.Sockets - start.Sockets} more sockets after the drain than at the start (slack {SocketSlack})");
        }

        if (end.OtherDescriptors > start.OtherDescriptors + OtherDescriptorSlack)
        {
            failures.Add($"{end.OtherDescriptors - start.OtherDescriptors} more non-socket, non-pipe descriptors after the drain than at the start (slack {OtherDescriptorSlack})");
        }

        int pipeSlack = PipeDescriptorsPerWorker * settings.Workers;
        if (end.Pipes > start.Pipes + pipeSlack)
        {
            failures.Add($"{end.Pipes - start.Pipes} more pipe ends after the drain than at the start (slack {pipeSlack}: the splice pipe pool)");
        }

        if (settings.Duration >= MemoryJudgedFrom && _samples.Count >= 3)
        {
            int third = _samples.Count / 3;
            double firstThird = MeanResident(_samples.GetRange(0, third));
            double lastThird = MeanResident(_samples.GetRange(_samples.Count - third, third));
            double bound = firstThird * MemoryGrowthFactor + MemoryGrowthBytes;
            text.AppendLine(CultureInfo.InvariantCulture,
                $"Memory: mean RSS {Mib((long)firstThird)} MiB over the first third of the run, {Mib((long)lastThird)} MiB over the last (bound {Mib((long)bound)} MiB: ×{MemoryGrowthFactor} + {MemoryGrowthBytes >> 20} MiB).");
            if (lastThird > bound)
            {
                failures.Add($"RSS grew from {Mib((long)firstThird)} MiB to {Mib((long)lastThird)} MiB between the first and last third of the run");
            }
        }
        else
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"Memory: not judged (runs shorter than {MemoryJudgedFrom.TotalMinutes:0} minutes still show the runtime's warm-up).");
        }

        text.AppendLine();
        IReadOnlyList<(string Message, long Count)> errors = _stats.ErrorMessages();
        if (errors.Count > 0)
        {
            text.AppendLine("Errors:");
            foreach ((string message, long count) in errors)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"- {count:N0} × {message}");
            }

            text.AppendLine();
        }

        passed = failures.Count == 0;
        text.AppendLine(passed ? "Verdict: PASS" : "Verdict: FAIL: " + string.Join("; ", failures));
        return text.ToString();
    }

    private static double MeanResident(List<SoakSample> samples)
    {
        double sum = 0;
        foreach (SoakSample sample in samples)
        {
            sum += sample.ResidentBytes;
        }

        return samples.Count == 0 ? 0 : sum / samples.Count;
    }

    /// <summary>At most <paramref name="rows"/> samples, evenly spread, the first and last always among them.</summary>
    private static List<SoakSample> Thin(List<SoakSample> samples, int rows)
    {
        if (samples.Count <= rows)
        {
            return samples;
        }

        var thinned = new List<SoakSample>(rows);
        for (int i = 0; i < rows; i++)
        {
            thinned.Add(samples[(int)Math.Round(i * (samples.Count - 1) / (double)(rows - 1))]);
        }

        return thinned;
    }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture);

    private sealed record SoakSample(
        TimeSpan Elapsed, int Sockets, int Pipes, int OtherDescriptors, long ResidentBytes,
        long Operations, long Errors, long BytesChecked, long BytesLost, long BytesCorrupted)
    {
        public const string Header = "| Time (s) | Descriptors | Sockets | Pipe ends | Other | RSS (MiB) | Operations | Errors | Bytes checked | Lost | Corrupted |";

        public const string Rule = "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |";

        public int Descriptors => Sockets + Pipes + OtherDescriptors;

        public string Row() => string.Create(CultureInfo.InvariantCulture,
            $"| {Elapsed.TotalSeconds:0} | {Descriptors} | {Sockets} | {Pipes} | {OtherDescriptors} | {Mib(ResidentBytes)} | {Operations:N0} | {Errors:N0} | {BytesChecked:N0} | {BytesLost:N0} | {BytesCorrupted:N0} |");
    }
}
