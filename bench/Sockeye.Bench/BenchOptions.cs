using System.CommandLine;

namespace Sockeye.Bench;

/// <summary>The load generator's command line (the root command; soak and gssapi are subcommands of their own).</summary>
internal sealed class BenchOptions
{
    private readonly Option<string?> _sockeye = new("--sockeye") { Description = "sockeye executable or sockeye.dll. Default: src/Sockeye built in Release." };
    private readonly Option<string> _variants = new("--variants") { Description = "Sockeye builds and relay modes to measure, comma-separated: splice, copy, aot (the --aot binary, splice), or a --builds name; each may take +suffixes (bench/README.md).", DefaultValueFactory = _ => "splice,copy" };
    private readonly Option<string> _compare = new("--compare") { Description = "Other servers to measure: microsocks, dante (Debian packages). hev-socks5-server is --hev.", DefaultValueFactory = _ => "" };
    private readonly Option<string> _scenarios = new("--scenarios") { Description = "throughput,tunnels,latency,fixedload,memory,udp; also warmup (not by default): fresh instances from a cold start.", DefaultValueFactory = _ => "throughput,tunnels,latency,fixedload,memory,udp" };
    private readonly Option<bool> _pin = new("--pin") { Description = "Pin the proxy to CPU 0 and the generator to the other CPUs: --proxy-cpus 1." };
    private readonly Option<int?> _proxyCpus = new("--proxy-cpus") { Description = "Pin the proxy to CPUs 0 to N-1 and the generator to the rest (unpinned when N is every CPU); hev gets N workers." };
    private readonly Option<int> _runs = new("--runs") { Description = "Runs per figure; the median is reported.", DefaultValueFactory = _ => 3 };
    private readonly Option<double> _gib = new("--gib") { Description = "GiB moved per throughput run.", DefaultValueFactory = _ => 2.0 };
    private readonly Option<double> _duration = new("--duration") { Description = "Seconds per tunnel-rate and fixed-load run.", DefaultValueFactory = _ => 5.0 };
    private readonly Option<double> _warmUp = new("--warm-up") { Description = "Seconds of load a JIT-compiled Sockeye gets before anything is measured on it; 0 measures it cold.", DefaultValueFactory = _ => 15.0 };
    private readonly Option<int> _tunnels = new("--tunnels") { Description = "Open tunnels for the memory figure.", DefaultValueFactory = _ => 8800 };
    private readonly Option<int> _datagrams = new("--datagrams") { Description = "Datagrams per UDP run.", DefaultValueFactory = _ => 100_000 };
    private readonly Option<string?> _aot = new("--aot") { Description = "A NativeAOT-published sockeye binary: adds its size and time to listen (and the JIT build's) to the report, and is the binary of the aot variant." };
    private readonly Option<string> _builds = new("--builds") { Description = "Published Sockeye builds to measure side by side, name=PATH[,name=PATH...]: an apphost or a sockeye.dll each; each is the column \"sockeye (name)\" in splice mode.", DefaultValueFactory = _ => "" };
    private readonly Option<int> _warmUpSeconds = new("--warmup-seconds") { Description = "Seconds of 16-worker tunnel loops the warmup scenario gives each fresh instance.", DefaultValueFactory = _ => 30 };
    private readonly Option<string?> _hev = new("--hev") { Description = "A built hev-socks5-server binary (bench/README.md): adds it as a column. Without it there is no hev column." };
    private readonly Option<string?> _output = new("--output") { Description = "Markdown file to write the report to, e.g. docs/performance.md." };

    public BenchOptions(int machineCpus)
    {
        MachineCpus = machineCpus;
        _builds.Validators.Add(result =>
        {
            if (PublishedBuild.TryParseList(result.GetValueOrDefault<string>() ?? "", out _) is string error)
            {
                result.AddError(error);
            }
        });
        _warmUpSeconds.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
            {
                result.AddError("--warmup-seconds must be at least 1");
            }
        });
        _proxyCpus.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is int proxyCpus && Pinning.Validate(proxyCpus, MachineCpus) is string error)
            {
                result.AddError(error);
            }
        });
    }

    /// <summary>The CPUs the bench may use: <see cref="Environment.ProcessorCount"/>, which respects its affinity.</summary>
    public int MachineCpus { get; }

    /// <summary>The root command with every option of the load generator, its action still to be set.</summary>
    public RootCommand CreateRootCommand() => new("Sockeye load generator")
    {
        _sockeye, _variants, _compare, _scenarios, _pin, _proxyCpus, _runs, _gib, _duration, _warmUp, _tunnels, _datagrams, _aot, _builds, _warmUpSeconds, _hev, _output,
    };

    /// <summary>The settings a parse without errors gives.</summary>
    public BenchSettings Read(ParseResult parse, string[] commandLine)
    {
        // --pin is --proxy-cpus 1; --proxy-cpus wins when both are given.
        int proxyCpus = parse.GetValue(_proxyCpus) ?? (parse.GetValue(_pin) ? 1 : 0);
        PublishedBuild.TryParseList(parse.GetValue(_builds)!, out List<PublishedBuild> builds);
        return new BenchSettings(
            parse.GetValue(_sockeye) ?? BenchSettings.DefaultSockeye(),
            Split(parse.GetValue(_variants)!),
            Split(parse.GetValue(_compare)!),
            Split(parse.GetValue(_scenarios)!),
            new Pinning(proxyCpus, MachineCpus),
            parse.GetValue(_runs),
            (long)(parse.GetValue(_gib) * (1L << 30)),
            TimeSpan.FromSeconds(parse.GetValue(_duration)),
            TimeSpan.FromSeconds(parse.GetValue(_warmUp)),
            parse.GetValue(_tunnels),
            parse.GetValue(_datagrams),
            parse.GetValue(_aot),
            builds,
            TimeSpan.FromSeconds(parse.GetValue(_warmUpSeconds)),
            parse.GetValue(_hev),
            parse.GetValue(_output),
            commandLine);
    }

    private static string[] Split(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
