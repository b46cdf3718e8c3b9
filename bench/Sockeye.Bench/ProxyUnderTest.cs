using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>
/// One thing to measure: a SOCKS5 server started as a child process (pinned to a core when asked), or "direct" — no
/// proxy at all, the loopback limit every figure is compared with.
/// </summary>
internal sealed class ProxyUnderTest : IAsyncDisposable
{
    private const int OutputLinesKept = 40;

    private readonly string? _configDirectory;
    private readonly Queue<string> _lastOutput;

    private ProxyUnderTest(string name, IPEndPoint? endPoint, Process? process, bool supportsUdp, bool supportsUser, string? configDirectory = null,
        Queue<string>? lastOutput = null)
    {
        Name = name;
        EndPoint = endPoint;
        Process = process;
        SupportsUdp = supportsUdp;
        SupportsUser = supportsUser;
        _configDirectory = configDirectory;
        _lastOutput = lastOutput ?? new Queue<string>();
    }

    public const string User = "alice";
    public const string Password = "secret";

    public string Name { get; }

    /// <summary>The proxy's endpoint, or <see langword="null"/> for direct connections.</summary>
    public IPEndPoint? EndPoint { get; }

    public Process? Process { get; }

    public bool SupportsUdp { get; }

    public bool SupportsUser { get; }

    public bool IsDirect => EndPoint is null;

    /// <summary>
    /// The most idle tunnels the server can hold within its descriptor limit, when that is fewer than the memory figure
    /// may ask for (<see langword="null"/>: no such limit the bench knows of). Only hev has one: <see cref="HevMaxIdleTunnels"/>.
    /// </summary>
    public int? MaxIdleTunnels { get; private set; }

    /// <summary>
    /// Whether the server runs on the JIT (a sockeye.dll, or an apphost with one beside it:
    /// <see cref="PublishedBuild.IsJitCompiled"/>): it then needs <see cref="BenchSettings.JitWarmUp"/> of load before
    /// its code is fully optimised, which pinned to one busy core takes the runtime 10–20 s.
    /// </summary>
    public bool JitCompiled { get; private set; }

    /// <summary>
    /// From starting the process (through its shell and <c>taskset</c>) to the first TCP connect its listener accepted,
    /// polled every millisecond or so; zero for direct.
    /// </summary>
    public TimeSpan TimeToListen { get; private init; }

    public static ProxyUnderTest Direct() => new("direct", null, null, supportsUdp: true, supportsUser: false);

    public double CpuSeconds() => Process is null ? 0 : ProcessStats.CpuSeconds(Process.Id);

    /// <summary><see cref="CpuSeconds"/> and its user-space part, read together (<see cref="ProcessStats.CpuTimes"/>).</summary>
    public (double Total, double User) CpuTimes() => Process is null ? (0, 0) : ProcessStats.CpuTimes(Process.Id);

    public long ResidentBytes() => Process is null ? 0 : ProcessStats.ResidentBytes(Process.Id);

    /// <summary>
    /// Why the server is gone, if it is: its exit code and the last lines it wrote (a crash's stack trace), for the
    /// report; <see langword="null"/> while it runs. A scenario that fails with "connection refused" is explained here.
    /// </summary>
    public string? ExitReport()
    {
        if (Process is null || !Process.HasExited)
        {
            return null;
        }

        lock (_lastOutput)
        {
            return $"{Name} exited with code {Process.ExitCode}" + (_lastOutput.Count == 0 ? "" : ": " + string.Join(" | ", _lastOutput));
        }
    }

    /// <summary>Starts sockeye (a published binary or a sockeye.dll) with a user when <paramref name="withUser"/>.</summary>
    public static async Task<ProxyUnderTest> StartSockeyeAsync(string name, string sockeye, string? cpus, bool withUser, IReadOnlyDictionary<string, string> environment)
    {
        int port = FreePort();
        var arguments = new List<string> { "--listen", $"127.0.0.1:{port}", "--log-level", "warning", "--idle-timeout", "0" };
        if (withUser)
        {
            arguments.AddRange(["--user", $"{User}:{Password}"]);
        }

        bool managed = sockeye.EndsWith(".dll", StringComparison.Ordinal);
        if (managed)
        {
            arguments.Insert(0, sockeye);
        }

        ProxyUnderTest started = await StartAsync(name, port, cpus, managed ? "dotnet" : sockeye, arguments, supportsUdp: true, supportsUser: withUser, environment: environment);
        started.JitCompiled = PublishedBuild.IsJitCompiled(sockeye);
        return started;
    }

    public static Task<ProxyUnderTest> StartMicrosocksAsync(string? cpus, bool withUser)
    {
        int port = FreePort();
        var arguments = new List<string> { "-i", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture) };
        if (withUser)
        {
            arguments.AddRange(["-u", User, "-P", Password]);
        }

        return StartAsync(withUser ? "microsocks+user" : "microsocks", port, cpus, "microsocks", arguments, supportsUdp: false, supportsUser: withUser);
    }

    public static Task<ProxyUnderTest> StartDanteAsync(string? cpus)
    {
        int port = FreePort();
        string directory = Directory.CreateTempSubdirectory("sockeye-bench-dante-").FullName;
        string config = Path.Combine(directory, "sockd.conf");
        File.WriteAllText(config, $$"""
            logoutput: stderr
            internal: 127.0.0.1 port = {{port}}
            external: 127.0.0.1
            clientmethod: none
            socksmethod: none
            user.privileged: root
            user.unprivileged: nobody
            client pass { from: 127.0.0.0/8 to: 127.0.0.0/8 }
            socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 command: connect bind bindreply udpassociate udpreply }
            """);
        return StartAsync("dante", port, cpus, "/usr/sbin/danted", ["-f", config, "-N", "1"], supportsUdp: true, supportsUser: false, directory);
    }

    /// <summary>
    /// Starts hev-socks5-server (<paramref name="binary"/>, built from its source: bench/README.md) with
    /// <paramref name="workers"/> threads, UDP on, and RFC 1929 required when <paramref name="withUser"/>.
    /// </summary>
    public static async Task<ProxyUnderTest> StartHevAsync(string binary, string? cpus, int workers, bool withUser)
    {
        int port = FreePort();
        string directory = Directory.CreateTempSubdirectory("sockeye-bench-hev-").FullName;
        string config = Path.Combine(directory, "hev.yml");
        File.WriteAllText(config, HevConfig(port, workers, withUser));
        ProxyUnderTest started = await StartAsync(withUser ? "hev+user" : "hev", port, cpus, binary, [config], supportsUdp: true, supportsUser: withUser, directory);
        started.MaxIdleTunnels = HevMaxIdleTunnels;
        return started;
    }

    /// <summary>
    /// hev's descriptor limit (<c>misc: limit-nofile</c>): this machine's hard limit, which every server gets. hev sets its
    /// soft and hard limit to this value, so a larger one (its README's example is 65535) fails without CAP_SYS_RESOURCE,
    /// which even root lacks here, and leaves it at the 20 000 the shell gave it.
    /// </summary>
    public const int HevLimitNofile = 20000;

    /// <summary>
    /// Descriptors hev holds per open CONNECT tunnel: the client's socket, the destination's, and two pipes (four
    /// descriptors) for its splice relay, one each way, made when the session starts relaying and kept until it ends
    /// (hev-task-system's <c>hev_task_io_splice</c>, <c>pipe2</c> in <c>task_io_splicer_init</c>). No setting in its
    /// YAML changes that; only a build with <c>ENABLE_IO_SPLICE_SYSCALL=0</c> (a copy relay through two 8 KiB buffers,
    /// "for old Linux kernel") would, and that is not the hev the other figures measure.
    /// </summary>
    public const int HevDescriptorsPerTunnel = 6;

    /// <summary>
    /// The idle tunnels hev is given for the memory figure: 6 × 3 300 = 19 800 descriptors, 200 left for its listeners,
    /// epoll, logs and stdio (14 at start). At 3 331 tunnels it reaches 20 000, its accept(2) then fails with EMFILE and
    /// its worker retries at once, forever, at full CPU (hev-socks5-worker.c: <c>LOG_E ("socks5 proxy accept"); continue;</c>),
    /// so the next tunnel stalls and the ones it half opened are reset: 8 800 cannot fit.
    /// </summary>
    public const int HevMaxIdleTunnels = (HevLimitNofile - 200) / HevDescriptorsPerTunnel;

    /// <summary>
    /// hev-socks5-server's YAML for the bench: <paramref name="workers"/> threads, TCP and UDP on loopback (its UDP
    /// relay on a port the OS picks), errors to stderr (kept for <see cref="ExitReport"/>), the descriptor limit the
    /// other servers get, and with <paramref name="withUser"/> an <c>auth</c> section, which makes it require RFC 1929.
    /// </summary>
    public static string HevConfig(int port, int workers, bool withUser)
    {
        string yaml = string.Create(CultureInfo.InvariantCulture, $"""
            main:
              workers: {workers}
              port: {port}
              listen-address: '127.0.0.1'
              udp-listen-address: '127.0.0.1'
            misc:
              log-file: stderr
              log-level: error
              limit-nofile: {HevLimitNofile}

            """);
        return withUser
            ? yaml + $"""
                auth:
                  username: {User}
                  password: {Password}

                """
            : yaml;
    }

    private static async Task<ProxyUnderTest> StartAsync(
        string name, int port, string? cpus, string file, IList<string> arguments, bool supportsUdp, bool supportsUser,
        string? directory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        // Through a shell: the descriptor limit raised to the hard limit for servers that do not raise it themselves,
        // and taskset so that every thread and child process the server makes stays on its cores.
        string command = string.Join(' ', arguments.Select(Quote).Prepend(Quote(file)));
        if (cpus is not null)
        {
            command = $"taskset -c {cpus} {command}";
        }

        var start = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"ulimit -n $(ulimit -H -n); exec {command}");
        foreach (KeyValuePair<string, string> variable in environment ?? new Dictionary<string, string>())
        {
            start.Environment[variable.Key] = variable.Value;
        }

        var clock = Stopwatch.StartNew();
        Process process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var lastOutput = new Queue<string>();
        DataReceivedEventHandler keep = (_, line) =>
        {
            if (string.IsNullOrWhiteSpace(line.Data))
            {
                return;
            }

            lock (lastOutput)
            {
                lastOutput.Enqueue(line.Data.Trim());
                if (lastOutput.Count > OutputLinesKept)
                {
                    lastOutput.Dequeue();
                }
            }
        };
        process.OutputDataReceived += keep;
        process.ErrorDataReceived += keep;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        // A refused connect on loopback answers at once, so polling every millisecond bounds the error of TimeToListen.
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{name} exited with code {process.ExitCode} at start: {command}");
            }

            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(endPoint).WaitAsync(TimeSpan.FromSeconds(1));
                return new ProxyUnderTest(name, endPoint, process, supportsUdp, supportsUser, directory, lastOutput) { TimeToListen = clock.Elapsed };
            }
            catch (Exception e) when (e is SocketException or TimeoutException)
            {
                await Task.Delay(1);
            }
        }

        process.Kill(entireProcessTree: true);
        throw new InvalidOperationException($"{name} did not listen on {endPoint} within 10 s");
    }

    private static string Quote(string argument) => "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    public static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (Process is not null)
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }

            Process.Dispose();
        }

        if (_configDirectory is not null)
        {
            Directory.Delete(_configDirectory, recursive: true);
        }
    }
}
