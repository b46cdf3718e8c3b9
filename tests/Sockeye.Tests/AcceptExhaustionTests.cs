using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Sockeye.Tests.TestSupport;
using Xunit.Abstractions;

namespace Sockeye.Tests;

/// <summary>
/// accept(2) itself failing with EMFILE. The descriptor budget keeps the server's own sessions from getting there
/// (DescriptorExhaustionTests), so the limit is forced down from outside while the executable runs (prlimit --pid): below
/// the descriptors already open, so that no new one can be made, with a client waiting in the backlog. The accept loop
/// must neither spin nor stop: it retries once per backoff, logs once per interval with the count, and serves the waiting
/// client and new ones as soon as the limit is raised again. On both engines: the Linux engine's accept4 on its event loop,
/// and the portable engine's awaiting accept.
/// </summary>
public sealed partial class AcceptExhaustionTests
{
    private const int OpenFileLimit = 1100;

    // TransportListener.AcceptErrorBackoff and LogGate.DefaultInterval.
    private static readonly TimeSpan Backoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(10);

    private readonly ITestOutputHelper _output;

    public AcceptExhaustionTests(ITestOutputHelper output) => _output = output;

    [Theory]
    [InlineData("linux")]
    [InlineData("portable")]
    public async Task AcceptFailsWithEmfile_RetriesOncePerBackoff_LogsOncePerInterval_ServesAgainOnceTheLimitIsRaised(string engine)
    {
        Assert.True(File.Exists("/usr/bin/prlimit"), "prlimit (util-linux) is missing");

        // With no descriptor to be had, the runtime aborts the process ("Out of memory.") when it starts a thread, whoever
        // asks: tiered compilation starts its background worker again after each idle spell, the debugger's transport
        // thread retries its pipe, and the thread pool adds a worker when a work item waits (on a loaded machine) or when
        // hill climbing says so. Those are the runtime's own, not the accept loop's, so they are switched off; what the
        // server itself does while out of descriptors is what the test watches.
        var environment = new Dictionary<string, string>
        {
            ["DOTNET_TieredCompilation"] = "0",
            ["DOTNET_EnableDiagnostics"] = "0",
            ["DOTNET_ThreadPool_DisableStarvationDetection"] = "1",
            ["DOTNET_HillClimbing_Disable"] = "1",
            ["SOCKEYE_RELAY__ENGINE"] = engine,
        };
        await using SockeyeProcess sockeye = SockeyeProcess.Start(_output, ["--listen", "127.0.0.1:0"], environment, openFileLimit: OpenFileLimit);
        int port = await sockeye.WaitForListeningPortAsync();
        using var target = new TargetServer();
        await AssertTunnelAsync(port, target);
        await WaitForSteadyThreadsAsync(sockeye.Id);

        long cpuBefore = CpuTicks(sockeye.Id);
        var exhausted = Stopwatch.StartNew();
        await SetSoftLimitAsync(sockeye.Id, 3);
        Socket waiting = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            // The kernel completes the handshake; the connection waits in the backlog for an accept that cannot succeed.
            await waiting.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).DefaultTimeout();
            await Socks5Client.SendAsync(waiting, [0x05, 0x01, 0x00]);

            Match first = await sockeye.WaitForOutputAsync(FirstReport(), TestTimeouts.Default);
            Match second = await sockeye.WaitForOutputAsync(LaterReport(), ReportInterval + TestTimeouts.Default);
            double cpuSeconds = (CpuTicks(sockeye.Id) - cpuBefore) / (double)ClockTicksPerSecond();
            TimeSpan elapsed = exhausted.Elapsed;
            Assert.False(sockeye.HasExited, sockeye.Transcript);

            TimeSpan between = ReportTime(second) - ReportTime(first);
            long failures = long.Parse(second.Groups["count"].Value, CultureInfo.InvariantCulture);
            _output.WriteLine(FormattableString.Invariant(
                $"{failures} failed accepts in {between.TotalSeconds:F2} s between the reports ({failures / between.TotalSeconds:F1}/s); CPU {cpuSeconds:F2} s over {elapsed.TotalSeconds:F2} s exhausted"));

            // One line per interval: the second report waited out the interval, and counted every failure since the first.
            // The timestamps are taken when each line is formatted, after the gate let it through (the first one's stack
            // trace is formatted fresh, which has taken 11 ms on a loaded machine), so they may come a little closer than
            // the gate's own clock; a line per retry would be 50 ms apart.
            Assert.True(between >= ReportInterval - TimeSpan.FromSeconds(1), $"reports {between} apart");

            // At most one attempt per backoff (a spinning loop makes hundreds of thousands a second), and it goes on trying.
            Assert.InRange(failures, 10, (long)(between / Backoff) + 1);
            Assert.True(cpuSeconds < 0.5 * elapsed.TotalSeconds, $"{cpuSeconds:F2} s of CPU in {elapsed.TotalSeconds:F2} s");

            await SetSoftLimitAsync(sockeye.Id, OpenFileLimit);

            // The client that waited through it all is served, and so is a new one.
            Assert.Equal(new byte[] { 0x05, 0x00 }, await Socks5Client.ReceiveExactlyAsync(waiting, 2));
            await Socks5Client.SendAsync(waiting, [0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, (byte)(target.Port >> 8), (byte)target.Port]);
            Assert.Equal(0x00, (await Socks5Client.ReceiveExactlyAsync(waiting, 10))[1]);
            using (Socket upstream = await target.AcceptAsync())
            {
                await Socks5Client.AssertRelaysBothWaysAsync(waiting, upstream, "waited");
            }

            await AssertTunnelAsync(port, target);
            Assert.False(sockeye.HasExited, sockeye.Transcript);
        }
        finally
        {
            waiting.Dispose();
        }
    }

    private static async Task AssertTunnelAsync(int port, TargetServer target)
    {
        using Socket client = await Socks5Client.ConnectAsync(port, credentials: null, target.Port);
        using Socket upstream = await target.AcceptAsync();
        await Socks5Client.AssertRelaysBothWaysAsync(client, upstream, "tunnel");
    }

    /// <summary>
    /// Waits (bounded) until the process has started no thread and ended none for two seconds: the thread pool grows
    /// after the first tunnel, and a thread started with no descriptor to be had aborts the process.
    /// </summary>
    private static async Task WaitForSteadyThreadsAsync(int pid)
    {
        int steady = 0;
        int last = -1;
        for (int i = 0; i < 60 && steady < 8; i++)
        {
            await Task.Delay(250);
            int threads = Directory.GetDirectories($"/proc/{pid}/task").Length;
            steady = threads == last ? steady + 1 : 0;
            last = threads;
        }
    }

    /// <summary>Sets the soft open-file limit of <paramref name="pid"/>, keeping the hard one (which only root may raise).</summary>
    private static async Task SetSoftLimitAsync(int pid, int soft)
    {
        var startInfo = new ProcessStartInfo("/usr/bin/prlimit") { UseShellExecute = false, RedirectStandardError = true };
        startInfo.ArgumentList.Add(FormattableString.Invariant($"--pid={pid}"));
        startInfo.ArgumentList.Add(FormattableString.Invariant($"--nofile={soft}:{OpenFileLimit}"));
        using Process prlimit = Process.Start(startInfo)!;
        string error = await prlimit.StandardError.ReadToEndAsync();
        await prlimit.WaitForExitAsync().WaitAsync(TestTimeouts.Default);
        Assert.True(prlimit.ExitCode == 0, error);
    }

    /// <summary>User and system CPU time of <paramref name="pid"/>, in clock ticks (proc(5): fields 14 and 15 of stat).</summary>
    private static long CpuTicks(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");

        // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    private static long ClockTicksPerSecond() => NativeMethods.SysConf(NativeMethods.ScClkTck);

    private static DateTimeOffset ReportTime(Match report) =>
        DateTimeOffset.Parse(report.Groups["time"].Value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    [GeneratedRegex(@"^(?<time>\S+) warn: Sockeye\.Server\[1002\] Accept failed on 127\.0\.0\.1:\d+ \((?<count>1) time\(s\) since the last report\)")]
    private static partial Regex FirstReport();

    [GeneratedRegex(@"^(?<time>\S+) warn: Sockeye\.Server\[1002\] Accept failed on 127\.0\.0\.1:\d+ \((?<count>[2-9]|[1-9]\d+) time\(s\) since the last report\)")]
    private static partial Regex LaterReport();

    private static class NativeMethods
    {
        public const int ScClkTck = 2;

        [DllImport("libc", EntryPoint = "sysconf", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern long SysConf(int name);
    }
}
