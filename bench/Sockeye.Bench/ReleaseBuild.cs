using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sockeye.Bench;

/// <summary>
/// The release-build figures of issue 5: the NativeAOT binary's size, and how long it and the JIT build take from
/// <c>exec</c> until their listener accepts a TCP connection.
/// </summary>
internal static class ReleaseBuild
{
    public const string PublishCommand = "dotnet publish src/Sockeye -c Release -r linux-x64 -p:PublishAot=true -o artifacts/aot";

    private const int Starts = 5;

    /// <summary>Measures the AOT binary and the JIT build; returns the Markdown section, or null with a reason printed.</summary>
    public static async Task<string?> MeasureAsync(string aotBinary, string jitBuild)
    {
        if (!File.Exists(aotBinary))
        {
            Console.Error.WriteLine($"{aotBinary} is missing: publish it first with `{PublishCommand}`.");
            return null;
        }

        long size = new FileInfo(aotBinary).Length;
        double aot = await MedianTimeToListenAsync(aotBinary, []);
        Console.Error.WriteLine($"  NativeAOT: {size:#,0} bytes, {aot:0.0} ms to listen (median of {Starts})");
        string jitCell = "—";
        string jitLabel = jitBuild.EndsWith(".dll", StringComparison.Ordinal)
            ? "`dotnet sockeye.dll` (JIT, framework-dependent)"
            : $"`{Path.GetFileName(jitBuild)}` from `--sockeye` ({(PublishedBuild.IsJitCompiled(jitBuild) ? "JIT, with its .dll beside it" : "no .dll beside it: not a JIT build")})";
        if (File.Exists(jitBuild))
        {
            bool managed = jitBuild.EndsWith(".dll", StringComparison.Ordinal);
            double jit = managed ? await MedianTimeToListenAsync("dotnet", [jitBuild]) : await MedianTimeToListenAsync(jitBuild, []);
            jitCell = jit.ToString("0", CultureInfo.InvariantCulture) + " ms";
            Console.Error.WriteLine($"  JIT build: {jit:0.0} ms to listen (median of {Starts})");
        }

        var section = new StringBuilder();
        section.AppendLine("## Release build");
        section.AppendLine();
        section.AppendLine("```sh");
        section.AppendLine(PublishCommand);
        section.AppendLine("```");
        section.AppendLine();
        section.AppendLine($"| Build | Size | Time to listen (median of {Starts}) |");
        section.AppendLine("| --- | ---: | ---: |");
        section.AppendLine(CultureInfo.InvariantCulture,
            $"| NativeAOT `sockeye` | {size / 1048576.0:0.0} MiB ({size:#,0} bytes) | {aot:0} ms |");
        section.AppendLine($"| {jitLabel} | — | {jitCell} |");
        section.AppendLine();
        section.AppendLine("Time to listen: from starting the process to the first TCP connect its listener accepts, polled every millisecond.");
        return section.ToString();
    }

    private static async Task<double> MedianTimeToListenAsync(string file, string[] arguments)
    {
        var samples = new List<double>(Starts);
        for (int i = 0; i < Starts; i++)
        {
            samples.Add(await TimeToListenAsync(file, arguments));
        }

        samples.Sort();
        return samples[Starts / 2];
    }

    private static async Task<double> TimeToListenAsync(string file, string[] arguments)
    {
        int port = ProxyUnderTest.FreePort();
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add("--listen");
        start.ArgumentList.Add($"127.0.0.1:{port}");
        start.ArgumentList.Add("--log-level");
        start.ArgumentList.Add("warning");

        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        var clock = Stopwatch.StartNew();
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            // A refused connect on loopback answers at once, so a 1 ms poll bounds the error of the figure.
            while (clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"{file} exited with code {process.ExitCode} before listening");
                }

                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    probe.Connect(endPoint);
                    return clock.Elapsed.TotalMilliseconds;
                }
                catch (SocketException)
                {
                    Thread.Sleep(1);
                }
            }

            throw new InvalidOperationException($"{file} did not listen on {endPoint} within 10 s");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }
}
