using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Sockeye.Bench;

/// <summary>Runs every scenario against every subject, several times, and reports the medians in one table.</summary>
internal sealed class Bench
{
    /// <summary>
    /// Runtime and server settings a variant can add with a suffix (<c>splice+nospin</c>), to measure them without a
    /// rebuild: the experiments recorded in docs/performance-journal.md.
    /// </summary>
    private static readonly Dictionary<string, (string Name, string Value)> VariantSettings = new(StringComparer.Ordinal)
    {
        ["inline"] = ("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1"),
        ["nospin"] = ("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit", "0"),
        ["servergc"] = ("DOTNET_gcServer", "1"),
        ["noconcgc"] = ("DOTNET_gcConcurrent", "0"),
        ["notiered"] = ("DOTNET_TieredCompilation", "0"),
        ["nopgo"] = ("DOTNET_TieredPGO", "0"),

        // Tiering experiments for the warm-up of a fresh instance (issue 24). Call counting starts only after 100 ms
        // without new tier-0 methods, which a start under load may keep postponing.
        ["tc0"] = ("DOTNET_TC_CallCountingDelayMs", "0"),

        // Methods with loops (the event loops) compiled optimised at once, without dynamic PGO, rather than in tier 0
        // until on-stack replacement moves their running frame to optimised code.
        ["noosr"] = ("DOTNET_TC_QuickJitForLoops", "0"),

        // The runtime ignores precompiled code and JIT-compiles everything: a ReadyToRun build without its R2R code.
        ["nor2r"] = ("DOTNET_ReadyToRun", "0"),
        ["nopoll"] = ("SOCKEYE_EVENTLOOPPOLL", "0"),
    };

    /// <summary>The scenarios measured on one instance per run, after the JIT warm-up; the others start their own.</summary>
    private static readonly string[] SharedInstanceScenarios = ["throughput", "tunnels", "latency", "fixedload", "udp"];

    private readonly BenchSettings _settings;
    private readonly List<string> _subjects = [];
    private readonly List<Figure> _figures = [];
    private readonly Dictionary<(string Figure, string Subject), List<double>> _samples = [];
    private readonly List<string> _failures = [];
    private readonly Dictionary<string, List<double>> _stealPercent = [];
    private readonly Dictionary<string, List<ColdStartRun>> _coldStarts = [];
    private (long Total, long Steal) _machineAtStart;

    public Bench(BenchSettings settings) => _settings = settings;

    public async Task<int> RunAsync()
    {
        Native.RaiseFileLimit();
        if (_settings.Pinning.GeneratorAffinity is long generatorCpus && OperatingSystem.IsLinux())
        {
            // The CPUs the proxy does not get; with --proxy-cpus equal to every CPU the generator stays unpinned.
            Native.PinEveryThread(generatorCpus);
        }

        if (!File.Exists(_settings.Sockeye) && _settings.Sockeye.EndsWith(".dll", StringComparison.Ordinal))
        {
            Console.Error.WriteLine($"{_settings.Sockeye} is missing: build it first with `dotnet build -c Release src/Sockeye`.");
            return 2;
        }

        using var targets = new Targets();
        _machineAtStart = ProcessStats.MachineTicks();
        if (PlanSubjects(_settings, out List<Subject> subjects) is string error)
        {
            Console.Error.WriteLine(error);
            return 2;
        }

        if (_settings.Wants("warmup"))
        {
            await WarmUpGeneratorAsync(subjects, targets);
        }

        for (int run = 1; run <= _settings.Runs; run++)
        {
            // Every other run goes through the servers in reverse: this VM's speed drifts by a third within the hour, and
            // in one order the last server would always be measured on the later machine.
            foreach ((string name, Func<bool, Task<ProxyUnderTest>> start) in run % 2 == 1 ? subjects : Enumerable.Reverse(subjects))
            {
                Console.Error.WriteLine($"run {run}/{_settings.Runs}: {name}");
                if (!_subjects.Contains(name))
                {
                    _subjects.Add(name);
                }

                (long Total, long Steal) machineBefore = ProcessStats.MachineTicks();

                if (SharedInstanceScenarios.Any(_settings.Wants))
                {
                    await using (ProxyUnderTest subject = await start(false))
                    {
                        await WarmUpIfJitAsync(subject, targets, tunnelsOnly: false);
                        await MeasureAsync(subject, targets);
                    }

                    // Let the TIME_WAIT sockets of this subject's tunnels expire from the kernel's tables before the next one.
                    await Task.Delay(TimeSpan.FromSeconds(5));
                }

                if (_settings.Wants("memory") && name != "direct")
                {
                    // On an instance of its own: a process the other scenarios warmed up has heap committed that the
                    // idle tunnels then fill unseen (with a large gen0 budget, all of it), which hid their cost.
                    await using (ProxyUnderTest fresh = await start(false))
                    {
                        await TryMeasureAsync(fresh, targets, "memory");
                    }

                    await Task.Delay(TimeSpan.FromSeconds(5));
                }

                if (_settings.Wants("tunnels") && name != "direct" && !name.StartsWith("dante", StringComparison.Ordinal))
                {
                    // The same tunnel loop with RFC 1929 authentication, on an instance that requires it.
                    await using ProxyUnderTest withUser = await start(true);
                    try
                    {
                        await WarmUpIfJitAsync(withUser, targets, tunnelsOnly: true);
                        (double rate, _, _, _) = await Scenarios.TunnelRateAsync(withUser, targets, 16, byName: false, withUser: true, _settings.TunnelDuration);
                        Record("Tunnels/s, 16 workers, IPv4, with user", "tunnels/s", name, rate, higherIsBetter: true);
                    }
                    catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
                    {
                        _failures.Add($"{name}, tunnels with user: {e.Message}");
                    }

                    await Task.Delay(TimeSpan.FromSeconds(5));
                }

                if (_settings.Wants("warmup") && name != "direct")
                {
                    // On an instance of its own that nothing has warmed up: the warm-up is what this figure measures.
                    await MeasureColdStartAsync(start, name, targets);
                    await Task.Delay(TimeSpan.FromSeconds(5));
                }

                double steal = StealPercent(machineBefore, ProcessStats.MachineTicks());
                if (!_stealPercent.TryGetValue(name, out List<double>? steals))
                {
                    _stealPercent[name] = steals = [];
                }

                steals.Add(steal);
                Console.Error.WriteLine($"  CPU steal during this run: {steal:0.0} %");
            }
        }

        string? releaseBuild = null;
        if (_settings.AotBinary is not null)
        {
            Console.Error.WriteLine("release build");
            releaseBuild = await ReleaseBuild.MeasureAsync(_settings.AotBinary, _settings.Sockeye);
            if (releaseBuild is null)
            {
                return 2;
            }
        }

        string? report = _figures.Count > 0 ? Report() : null;
        string? coldStart = _coldStarts.Count == 0 ? null : ColdStart.Section(
            [.. _subjects.Where(_coldStarts.ContainsKey).Select(s => (s, (IReadOnlyList<ColdStartRun>)_coldStarts[s]))],
            (int)_settings.ColdStartLoad.TotalSeconds, _settings.JitWarmUp.TotalSeconds);
        Console.WriteLine(string.Join(Environment.NewLine, new[] { report, coldStart }.OfType<string>()));
        if (_settings.Output is not null)
        {
            await File.WriteAllTextAsync(_settings.Output, Document(report, coldStart, releaseBuild));
            Console.Error.WriteLine($"wrote {_settings.Output}");
        }

        return 0;
    }

    /// <summary>
    /// The columns, in order, each with how to start its server (with a user or not), or why the settings cannot be
    /// measured. Nothing is started here: the columns follow from the settings alone (hev only with <c>--hev</c>).
    /// </summary>
    internal static string? PlanSubjects(BenchSettings settings, out List<Subject> subjects)
    {
        string? cpus = settings.Pinning.ProxyCpuList;
        subjects = [new Subject("direct", _ => Task.FromResult(ProxyUnderTest.Direct()))];
        foreach (string variant in settings.Variants)
        {
            string name = $"sockeye ({variant})";
            string[] parts = variant.Split('+');

            // "aot" is the published NativeAOT binary (--aot) in the default relay mode: what a release deploys, with no
            // JIT warming up during the first seconds of a fresh instance. A --builds name is that build, the same way.
            string sockeye = settings.Sockeye;
            if (parts[0] == "aot")
            {
                if (settings.AotBinary is null || !File.Exists(settings.AotBinary))
                {
                    return $"the aot variant needs --aot with a published binary: `{ReleaseBuild.PublishCommand}`";
                }

                sockeye = settings.AotBinary;
                parts[0] = "splice";
            }
            else if (settings.Builds.FirstOrDefault(b => b.Name == parts[0]) is PublishedBuild build)
            {
                sockeye = build.Path;
                parts[0] = "splice";
            }

            if (VariantEnvironment(parts[0], parts.AsSpan(1), out Dictionary<string, string> environment) is string error)
            {
                return error;
            }

            if (subjects.Exists(s => s.Name == name))
            {
                return $"'{variant}' is measured twice";
            }

            subjects.Add(new Subject(name, withUser => ProxyUnderTest.StartSockeyeAsync(name, sockeye, cpus, withUser, environment)));
        }

        // Every build is a column, with no suffix unless --variants gave it one; named there alone, it is not added twice.
        foreach (PublishedBuild build in settings.Builds)
        {
            string name = $"sockeye ({build.Name})";
            if (!settings.Variants.Contains(build.Name, StringComparer.Ordinal))
            {
                var environment = new Dictionary<string, string> { ["SOCKEYE_RELAYMODE"] = "splice" };
                subjects.Add(new Subject(name, withUser => ProxyUnderTest.StartSockeyeAsync(name, build.Path, cpus, withUser, environment)));
            }
        }

        foreach (string peer in settings.Compare)
        {
            switch (peer)
            {
                case "microsocks":
                    subjects.Add(new Subject("microsocks", withUser => ProxyUnderTest.StartMicrosocksAsync(cpus, withUser)));
                    break;
                case "dante":
                    subjects.Add(new Subject("dante", _ => ProxyUnderTest.StartDanteAsync(cpus)));
                    break;
                case "hev":
                    return "hev-socks5-server is not a Debian package: give its built binary with --hev PATH (bench/README.md)";
                default:
                    return $"unknown peer '{peer}': use microsocks or dante";
            }
        }

        if (settings.Hev is string hev)
        {
            if (!File.Exists(hev))
            {
                return $"--hev {hev}: no such file; build hev-socks5-server as bench/README.md says and give bin/hev-socks5-server";
            }

            int workers = settings.Pinning.HevWorkers;
            subjects.Add(new Subject("hev", withUser => ProxyUnderTest.StartHevAsync(hev, cpus, workers, withUser)));
        }

        return null;
    }

    /// <summary>
    /// The environment of a Sockeye variant: its relay mode and the settings its suffixes name, or why a suffix is
    /// unknown.
    /// </summary>
    private static string? VariantEnvironment(string relayMode, ReadOnlySpan<string> suffixes, out Dictionary<string, string> environment)
    {
        environment = new Dictionary<string, string> { ["SOCKEYE_RELAYMODE"] = relayMode };
        foreach (string experiment in suffixes)
        {
            if (experiment.StartsWith("poll", StringComparison.Ordinal)
                && int.TryParse(experiment.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out int windowMicroseconds))
            {
                // +poll50: the event loops' polling window in µs (eventLoopPoll), to compare windows without a rebuild.
                environment["SOCKEYE_EVENTLOOPPOLL"] = $"{windowMicroseconds}us";
                continue;
            }

            if (!VariantSettings.TryGetValue(experiment, out (string Name, string Value) setting))
            {
                return $"unknown variant suffix '+{experiment}': use one of {string.Join(", ", VariantSettings.Keys)}, or pollN (a polling window of N µs)";
            }

            environment[setting.Name] = setting.Value;
        }

        return null;
    }

    private async Task WarmUpIfJitAsync(ProxyUnderTest subject, Targets targets, bool tunnelsOnly)
    {
        if (!subject.JitCompiled || _settings.JitWarmUp <= TimeSpan.Zero)
        {
            return;
        }

        Console.Error.WriteLine($"  warming up the JIT: {_settings.JitWarmUp.TotalSeconds:0} s of load");
        long failures = await Scenarios.WarmUpJitAsync(subject, targets, tunnelsOnly, _settings.JitWarmUp);
        if (failures > 0)
        {
            _failures.Add($"{subject.Name}: {failures} tunnels, transfers or datagrams failed during the JIT warm-up");
        }
    }

    /// <summary>
    /// Gives the generator's own tunnel loop <see cref="BenchSettings.JitWarmUp"/> of load through a throw-away instance
    /// of the first server, so that the first cold server measured is not also waiting for the generator's JIT (the
    /// warmup scenario alone runs nothing before it).
    /// </summary>
    private async Task WarmUpGeneratorAsync(List<Subject> subjects, Targets targets)
    {
        if (_settings.JitWarmUp <= TimeSpan.Zero || subjects.FirstOrDefault(s => s.Name != "direct") is not Subject first)
        {
            return;
        }

        Console.Error.WriteLine($"warming up the generator: {_settings.JitWarmUp.TotalSeconds:0} s of tunnel loops through a throw-away {first.Name}");
        await using (ProxyUnderTest throwAway = await first.Start(false))
        {
            (_, long errors) = await Scenarios.TunnelsPerSecondAsync(throwAway, targets, (int)Math.Ceiling(_settings.JitWarmUp.TotalSeconds));
            if (errors > 0)
            {
                _failures.Add($"{first.Name}: {errors} tunnels failed while the generator warmed up");
            }
        }

        await Task.Delay(TimeSpan.FromSeconds(5));
    }

    private async Task MeasureColdStartAsync(Func<bool, Task<ProxyUnderTest>> start, string name, Targets targets)
    {
        try
        {
            await using ProxyUnderTest fresh = await start(false);
            ColdStartRun run = await ColdStart.MeasureAsync(fresh, targets, _settings.ColdStartLoad);
            if (!_coldStarts.TryGetValue(name, out List<ColdStartRun>? runs))
            {
                _coldStarts[name] = runs = [];
            }

            runs.Add(run);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  cold start: {run.TimeToListenMs:0} ms to listen; tunnels/s per second: {string.Join(' ', run.TunnelsPerSecond)}; settled from second {ColdStart.SecondsUntilSettled(run.TunnelsPerSecond)?.ToString(CultureInfo.InvariantCulture) ?? "never"}; {run.CpuSeconds:0.00} CPU s; {run.Errors} errors"));
            if (fresh.ExitReport() is { } exit)
            {
                _failures.Add(exit);
            }
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException)
        {
            _failures.Add($"{name}, warmup: {e.Message}");
            Console.Error.WriteLine($"  warmup failed for {name}: {e.Message}");
        }
    }

    private async Task MeasureAsync(ProxyUnderTest subject, Targets targets)
    {
        foreach (string scenario in SharedInstanceScenarios)
        {
            if (_settings.Wants(scenario) && !await TryMeasureAsync(subject, targets, scenario))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Measures one scenario; a server that fails it costs that figure, not the run, and the failure is reported.
    /// False when the server is gone, so that nothing more is asked of it.
    /// </summary>
    private async Task<bool> TryMeasureAsync(ProxyUnderTest subject, Targets targets, string scenario)
    {
        try
        {
            await MeasureAsync(subject, targets, scenario);
            return true;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or TimeoutException or InvalidDataException)
        {
            _failures.Add($"{subject.Name}, {scenario}: {e.Message}");
            Console.Error.WriteLine($"  {scenario} failed for {subject.Name}: {e.Message}");
            if (subject.ExitReport() is { } exit)
            {
                _failures.Add(exit);
                Console.Error.WriteLine($"  {exit}");
                return false;
            }

            return true;
        }
    }

    private async Task MeasureAsync(ProxyUnderTest subject, Targets targets, string scenario)
    {
        string name = subject.Name;
        if (scenario == "throughput")
        {
            foreach ((bool upload, int streams) in new[] { (true, 1), (false, 1), (true, 8), (false, 8) })
            {
                (double rate, double cpu) = await Scenarios.ThroughputAsync(subject, targets, upload, streams, _settings.ThroughputBytes / streams);
                string label = $"Throughput, {streams} stream{(streams > 1 ? "s" : "")}, {(upload ? "upload" : "download")}";
                Record(label, "GB/s", name, rate / 1e9, higherIsBetter: true);
                if (streams == 1 && !subject.IsDirect)
                {
                    Record($"Proxy CPU s per GiB, 1 stream, {(upload ? "upload" : "download")}", "CPU s/GiB", name, cpu, higherIsBetter: false);
                }
            }
        }

        if (scenario == "tunnels")
        {
            foreach (int workers in new[] { 1, 16, 64 })
            {
                (double rate, long errors, double cpu, double userCpu) = await Scenarios.TunnelRateAsync(subject, targets, workers, byName: false, withUser: false, _settings.TunnelDuration);
                Record($"Tunnels/s, {workers} worker{(workers > 1 ? "s" : "")}, IPv4", "tunnels/s", name, rate, higherIsBetter: true);
                if (workers == 16)
                {
                    Record("Errors in the 16-worker run", "errors", name, errors, higherIsBetter: false);
                    if (!subject.IsDirect)
                    {
                        Record("Proxy CPU s per 10 000 tunnels, 16 workers", "CPU s", name, cpu, higherIsBetter: false);
                        Record("Proxy user-space CPU s per 10 000 tunnels, 16 workers", "CPU s", name, userCpu, higherIsBetter: false);
                    }
                }
            }

            (double byName, _, _, _) = await Scenarios.TunnelRateAsync(subject, targets, 16, byName: true, withUser: false, _settings.TunnelDuration);
            Record("Tunnels/s, 16 workers, by name (localhost)", "tunnels/s", name, byName, higherIsBetter: true);
        }

        if (scenario == "latency")
        {
            (double p50, double p99, double cpuPercent) = await Scenarios.LatencyAsync(subject, targets, 20_000);
            Record("Latency p50, 64-byte ping-pong", "µs", name, p50, higherIsBetter: false);
            Record("Latency p99, 64-byte ping-pong", "µs", name, p99, higherIsBetter: false);
            if (!subject.IsDirect)
            {
                Record("Proxy CPU during the ping-pong", "% of a core", name, cpuPercent, higherIsBetter: false);
            }
        }

        if (scenario == "fixedload")
        {
            await FixedLoad.MeasureAsync(subject, targets, _settings.TunnelDuration, Record);
        }

        if (scenario == "memory" && !subject.IsDirect)
        {
            // A server that cannot hold --tunnels within its descriptor limit (hev: six per tunnel) is measured at the most
            // it can hold, in a row of its own that says how many.
            int tunnels = Math.Min(_settings.MemoryTunnels, subject.MaxIdleTunnels ?? int.MaxValue);
            if (tunnels < _settings.MemoryTunnels)
            {
                Console.Error.WriteLine($"  memory: {subject.Name} holds at most {tunnels} idle tunnels within its descriptor limit; measured at {tunnels}");
            }

            double perTunnel = await Scenarios.MemoryPerTunnelAsync(subject, tunnels);
            Record($"Resident memory per idle tunnel ({tunnels} open)", "KB", name, perTunnel / 1024, higherIsBetter: false);
        }

        if (scenario == "udp" && subject.SupportsUdp)
        {
            foreach (int payload in new[] { 64, 1200 })
            {
                (double rate, long lost) = await Scenarios.UdpAsync(subject, payload, _settings.Datagrams);
                Record($"UDP round trips/s, {payload}-byte payload, window 16", "datagrams/s", name, rate, higherIsBetter: true);
                Record($"UDP datagrams lost of {_settings.Datagrams}, {payload}-byte payload", "lost", name, lost, higherIsBetter: false);
            }
        }
    }

    private void Record(string figure, string unit, string subject, double value, bool higherIsBetter)
    {
        if (!_figures.Exists(f => f.Name == figure))
        {
            _figures.Add(new Figure(figure, unit, higherIsBetter));
        }

        if (!_samples.TryGetValue((figure, subject), out List<double>? list))
        {
            _samples[(figure, subject)] = list = [];
        }

        list.Add(value);
        Console.Error.WriteLine($"  {figure}: {subject} {Format(value)} {unit}");
    }

    private double? Median(string figure, string subject)
    {
        if (!_samples.TryGetValue((figure, subject), out List<double>? list) || list.Count == 0)
        {
            return null;
        }

        double[] sorted = [.. list.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private string Report()
    {
        string sockeye = _subjects.FirstOrDefault(s => s.StartsWith("sockeye", StringComparison.Ordinal)) ?? "";
        string[] peers = [.. _subjects.Where(s => s != "direct" && !s.StartsWith("sockeye", StringComparison.Ordinal))];
        var table = new StringBuilder();
        table.Append("| Figure | Unit | ").AppendJoin(" | ", _subjects).Append(" | ").Append(sockeye).Append(" / direct | ").Append(sockeye).AppendLine(" / best peer |");
        table.Append("| --- | --- |").Append(string.Concat(Enumerable.Repeat(" ---: |", _subjects.Count + 2))).AppendLine();
        foreach (Figure figure in _figures)
        {
            table.Append("| ").Append(figure.Name).Append(" | ").Append(figure.Unit).Append(" |");
            foreach (string subject in _subjects)
            {
                double? value = Median(figure.Name, subject);
                table.Append(' ').Append(value is null ? "—" : Format(value.Value)).Append(" |");
            }

            double? mine = Median(figure.Name, sockeye);
            double? direct = Median(figure.Name, "direct");
            double?[] peerValues = [.. peers.Select(p => Median(figure.Name, p)).Where(v => v is not null)];
            double? bestPeer = peerValues.Length == 0 ? null : figure.HigherIsBetter ? peerValues.Max() : peerValues.Min();
            table.Append(' ').Append(Ratio(mine, direct)).Append(" |");
            table.Append(' ').Append(Ratio(mine, bestPeer)).AppendLine(" |");
        }

        return table.ToString();
    }

    private string Document(string? table, string? coldStart, string? releaseBuild)
    {
        var document = new StringBuilder();
        document.AppendLine("# Performance");
        document.AppendLine();
        document.AppendLine("This file is written by the load generator in `bench/Sockeye.Bench`; do not edit the table by hand. See");
        document.AppendLine("`bench/README.md` for the method and `docs/performance-notes.md` for the reading of the numbers");
        document.AppendLine("(the measurements behind it are in `docs/performance-journal.md`).");
        document.AppendLine();
        document.AppendLine("## Machine");
        document.AppendLine();
        document.AppendLine("```");
        document.AppendLine($"date:      {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        document.AppendLine($"cpus:      {Environment.ProcessorCount} ({CpuModel()})");
        document.AppendLine($"kernel:    {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}");
        document.AppendLine($"dotnet:    {Environment.Version}");
        document.AppendLine($"pinning:   {_settings.Pinning.Describe()}");
        int loops = _settings.Pinning.Pinned ? _settings.Pinning.ProxyCpus : _settings.Pinning.MachineCpus;
        document.AppendLine(CultureInfo.InvariantCulture, $"sockeye:   at most {loops} TCP and {loops} UDP event loop{(loops > 1 ? "s" : "")}, one of each per CPU it may run on");
        if (_settings.Hev is not null)
        {
            document.AppendLine(CultureInfo.InvariantCulture, $"hev:       workers: {_settings.Pinning.HevWorkers}");
        }

        document.AppendLine($"runs:      {_settings.Runs} per figure, median reported");
        document.AppendLine($"steal:     {StealPercent(_machineAtStart, ProcessStats.MachineTicks()):0.0} % of the CPUs' time went to other guests of the host during the bench");
        foreach ((string subject, List<double> steals) in _stealPercent)
        {
            document.AppendLine(CultureInfo.InvariantCulture, $"           {subject}: {string.Join(", ", steals.Select(s => s.ToString("0.0", CultureInfo.InvariantCulture)))} % in its runs");
        }

        document.AppendLine("```");
        document.AppendLine();
        document.AppendLine("Steal is time the hypervisor gave to other virtual machines while this one wanted to run: a run with much");
        document.AppendLine("more of it than the others measured a slower machine, and its figures are not comparable with theirs.");
        document.AppendLine();
        document.AppendLine("## Command");
        document.AppendLine();
        document.AppendLine("```sh");
        document.AppendLine("dotnet build -c Release src/Sockeye");
        if (_settings.AotBinary is not null)
        {
            document.AppendLine(ReleaseBuild.PublishCommand);
        }

        if (_settings.Builds.Count > 0)
        {
            document.AppendLine("# and the --builds, published as bench/README.md says");
        }

        document.Append("dotnet run -c Release --project bench/Sockeye.Bench --");
        foreach (string argument in _settings.CommandLine.Skip(1))
        {
            document.Append(' ').Append(argument);
        }

        document.AppendLine();
        document.AppendLine("```");
        if (table is not null)
        {
            document.AppendLine();
            document.AppendLine("## Results");
            document.AppendLine();
            document.Append(table);
        }

        if (_failures.Count > 0)
        {
            document.AppendLine();
            document.AppendLine("Scenarios that failed (their figures are missing or from the runs that completed):");
            document.AppendLine();
            foreach (string failure in _failures.Distinct())
            {
                document.Append("- ").AppendLine(failure);
            }
        }

        if (coldStart is not null)
        {
            document.AppendLine();
            document.Append(coldStart);
        }

        if (releaseBuild is not null)
        {
            document.AppendLine();
            document.Append(releaseBuild);
        }

        return document.ToString();
    }

    private static double StealPercent((long Total, long Steal) before, (long Total, long Steal) after) =>
        after.Total > before.Total ? 100.0 * (after.Steal - before.Steal) / (after.Total - before.Total) : 0;

    private static string CpuModel()
    {
        foreach (string line in File.ReadLines("/proc/cpuinfo"))
        {
            if (line.StartsWith("model name", StringComparison.Ordinal))
            {
                return line[(line.IndexOf(':') + 1)..].Trim();
            }
        }

        return "unknown";
    }

    private static string Ratio(double? value, double? reference) =>
        value is null || reference is null || reference == 0 ? "—" : (value.Value / reference.Value).ToString("0.00", CultureInfo.InvariantCulture) + "×";

    private static string Format(double value) => value switch
    {
        >= 1000 => value.ToString("#,0", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => value.ToString("0.00", CultureInfo.InvariantCulture),
    };

    private sealed record Figure(string Name, string Unit, bool HigherIsBetter);

    /// <summary>A column of the table, and how to start its server: with a user (RFC 1929 required) or without.</summary>
    internal sealed record Subject(string Name, Func<bool, Task<ProxyUnderTest>> Start);
}
