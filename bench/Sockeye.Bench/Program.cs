using System.CommandLine;
using System.Diagnostics;
using Sockeye.Bench;
using Sockeye.Bench.Soak;

// The Sockeye load generator: measures SOCKS5 servers against each other and against direct loopback, and writes the
// table to docs/performance.md. See bench/README.md.
if (args is [EchoProcess.Command])
{
    return await EchoProcess.ServeAsync();
}

var sockeyeOption = new Option<string?>("--sockeye") { Description = "sockeye executable or sockeye.dll. Default: src/Sockeye built in Release." };
var variantsOption = new Option<string>("--variants") { Description = "Sockeye builds and relay modes to measure, comma-separated: splice, copy, aot (the --aot binary, splice).", DefaultValueFactory = _ => "splice,copy" };
var compareOption = new Option<string>("--compare") { Description = "Other servers to measure: microsocks, dante (Debian packages).", DefaultValueFactory = _ => "" };
var scenariosOption = new Option<string>("--scenarios") { Description = "throughput,tunnels,latency,fixedload,memory,udp", DefaultValueFactory = _ => "throughput,tunnels,latency,fixedload,memory,udp" };
var pinOption = new Option<bool>("--pin") { Description = "Pin the proxy to CPU 0 and the generator to CPU 1." };
var runsOption = new Option<int>("--runs") { Description = "Runs per figure; the median is reported.", DefaultValueFactory = _ => 3 };
var gibOption = new Option<double>("--gib") { Description = "GiB moved per throughput run.", DefaultValueFactory = _ => 2.0 };
var durationOption = new Option<double>("--duration") { Description = "Seconds per tunnel-rate and fixed-load run.", DefaultValueFactory = _ => 5.0 };
var warmUpOption = new Option<double>("--warm-up") { Description = "Seconds of load a JIT-compiled Sockeye gets before anything is measured on it; 0 measures it cold.", DefaultValueFactory = _ => 15.0 };
var tunnelsOption = new Option<int>("--tunnels") { Description = "Open tunnels for the memory figure.", DefaultValueFactory = _ => 8800 };
var datagramsOption = new Option<int>("--datagrams") { Description = "Datagrams per UDP run.", DefaultValueFactory = _ => 100_000 };
var aotOption = new Option<string?>("--aot") { Description = "A NativeAOT-published sockeye binary: adds its size and time to listen (and the JIT build's) to the report, and is the binary of the aot variant." };
var outputOption = new Option<string?>("--output") { Description = "Markdown file to write the report to, e.g. docs/performance.md." };

var root = new RootCommand("Sockeye load generator")
{
    sockeyeOption, variantsOption, compareOption, scenariosOption, pinOption, runsOption, gibOption, durationOption, warmUpOption, tunnelsOption, datagramsOption, aotOption, outputOption,
};
root.SetAction(async (parse, _) =>
{
    var settings = new BenchSettings(
        parse.GetValue(sockeyeOption) ?? BenchSettings.DefaultSockeye(),
        Split(parse.GetValue(variantsOption)!),
        Split(parse.GetValue(compareOption)!),
        Split(parse.GetValue(scenariosOption)!),
        parse.GetValue(pinOption),
        parse.GetValue(runsOption),
        (long)(parse.GetValue(gibOption) * (1L << 30)),
        TimeSpan.FromSeconds(parse.GetValue(durationOption)),
        TimeSpan.FromSeconds(parse.GetValue(warmUpOption)),
        parse.GetValue(tunnelsOption),
        parse.GetValue(datagramsOption),
        parse.GetValue(aotOption),
        parse.GetValue(outputOption),
        Environment.GetCommandLineArgs());
    return await new Bench(settings).RunAsync();
});

var soakSockeyeOption = new Option<string?>("--sockeye") { Description = "sockeye executable or sockeye.dll. Default: src/Sockeye built in Release." };
var soakEngineOption = new Option<string?>("--engine") { Description = "The server's relay engine: linux or portable (SOCKEYE_RELAY__ENGINE). Default: the server's own (auto)." };
var soakDurationOption = new Option<double>("--duration") { Description = "Seconds of measured load.", DefaultValueFactory = _ => 600.0 };
var soakWarmUpOption = new Option<double>("--warm-up") { Description = "Seconds of load before the measured run; the proxy's resting descriptors after it are the start.", DefaultValueFactory = _ => 10.0 };
var soakWorkersOption = new Option<int>("--workers") { Description = "Concurrent clients.", DefaultValueFactory = _ => 32 };
var soakSampleOption = new Option<double>("--sample-interval") { Description = "Seconds between samples of the proxy's descriptors and memory.", DefaultValueFactory = _ => 10.0 };
var soakMaxTransferOption = new Option<int>("--max-transfer-kib") { Description = "The most KiB one direction of a transfer carries.", DefaultValueFactory = _ => 1024 };
var soakOperationLimitOption = new Option<double>("--operation-limit") { Description = "Seconds one operation may take before it counts as an error.", DefaultValueFactory = _ => 60.0 };
var soakSeedOption = new Option<int>("--seed") { Description = "Seeds the workers' choices.", DefaultValueFactory = _ => 22 };
var soakOutputOption = new Option<string?>("--output") { Description = "File to write the summary (markdown) to." };
var soak = new Command("soak", "Mixed CONNECT, BIND and UDP traffic with faults against a Sockeye process for a set time, every byte checked; exits non-zero on any loss, corruption, unexpected error, or leak.")
{
    soakSockeyeOption, soakEngineOption, soakDurationOption, soakWarmUpOption, soakWorkersOption, soakSampleOption, soakMaxTransferOption, soakOperationLimitOption, soakSeedOption, soakOutputOption,
};
soak.SetAction(async (parse, _) =>
{
    var settings = new SoakSettings(
        parse.GetValue(soakSockeyeOption) ?? BenchSettings.DefaultSockeye(),
        parse.GetValue(soakEngineOption),
        TimeSpan.FromSeconds(parse.GetValue(soakDurationOption)),
        TimeSpan.FromSeconds(parse.GetValue(soakWarmUpOption)),
        parse.GetValue(soakWorkersOption),
        TimeSpan.FromSeconds(parse.GetValue(soakSampleOption)),
        parse.GetValue(soakMaxTransferOption) * 1024L,
        TimeSpan.FromSeconds(parse.GetValue(soakOperationLimitOption)),
        parse.GetValue(soakSeedOption),
        parse.GetValue(soakOutputOption),
        Environment.GetCommandLineArgs());
    return await new Soak(settings).RunAsync();
});
root.Subcommands.Add(soak);

var gssapiSockeyeOption = new Option<string?>("--sockeye") { Description = "sockeye executable or sockeye.dll. Default: src/Sockeye built in Release." };
var gssapiPinOption = new Option<bool>("--pin") { Description = "Pin the proxy to CPU 0 and the generator (client, targets, KDC) to CPU 1." };
var gssapiRunsOption = new Option<int>("--runs") { Description = "Runs per figure; the median is reported.", DefaultValueFactory = _ => 3 };
var gssapiMibOption = new Option<int>("--mib") { Description = "MiB moved per throughput run.", DefaultValueFactory = _ => 512 };
var gssapiLoginsOption = new Option<double>("--logins-duration") { Description = "Seconds of logins per run.", DefaultValueFactory = _ => 3.0 };
var gssapiWarmUpOption = new Option<double>("--warm-up") { Description = "Seconds of logins and bulk at every level before anything is measured (the client runs on the JIT; so may the server).", DefaultValueFactory = _ => 15.0 };
var gssapiOutputOption = new Option<string?>("--output") { Description = "File to write the table (markdown) to." };
var gssapi = new Command("gssapi", "What each GSSAPI protection level (RFC 1961) costs: throughput and proxy CPU per GiB both ways, and logins a second, at none, integrity and confidentiality, against a KDC of its own.")
{
    gssapiSockeyeOption, gssapiPinOption, gssapiRunsOption, gssapiMibOption, gssapiLoginsOption, gssapiWarmUpOption, gssapiOutputOption,
};
gssapi.SetAction(async (parse, _) =>
{
    var settings = new GssapiBenchSettings(
        parse.GetValue(gssapiSockeyeOption) ?? BenchSettings.DefaultSockeye(),
        parse.GetValue(gssapiPinOption),
        parse.GetValue(gssapiRunsOption),
        parse.GetValue(gssapiMibOption) * (1L << 20),
        TimeSpan.FromSeconds(parse.GetValue(gssapiLoginsOption)),
        TimeSpan.FromSeconds(parse.GetValue(gssapiWarmUpOption)),
        parse.GetValue(gssapiOutputOption),
        Environment.GetCommandLineArgs());
    return await new GssapiBench(settings).RunAsync();
});
root.Subcommands.Add(gssapi);
return await root.Parse(args).InvokeAsync();

static string[] Split(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
